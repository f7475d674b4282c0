package validation

import (
	"testing"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/fhir/fhirpath"
	"github.com/concord-health/concord/terminology"
)

func TestConstraintEnvironment(t *testing.T) {
	ts, err := terminology.Core()
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewWith(definitions.R4(), Options{Terminology: ts})
	if err != nil {
		t.Fatal(err)
	}
	res, err := fhir.Parse([]byte(`{"resourceType":"Patient","gender":"male",
	 "maritalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-MaritalStatus","code":"M"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ expr, want string }{
		{"gender.memberOf('http://hl7.org/fhir/ValueSet/administrative-gender')", "true"},
		{"maritalStatus.memberOf('http://hl7.org/fhir/ValueSet/marital-status')", "true"},
		{"maritalStatus.memberOf('http://hl7.org/fhir/ValueSet/administrative-gender')", "false"},
		{"gender.memberOf('http://example.org/unknown')", ""},
		{"conformsTo('http://hl7.org/fhir/StructureDefinition/Patient')", "true"},
		{"conformsTo('http://hl7.org/fhir/StructureDefinition/Observation')", "false"},
	}
	for _, c := range cases {
		out, err := fhirpath.MustCompile(c.expr).EvaluateWith(res.Root, v.env(res.Root, res.Root))
		got := ""
		if len(out) == 1 {
			got = out[0].String()
		}
		if err != nil || got != c.want {
			t.Errorf("%s = %q (err %v), want %q", c.expr, got, err, c.want)
		}
	}
}

func TestUnknownExtensionsAreWarnings(t *testing.T) {
	res, err := fhir.Parse([]byte(`{"resourceType":"Patient",
	 "extension":[{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-race","valueString":"x"}],
	 "modifierExtension":[{"url":"http://hl7.org/fhir/us/core/StructureDefinition/unknown-modifier","valueString":"x"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, warn := range []bool{false, true} {
		v, err := NewWith(definitions.R4(), Options{UnknownExtensionsAreWarnings: warn})
		if err != nil {
			t.Fatal(err)
		}
		ext, mod := "", ""
		for _, i := range v.Validate(res) {
			switch i.Expression[0] {
			case "Patient.extension[0]":
				ext = i.Severity
			case "Patient.modifierExtension[0]":
				mod = i.Severity
			}
		}
		wantExt := fhir.SeverityError
		if warn {
			wantExt = fhir.SeverityWarning
		}
		if ext != wantExt || mod != fhir.SeverityError {
			t.Errorf("warnings %v: unknown extension %q, unknown modifier extension %q", warn, ext, mod)
		}
	}
}
