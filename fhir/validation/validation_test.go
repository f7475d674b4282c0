package validation

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/fhir/fhirpath"
)

var testValidator = sync.OnceValues(func() (*Validator, error) { return New(definitions.R4()) })

func validator(t *testing.T) *Validator {
	t.Helper()
	v, err := testValidator()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestValidate(t *testing.T) {
	const narrative = `"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}`
	type want = issueWant
	tests := []struct {
		name string
		json string
		want []want // exactly these issues, in order
	}{
		{"valid patient", `{"resourceType":"Patient",` + narrative + `,"name":[{"family":"Chalmers","given":["Peter","James"]}]}`, nil},
		{"missing required element", `{"resourceType":"Observation",` + narrative + `,"code":{"text":"x"}}`,
			[]want{{"error", "required", "Observation.status", "minimum required = 1"}}},
		{"required element of a backbone element", `{"resourceType":"Patient",` + narrative + `,"link":[{"type":"seealso"}]}`,
			[]want{{"error", "required", "Patient.link[0].other", "minimum required = 1"}}},
		{"required element of a data type", `{"resourceType":"Patient",` + narrative + `,"identifier":[{"system":"urn:x","assigner":{"identifier":{"system":"urn:y","period":{"start":"2020"}}}}],"extension":[{"valueString":"x"}]}`,
			[]want{{"error", "required", "Patient.extension[0].url", "minimum required = 1"}}},
		{"valid observation with nested data types", `{"resourceType":"Observation",` + narrative + `,"status":"final","code":{"text":"x"},"valueQuantity":{"value":1,"unit":"mg"},"referenceRange":[{"low":{"value":1}}],"component":[{"code":{"text":"c"},"valueQuantity":{"value":1,"comparator":"<"}}]}`, nil},
		{"domain invariant dom-2 (nested contained)", `{"resourceType":"Patient",` + narrative + `,"contained":[{"resourceType":"Organization","id":"o","name":"x","contained":[{"resourceType":"Organization","id":"p","name":"y"}]}],"managingOrganization":{"reference":"#o"}}`,
			[]want{{"error", "invariant", "Patient", "dom-2"}, {"error", "invariant", "Patient.contained[0]", "dom-3"}}},
		{"domain invariant dom-3 (unreferenced contained)", `{"resourceType":"Patient",` + narrative + `,"contained":[{"resourceType":"Organization","id":"o","name":"x"}]}`,
			[]want{{"error", "invariant", "Patient", "dom-3"}}},
		{"dom-6 warning (no narrative)", `{"resourceType":"Patient","active":true}`,
			[]want{{"warning", "invariant", "Patient", "dom-6"}}},
		{"pat-1 on a contact", `{"resourceType":"Patient",` + narrative + `,"contact":[{"name":{"family":"A"}},{"gender":"male"}]}`,
			[]want{{"error", "invariant", "Patient.contact[1]", "pat-1"}}},
		{"data type invariant qty-3", `{"resourceType":"Observation",` + narrative + `,"status":"final","code":{"text":"x"},"valueQuantity":{"value":1,"code":"mg"}}`,
			[]want{{"error", "invariant", "Observation.value", "qty-3"}}},
		{"ele-1 on an element with only an id", `{"resourceType":"Patient",` + narrative + `,"name":[{"id":"n1"}]}`,
			[]want{{"error", "invariant", "Patient.name[0]", "ele-1"}}},
		{"ext-1 value and extensions", `{"resourceType":"Patient",` + narrative + `,"extension":[{"url":"http://x","valueString":"a","extension":[{"url":"y","valueString":"b"}]}]}`,
			[]want{{"error", "invariant", "Patient.extension[0]", "ext-1"}, {"error", "structure", "Patient.extension[0]", "http://x could not be found"}}},
		{"obs-6 and obs-7", `{"resourceType":"Observation",` + narrative + `,"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"1-8"}]},"valueString":"a","dataAbsentReason":{"text":"gone"},"component":[{"code":{"coding":[{"system":"http://loinc.org","code":"1-8"}]}}]}`,
			[]want{{"error", "invariant", "Observation", "obs-6"}, {"error", "invariant", "Observation", "obs-7"}}},
		{"txt-1 forbidden element", `{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><script>x</script></div>"}}`,
			[]want{{"error", "invariant", "Patient.text.div", "txt-1"}}},
		{"invariant in a Bundle entry", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a","resource":{"resourceType":"Patient",` + narrative + `,"contact":[{"gender":"male"}]}}]}`,
			[]want{{"error", "invariant", "Bundle.entry[0].resource.contact[0]", "pat-1"}}},
		{"required element inside a contentReference element", `{"resourceType":"Questionnaire",` + narrative + `,"status":"draft","item":[{"linkId":"1","type":"group","item":[{"type":"string"}]}]}`,
			[]want{{"error", "required", "Questionnaire.item[0].item[0].linkId", "minimum required = 1"}}},
	}
	v := validator(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := fhir.Parse([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			expectIssues(t, v.Validate(res), tt.want)
		})
	}
}

// The parser rejects arrays for 0..1 elements, so too-many is checked on a tree built by
// hand, as another producer of trees could make it.
func TestTooMany(t *testing.T) {
	v := validator(t)
	res, err := fhir.Parse([]byte(`{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},"gender":"male","birthDate":"2000"}`))
	if err != nil {
		t.Fatal(err)
	}
	root := res.Root
	var kids []*fhir.Node
	for _, c := range root.Children {
		kids = append(kids, c)
		if c.Name == "gender" {
			dup := *c
			dup.Value = "female"
			kids = append(kids, &dup)
		}
	}
	root.Children = kids
	got := v.Validate(res)
	if len(got) != 1 || got[0].Severity != fhir.SeverityError || got[0].Code != fhir.IssueStructure ||
		got[0].Expression[0] != "Patient.gender" || !strings.Contains(got[0].Diagnostics, "maximum allowed = 1, but found 2") {
		t.Fatalf("got %+v", got)
	}
}

// Constraints that cannot be compiled or evaluated become warnings and never errors.
func TestNotEvaluable(t *testing.T) {
	v := validator(t)
	c := &constraint{Key: "bad-1", Severity: "error", Expression: "1 +", Owner: "Patient"}
	w := &walker{v: v}
	errTest := errors.New("test")
	w.notEvaluable(c, "Patient", fhir.IssueNotSupported, errTest)
	w.notEvaluable(c, "Patient", fhir.IssueNotSupported, errTest) // once per resource
	if len(w.issues) != 1 || w.issues[0].Severity != fhir.SeverityWarning || !strings.Contains(w.issues[0].Diagnostics, "bad-1") {
		t.Fatalf("got %+v", w.issues)
	}
	// An expression that raises an evaluation error: single() on several items.
	x, err := fhirpath.Compile("name.single().exists()")
	if err != nil {
		t.Fatal(err)
	}
	c2 := &constraint{Key: "bad-2", Severity: "error", Expression: x.String(), Owner: "Patient", expr: x}
	res2, _ := fhir.Parse([]byte(`{"resourceType":"Patient","name":[{"family":"a"},{"family":"b"}]}`))
	w2 := &walker{v: v}
	before := v.EvalFailures()
	w2.evaluate(c2, res2.Root, "Patient", &fhirpath.Env{Resource: res2.Root})
	if v.EvalFailures() != before+1 || len(w2.issues) != 1 || w2.issues[0].Severity != fhir.SeverityWarning || w2.issues[0].Code != fhir.IssueProcessing {
		t.Fatalf("got %+v", w2.issues)
	}
}

func TestConcurrent(t *testing.T) {
	v := validator(t)
	res, err := fhir.Parse([]byte(`{"resourceType":"Patient","contact":[{"gender":"male"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				if got := v.Validate(res); !HasErrors(got) {
					t.Error("pat-1 not reported")
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestOperationOutcome(t *testing.T) {
	v := validator(t)
	res, err := fhir.Parse([]byte(`{"resourceType":"Patient","contact":[{"gender":"male"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	oo := string(fhir.OperationOutcome(v.Validate(res)...))
	if !strings.Contains(oo, `"expression":["Patient.contact[0]"]`) || !strings.Contains(oo, `"code":"invariant"`) {
		t.Fatal(oo)
	}
}

// expectIssues checks that got holds exactly the wanted issues, in order.
func expectIssues(t *testing.T, got []fhir.Issue, want []issueWant) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d issues, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Severity != w.severity || g.Code != w.code || strings.Join(g.Expression, ",") != w.path || !strings.Contains(g.Diagnostics, w.contains) {
			t.Errorf("issue %d = %+v, want %+v", i, g, w)
		}
	}
}
