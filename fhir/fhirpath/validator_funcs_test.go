package fhirpath

import (
	"strings"
	"testing"

	"github.com/concord-health/concord/fhir"
)

func TestValidatorFunctions(t *testing.T) {
	pat := parseResource(t, `{"resourceType":"Patient","gender":"male",
	 "text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>Peter</p></div>"},
	 "maritalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-MaritalStatus","code":"M"}]}}`)
	bad := parseResource(t, `{"resourceType":"Patient",
	 "text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><script>x</script></div>"}}`)
	env := &Env{
		MemberOf: func(item *fhir.Node, vs string) (bool, bool) {
			switch vs {
			case "http://hl7.org/fhir/ValueSet/administrative-gender":
				return item.String() == "male" || item.String() == "female", true
			case "http://hl7.org/fhir/ValueSet/marital-status":
				return len(item.Child("coding")) > 0 && item.Child("coding")[0].Text("code") == "M", true
			}
			return false, false
		},
		ConformsTo: func(item *fhir.Node, profile string) (bool, bool) {
			if profile == "http://example.org/sd/male-patient" {
				return item.Text("gender") == "male", true
			}
			return false, false
		},
	}
	cases := []struct {
		name string
		res  *fhir.Node
		env  *Env
		expr string
		want string // joined result, or "error"
	}{
		{"memberOf code", pat, env, "gender.memberOf('http://hl7.org/fhir/ValueSet/administrative-gender')", "true"},
		{"memberOf CodeableConcept", pat, env, "maritalStatus.memberOf('http://hl7.org/fhir/ValueSet/marital-status')", "true"},
		{"memberOf unknown value set is empty", pat, env, "gender.memberOf('http://example.org/vs')", ""},
		{"memberOf without terminology is empty", pat, nil, "gender.memberOf('http://hl7.org/fhir/ValueSet/administrative-gender')", ""},
		{"memberOf on nothing", pat, env, "birthDate.memberOf('http://hl7.org/fhir/ValueSet/administrative-gender')", ""},
		{"conformsTo callback", pat, env, "conformsTo('http://example.org/sd/male-patient')", "true"},
		{"conformsTo unknown via callback", pat, env, "conformsTo('http://trash')", "error"},
		{"conformsTo core type", pat, nil, "conformsTo('http://hl7.org/fhir/StructureDefinition/Patient')", "true"},
		{"conformsTo core ancestor", pat, nil, "conformsTo('http://hl7.org/fhir/StructureDefinition/DomainResource')", "true"},
		{"conformsTo other type", pat, nil, "conformsTo('http://hl7.org/fhir/StructureDefinition/Person')", "false"},
		{"conformsTo unknown", pat, nil, "conformsTo('http://trash')", "error"},
		{"htmlChecks allowed", pat, nil, "text.div.htmlChecks()", "true"},
		{"htmlChecks script", bad, nil, "text.div.htmlChecks()", "false"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := MustCompile(c.expr).EvaluateWith(c.res, c.env)
			got := ""
			if err != nil {
				got = "error"
			} else {
				var parts []string
				for _, o := range out {
					parts = append(parts, o.String())
				}
				got = strings.Join(parts, ",")
			}
			if got != c.want {
				t.Errorf("%s = %q (err %v), want %q", c.expr, got, err, c.want)
			}
		})
	}
}

func TestXHTMLCheck(t *testing.T) {
	cases := []struct {
		div              string
		allowed, content bool
	}{
		{`<div xmlns="http://www.w3.org/1999/xhtml">text</div>`, true, true},
		{`<div xmlns="http://www.w3.org/1999/xhtml"> </div>`, true, false},
		{`<div xmlns="http://www.w3.org/1999/xhtml"><img src="a.png"/></div>`, true, true},
		{`<div xmlns="http://www.w3.org/1999/xhtml"><p onclick="x()">t</p></div>`, false, true},
		{`<div xmlns="http://www.w3.org/1999/xhtml"><p>unclosed</div>`, false, true},
		{`<p xmlns="http://www.w3.org/1999/xhtml">t</p>`, false, true},
		{`<div>no namespace</div>`, false, true},
	}
	for _, c := range cases {
		a, ct := XHTMLCheck(c.div)
		if a != c.allowed || ct != c.content {
			t.Errorf("%s: allowed %v content %v, want %v %v", c.div, a, ct, c.allowed, c.content)
		}
	}
}
