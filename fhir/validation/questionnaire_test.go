package validation

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
)

const questionnaireDir = "testdata/questionnaires"

func readQuestionnaireFixture(t *testing.T, name string) *fhir.Resource {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(questionnaireDir, name))
	if err != nil {
		t.Fatal(err)
	}
	res, err := fhir.Parse(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res
}

func questionnaireValidator(t *testing.T) *Validator {
	t.Helper()
	store := NewCanonicalStore()
	if err := store.Add(readQuestionnaireFixture(t, "questionnaire.json")); err != nil {
		t.Fatal(err)
	}
	v, err := NewWith(definitions.R4(), Options{Resources: store})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// wantIssue is an expected issue: its severity and a fragment of its message.
type wantIssue struct{ severity, text string }

// checkIssues reports a missing expected issue and any error or warning not expected, bar
// dom-6 (the fixtures carry no narrative).
func checkIssues(t *testing.T, got []fhir.Issue, want []wantIssue) {
	t.Helper()
	used := make([]bool, len(got))
	for _, w := range want {
		found := false
		for i, is := range got {
			if !used[i] && is.Severity == w.severity && strings.Contains(is.Diagnostics, w.text) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("missing %s issue containing %q", w.severity, w.text)
		}
	}
	for i, is := range got {
		if strings.HasPrefix(is.Diagnostics, "Constraint failed: dom-6:") {
			continue
		}
		if !used[i] && (is.Severity == fhir.SeverityError || is.Severity == fhir.SeverityWarning) {
			t.Errorf("unexpected %s at %v: %s", is.Severity, is.Expression, is.Diagnostics)
		}
	}
}

func TestQuestionnaireResponse(t *testing.T) {
	v := questionnaireValidator(t)
	tests := []struct {
		file string
		want []wantIssue
	}{
		{"valid.json", nil},
		{"contained.json", nil},
		{"wrong-linkid.json", []wantIssue{{"error", "LinkId 'height' not found in questionnaire"}}},
		{"wrong-nesting.json", []wantIssue{
			{"error", "LinkId 'phone' is not allowed at this level"},
			{"error", "No response answer found for required item 'phone'"},
		}},
		{"wrong-type.json", []wantIssue{{"error", "Answer value must be of the type integer not string (linkId 'age')"}}},
		{"missing-required.json", []wantIssue{{"error", "No response answer found for required item 'smoker'"}}},
		{"missing-required-in-progress.json", []wantIssue{{"warning", "No response answer found for required item 'smoker'"}}},
		{"disabled-answered.json", []wantIssue{{"error", "Item has answer, even though it is not enabled (item id = 'cigarettes')"}}},
		{"disabled-unanswered.json", nil},
		{"repeats.json", []wantIssue{{"error", "Only one answer is allowed for item 'name'"}}},
		{"answer-option.json", []wantIssue{{"error", "The code http://example.org/colours::blue is not in the set of permitted values of item 'colour'"}}},
		{"min-max.json", []wantIssue{
			{"error", "The value 130 of item 'age' is greater than the allowed maximum of 120"},
			{"error", "The value 61.25 of item 'weight' has too many decimal places (limit = 1)"},
			{"error", "The answer 'A' to item 'name' is shorter than the required minimum length of 2"},
		}},
		{"display-answered.json", []wantIssue{{"error", "Items of type 'display' cannot have answers (linkId 'note')"}}},
		{"text-mismatch.json", []wantIssue{{"warning", "must match the questionnaire definition for linkId 'name'"}}},
		{"unresolved.json", []wantIssue{
			{"warning", "The questionnaire 'http://example.org/fhir/Questionnaire/unknown' could not be resolved"},
			{"information", "A definition could not be found for Canonical URL"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			checkIssues(t, v.Validate(readQuestionnaireFixture(t, tt.file)), tt.want)
		})
	}
}

// qrWith builds a response to a one-item questionnaire: item is the Questionnaire item's
// JSON, answers the response item's answer array.
func qrWith(t *testing.T, item, answers string) (*Validator, *fhir.Resource) {
	t.Helper()
	q, err := fhir.Parse([]byte(`{"resourceType":"Questionnaire","url":"http://example.org/q","status":"active","item":[` + item + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	store := NewCanonicalStore()
	if err := store.Add(q); err != nil {
		t.Fatal(err)
	}
	v, err := NewWith(definitions.R4(), Options{Resources: store})
	if err != nil {
		t.Fatal(err)
	}
	qr, err := fhir.Parse([]byte(`{"resourceType":"QuestionnaireResponse","questionnaire":"http://example.org/q","status":"completed","item":[{"linkId":"q1","answer":` + answers + `}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return v, qr
}

func TestQuestionnaireAnswers(t *testing.T) {
	ext := func(url, value string) string { return `{"url":"` + url + `",` + value + `}` }
	tests := []struct {
		name, item, answers string
		want                []wantIssue
	}{
		{"open-choice takes free text", `{"linkId":"q1","type":"open-choice","answerOption":[{"valueCoding":{"code":"a"}}]}`,
			`[{"valueString":"something else"}]`, nil},
		{"choice string not an option", `{"linkId":"q1","type":"choice","answerOption":[{"valueString":"a"},{"valueString":"b"}]}`,
			`[{"valueString":"c"}]`, []wantIssue{{"error", "The string c is not in the set of permitted values of item 'q1'"}}},
		{"choice string against coding options", `{"linkId":"q1","type":"choice","answerOption":[{"valueCoding":{"code":"a"}}]}`,
			`[{"valueString":"a"}]`, []wantIssue{{"error", "Option list of item 'q1' has no option values of type string"}}},
		{"date range", `{"linkId":"q1","type":"date","repeats":true,"extension":[` + ext(extMinValue, `"valueDate":"2020-01-01"`) + `]}`,
			`[{"valueDate":"2019-12-31"},{"valueDate":"2020-01-01"}]`, []wantIssue{{"error", "The value 2019-12-31 of item 'q1' is less than the allowed minimum of 2020-01-01"}}},
		{"regex", `{"linkId":"q1","type":"string","extension":[` + ext(extRegex, `"valueString":"[0-9]+"`) + `]}`,
			`[{"valueString":"12a"}]`, []wantIssue{{"error", "does not conform to the expected format"}}},
		{"exclusive option", `{"linkId":"q1","type":"choice","repeats":true,"answerOption":[{"valueCoding":{"code":"a"}},{"valueCoding":{"code":"none"},"extension":[` + ext(extOptionExclusive, `"valueBoolean":true`) + `]}]}`,
			`[{"valueCoding":{"code":"a"}},{"valueCoding":{"code":"none"}}]`, []wantIssue{{"error", "is an exclusive option of item 'q1'"}}},
		{"reference target type", `{"linkId":"q1","type":"reference","extension":[` + ext(extReferenceRes, `"valueCode":"Patient"`) + `]}`,
			`[{"valueReference":{"reference":"Practitioner/1"}}]`, []wantIssue{{"error", "The resource type 'Practitioner' in the reference Practitioner/1 is not allowed for item 'q1'"}}},
		{"attachment size and type", `{"linkId":"q1","type":"attachment","extension":[` + ext(extMaxSize, `"valueDecimal":2`) + `,` + ext(extMimeType, `"valueCode":"image/png"`) + `]}`,
			`[{"valueAttachment":{"contentType":"text/plain","data":"YWJj"}}]`, []wantIssue{
				{"error", "The attachment for item 'q1' is too large (allowed = 2, found = 3)"},
				{"error", "The mime type text/plain is not valid for the answer to item 'q1'"}}},
		{"quantity converts units", `{"linkId":"q1","type":"quantity","extension":[` + ext(extMaxQuantity, `"valueQuantity":{"value":2,"system":"http://unitsofmeasure.org","code":"km"}`) + `]}`,
			`[{"valueQuantity":{"value":2500,"system":"http://unitsofmeasure.org","code":"m"}}]`, []wantIssue{{"error", "is greater than the allowed maximum of 2 "}}},
		{"quantity within range", `{"linkId":"q1","type":"quantity","extension":[` + ext(extMaxQuantity, `"valueQuantity":{"value":2,"system":"http://unitsofmeasure.org","code":"km"}`) + `]}`,
			`[{"valueQuantity":{"value":1500,"system":"http://unitsofmeasure.org","code":"m"}}]`, nil},
		{"group answered", `{"linkId":"q1","type":"group","item":[{"linkId":"q2","type":"string"}]}`,
			`[{"valueString":"x"}]`, []wantIssue{{"error", "Items of type group should not have answers (linkId 'q1')"}}},
		{"max occurs", `{"linkId":"q1","type":"string","repeats":true,"extension":[` + ext(extMaxOccurs, `"valueInteger":1`) + `]}`,
			`[{"valueString":"a"},{"valueString":"b"}]`, []wantIssue{{"error", "The maximum number of answers for item 'q1' is 1 but this has 2 answers"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, qr := qrWith(t, tt.item, tt.answers)
			checkIssues(t, v.Validate(qr), tt.want)
		})
	}
}

func TestEnableWhenOperators(t *testing.T) {
	q := `{"resourceType":"Questionnaire","url":"http://example.org/ew","status":"active","item":[
		{"linkId":"n","type":"integer"},
		{"linkId":"c","type":"choice","answerOption":[{"valueCoding":{"system":"s","code":"y"}},{"valueCoding":{"system":"s","code":"n"}}]},
		{"linkId":"t","type":"string","enableWhen":[%s]%s}]}`
	tests := []struct {
		name, conds, behaviour string
		enabled                bool
	}{
		{"exists true", `{"question":"n","operator":"exists","answerBoolean":true}`, "", true},
		{"exists false", `{"question":"n","operator":"exists","answerBoolean":false}`, "", false},
		{"equal", `{"question":"n","operator":"=","answerInteger":5}`, "", true},
		{"not equal", `{"question":"n","operator":"!=","answerInteger":5}`, "", false},
		{"greater", `{"question":"n","operator":">","answerInteger":4}`, "", true},
		{"less or equal", `{"question":"n","operator":"<=","answerInteger":4}`, "", false},
		{"coding", `{"question":"c","operator":"=","answerCoding":{"system":"s","code":"y"}}`, "", true},
		{"all", `{"question":"n","operator":">=","answerInteger":5},{"question":"c","operator":"=","answerCoding":{"system":"s","code":"n"}}`, `,"enableBehavior":"all"`, false},
		{"any", `{"question":"n","operator":"<","answerInteger":5},{"question":"c","operator":"=","answerCoding":{"system":"s","code":"y"}}`, `,"enableBehavior":"any"`, true},
		{"unanswered question", `{"question":"missing","operator":"=","answerInteger":5}`, "", false},
	}
	qr := []byte(`{"resourceType":"QuestionnaireResponse","questionnaire":"http://example.org/ew","status":"completed","item":[
		{"linkId":"n","answer":[{"valueInteger":5}]},
		{"linkId":"c","answer":[{"valueCoding":{"system":"s","code":"y"}}]},
		{"linkId":"t","answer":[{"valueString":"x"}]}]}`)
	res, err := fhir.Parse(qr)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			qn, err := fhir.Parse([]byte(fmt.Sprintf(q, tt.conds, tt.behaviour)))
			if err != nil {
				t.Fatal(err)
			}
			c := &qrCheck{qr: res.Root, answers: map[string][]*fhir.Node{}}
			c.collectAnswers(res.Root)
			items := qn.Root.Child("item")
			if got := c.enabled(items[len(items)-1]); got != tt.enabled {
				t.Errorf("enabled = %v, want %v", got, tt.enabled)
			}
		})
	}
}

func TestQuestionnaireEnableWhenTargets(t *testing.T) {
	v, err := New(definitions.R4())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, items string
		want        []wantIssue
	}{
		{"earlier target", `{"linkId":"a","type":"boolean"},{"linkId":"b","type":"string","enableWhen":[{"question":"a","operator":"exists","answerBoolean":true}]}`, nil},
		{"inner target", `{"linkId":"a","type":"group","enableWhen":[{"question":"a.1","operator":"exists","answerBoolean":true}],"item":[{"linkId":"a.1","type":"boolean"}]}`,
			[]wantIssue{{"error", "Questions with an enableWhen cannot refer to an inner question for its enableWhen condition (item 'a' refers to 'a.1')"}}},
		{"later target", `{"linkId":"b","type":"string","enableWhen":[{"question":"a","operator":"exists","answerBoolean":true}]},{"linkId":"a","type":"boolean"}`,
			[]wantIssue{{"warning", "comes after the question itself"}}},
		{"unknown target", `{"linkId":"b","type":"string","enableWhen":[{"question":"zz","operator":"exists","answerBoolean":true}]}`,
			[]wantIssue{{"error", "Unable to find the target of the enableWhen rule of item 'b' ('zz')"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := fhir.Parse([]byte(`{"resourceType":"Questionnaire","status":"active","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">q</div>"},"item":[` + tt.items + `]}`))
			if err != nil {
				t.Fatal(err)
			}
			checkIssues(t, v.Validate(res), tt.want)
		})
	}
}

// A response inside a Bundle is checked against its questionnaire too.
func TestQuestionnaireResponseInBundle(t *testing.T) {
	v := questionnaireValidator(t)
	data, err := os.ReadFile(filepath.Join(questionnaireDir, "wrong-linkid.json"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := fhir.Parse([]byte(`{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:3b7e8d2c-1f2a-4c57-9a52-0f4e7d1b9c11","resource":` + string(data) + `}]}`))
	if err != nil {
		t.Fatal(err)
	}
	checkIssues(t, v.Validate(b), []wantIssue{{"error", "LinkId 'height' not found in questionnaire"}})
}

func TestCanonicalStore(t *testing.T) {
	s := NewCanonicalStore()
	mk := func(version string) *fhir.Resource {
		res, err := fhir.Parse([]byte(`{"resourceType":"Questionnaire","id":"x","url":"http://example.org/fhir/Questionnaire/x","version":"` + version + `","status":"active"}`))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	var wg sync.WaitGroup
	for _, ver := range []string{"1", "2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Add(mk(ver)); err != nil {
				t.Error(err)
			}
			_ = s.Resolve("http://example.org/fhir/Questionnaire/x")
		}()
	}
	wg.Wait()
	if err := s.Add(mk("2")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		canonical, version string
	}{
		{"http://example.org/fhir/Questionnaire/x|1", "1"},
		{"http://example.org/fhir/Questionnaire/x|2", "2"},
		{"http://example.org/fhir/Questionnaire/x", "2"}, // the one added last
		{"Questionnaire/x", "2"},                         // relative to a server base
		{"http://example.org/fhir/Questionnaire/x|3", ""},
		{"http://example.org/fhir/Questionnaire/y", ""},
	}
	for _, tt := range tests {
		got := s.Resolve(tt.canonical)
		switch {
		case got == nil && tt.version != "":
			t.Errorf("%s: not found", tt.canonical)
		case got != nil && got.Root.Text("version") != tt.version:
			t.Errorf("%s: version %q, want %q", tt.canonical, got.Root.Text("version"), tt.version)
		}
	}
	if err := s.Add(&fhir.Resource{Type: "Patient", Root: &fhir.Node{Type: "Patient"}}); err == nil {
		t.Error("a resource without a url was accepted")
	}
}

// Each repetition of a group is enabled on its own answers.
func TestEnableWhenRepeatingGroup(t *testing.T) {
	q, err := fhir.Parse([]byte(`{"resourceType":"Questionnaire","url":"http://example.org/g","status":"active","item":[
		{"linkId":"g","type":"group","repeats":true,"item":[
			{"linkId":"has","type":"boolean"},
			{"linkId":"detail","type":"string","enableWhen":[{"question":"has","operator":"=","answerBoolean":true}]}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	store := NewCanonicalStore()
	if err := store.Add(q); err != nil {
		t.Fatal(err)
	}
	v, err := NewWith(definitions.R4(), Options{Resources: store})
	if err != nil {
		t.Fatal(err)
	}
	qr, err := fhir.Parse([]byte(`{"resourceType":"QuestionnaireResponse","questionnaire":"http://example.org/g","status":"completed","item":[
		{"linkId":"g","item":[{"linkId":"has","answer":[{"valueBoolean":true}]},{"linkId":"detail","answer":[{"valueString":"a"}]}]},
		{"linkId":"g","item":[{"linkId":"has","answer":[{"valueBoolean":false}]},{"linkId":"detail","answer":[{"valueString":"b"}]}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	issues := v.Validate(qr)
	checkIssues(t, issues, []wantIssue{{"error", "Item has answer, even though it is not enabled (item id = 'detail')"}})
	for _, is := range issues {
		if is.Severity == fhir.SeverityError && is.Expression[0] != "QuestionnaireResponse.item[1].item[1]" {
			t.Errorf("error at %v, want the second repetition", is.Expression)
		}
	}
}
