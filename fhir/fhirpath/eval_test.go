package fhirpath

import (
	"strings"
	"testing"

	"github.com/concord-health/concord/fhir"
)

const observationJSON = `{
  "resourceType": "Observation", "id": "bp", "status": "final",
  "contained": [{"resourceType": "Patient", "id": "p1", "gender": "female"}],
  "extension": [{"url": "http://example.org/ext/age", "valueAge": {"value": 42, "unit": "yr", "system": "http://unitsofmeasure.org", "code": "a"}}],
  "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}, {"system": "http://loinc.org", "code": "85354-9"}], "text": "Blood pressure"},
  "subject": {"reference": "Patient/123"},
  "performer": [{"reference": "http://x/fhir/Practitioner/9/_history/2"}, {"reference": "#p1"}],
  "effectiveDateTime": "2020-03-04T10:00:00Z",
  "valueQuantity": {"value": 120.50, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"},
  "component": [
    {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}, "valueQuantity": {"value": 120, "unit": "mmHg"}},
    {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]}, "valueQuantity": {"value": 80, "unit": "mmHg"}},
    {"code": {"coding": [{"system": "http://loinc.org", "code": "9999-9"}]}, "valueString": "n/a"}
  ]
}`

func parseResource(t testing.TB, js string) *fhir.Node {
	t.Helper()
	res, err := fhir.Parse([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return res.Root
}

// render prints a result collection compactly: primitives by value, other nodes by type.
func render(out []*fhir.Node) string {
	parts := make([]string, len(out))
	for i, n := range out {
		if s, ok := toText(n); ok && n.Value != nil || n.Type == typeQuantity {
			parts[i] = s
		} else {
			parts[i] = n.Type
		}
	}
	return strings.Join(parts, ", ")
}

func TestEvaluate(t *testing.T) {
	obs := parseResource(t, observationJSON)
	tests := []struct {
		expr, want string
	}{
		{"Observation.subject.reference", "Patient/123"},
		{"Resource.id", "bp"},
		{"DomainResource.status", "final"},
		{"Patient.id", ""},
		{"Observation.value", "Quantity"},
		{"Observation.value.value", "120.50"},
		{"Observation.value.ofType(Quantity).unit", "mmHg"},
		{"Observation.value.as(Period)", ""},
		{"(Observation.value as Quantity).code", "mm[Hg]"},
		{"Observation.value is Quantity", "true"},
		{"Observation.effective is dateTime", "true"},
		{"Observation.effective.is(DateTime)", "true"},
		{"Observation.subject.resolve() is Patient", "true"},
		{"Observation.subject.where(resolve() is Patient).reference", "Patient/123"},
		{"Observation.performer.where(resolve() is Practitioner).reference", "http://x/fhir/Practitioner/9/_history/2"},
		{"Observation.performer.resolve().id", "9, p1"},
		{"Observation.performer[1].resolve().gender", "female"},
		{"Observation.extension('http://example.org/ext/age').value", "Age"},
		{"Observation.extension('http://example.org/ext/age').value is Quantity", "true"},
		{"Observation.extension('http://example.org/ext/age').value.ofType(Age).value", "42"},
		{"Observation.component.where(code.coding.code = '8462-4').value.ofType(Quantity).value", "80"},
		{"Observation.component.value.ofType(string)", "n/a"},
		{"Observation.component.code.coding.code", "8480-6, 8462-4, 9999-9"},
		{"Observation.component.where(value.ofType(Quantity).value > 100).code.coding.code", "8480-6"},
		{"Observation.code.coding.code | Observation.code.coding.code", "85354-9"},
		{"Observation.code.coding.code.distinct().count()", "1"},
		{"Observation.code.coding.count()", "2"},
		{"Observation.component[1].code.coding.code", "8462-4"},
		{"Observation.component.first().code.coding.code", "8480-6"},
		{"Observation.component.last().value", "n/a"},
		{"Observation.component.exists(value.ofType(string))", "true"},
		{"Observation.component.all(code.exists())", "true"},
		{"Observation.note.empty()", "true"},
		{"Observation.status = 'final' and Observation.status != 'amended'", "true"},
		{"Observation.status in ('final' | 'amended')", "true"},
		{"('final' | 'amended') contains Observation.status", "true"},
		{"Observation.effective > @2020-01-01", "true"},
		{"Observation.effective < @2020-03-04T11:00:00Z", "true"},
		{"Observation.effective = @2020", ""},
		{"Observation.code.text.lower() + '!'", "blood pressure!"},
		{"Observation.code.text.upper().startsWith('BLOOD')", "true"},
		{"Observation.code.text.substring(6, 3)", "pre"},
		{"Observation.code.text.contains('press')", "true"},
		{"Observation.code.text.matches('^Blood.*')", "true"},
		{"Observation.code.text.replace('Blood', 'Arterial')", "Arterial pressure"},
		{"Observation.value.value.toString()", "120.50"},
		{"Observation.status.hasValue()", "true"},
		{"Observation.status.getValue() is System.String", "true"},
		{"iif(Observation.value.exists(), 'yes', 'no')", "yes"},
		{"Observation.component.select(code.coding.code).count()", "3"},
		{"Observation.contained.children().count()", "2"},
		{"Observation.contained.descendants().count()", "2"},
		{"%resource.id", "bp"},
		{"%loinc", "http://loinc.org"},
		{"%`vs-observation-status`", "http://hl7.org/fhir/ValueSet/observation-status"},
		{"true xor false implies false", "false"},
		{"{}.not()", ""},
		{"(1 + 2 * 3).toString() & 'x'", "7x"},
		{"5 div 2 + 5 mod 2", "3"},
		{"1.5 + 1.5", "3.0"},
		{"@2020-01-31 + 1 month", "2020-02-29"},
		{"10 'mg' > 5 'mg'", "true"},
		{"Observation.component.value.ofType(Quantity).where($this.value > 90).value", "120"},
		{"Observation.trace('x').id", "bp"},
	}
	for _, tt := range tests {
		e, err := Compile(tt.expr)
		if err != nil {
			t.Errorf("%s: %v", tt.expr, err)
			continue
		}
		out, err := e.Evaluate(obs)
		if err != nil {
			t.Errorf("%s: %v", tt.expr, err)
			continue
		}
		if got := render(out); got != tt.want {
			t.Errorf("%s = %q, want %q", tt.expr, got, tt.want)
		}
	}
}

func TestEvaluationErrors(t *testing.T) {
	obs := parseResource(t, observationJSON)
	for _, expr := range []string{
		"Observation.component.code.coding.code.substring(1)",
		"Observation.component.code.coding.code = 'x' and true or Observation.component.value",
		"%nosuch",
		"Observation.status + 1",
	} {
		if _, err := MustCompile(expr).Evaluate(obs); err == nil {
			t.Errorf("%s: expected an evaluation error", expr)
		}
	}
}

func TestSyntaxErrors(t *testing.T) {
	for _, expr := range []string{"", "Observation.", "a |", "where(", "1 +* 2", "'open", "@20", "Patient.name[0", "x.nosuchfn()", "first(1)"} {
		if _, err := Compile(expr); err == nil {
			t.Errorf("%q: expected a compile error", expr)
		}
	}
}

func TestEnv(t *testing.T) {
	obs := parseResource(t, observationJSON)
	var traced []string
	env := &Env{
		Vars:    map[string]*fhir.Node{"code": newString("8480-6")},
		Resolve: func(ref string) *fhir.Node { return &fhir.Node{Name: "Group", Type: "Group"} },
		Trace:   func(name string, items []*fhir.Node) { traced = append(traced, name) },
	}
	for expr, want := range map[string]string{
		"Observation.component.where(code.coding.code = %code).value.value": "120",
		"Observation.subject.resolve() is Group":                            "true",
		"Observation.id.trace('t')":                                         "bp",
	} {
		out, err := MustCompile(expr).EvaluateWith(obs, env)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if got := render(out); got != want {
			t.Errorf("%s = %q, want %q", expr, got, want)
		}
	}
	if len(traced) != 1 || traced[0] != "t" {
		t.Errorf("trace calls = %v", traced)
	}
}
