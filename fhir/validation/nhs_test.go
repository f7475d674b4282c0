package validation

import (
	"strings"
	"testing"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
)

func TestValidNHSNumber(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"9434765919", true},
		{"9434765870", true},
		{"4010232137", true},
		{"9434765918", false}, // wrong check digit
		{"943476591", false},  // nine digits
		{"94347659190", false},
		{"943 476 5919", false},
		{"94347659A9", false},
		{"0000000060", false}, // weighted sum 12 leaves a check digit of 10: no such number
		{"0000000050", false}, // wrong check digit (1)
		{"0000000051", true},
		{"", false},
	} {
		if got := ValidNHSNumber(tc.in); got != tc.ok {
			t.Errorf("ValidNHSNumber(%q) = %v, want %v", tc.in, got, tc.ok)
		}
	}
}

func TestNHSNumberIdentifiers(t *testing.T) {
	v, err := New(definitions.R4())
	if err != nil {
		t.Fatal(err)
	}
	res, err := fhir.Parse([]byte(`{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
		"identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"},
			{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765918"},
			{"system":"urn:oid:1.2.3","value":"9434765918"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	issues := v.Validate(res)
	var errs []fhir.Issue
	for _, i := range issues {
		if i.Severity == fhir.SeverityError {
			errs = append(errs, i)
		}
	}
	if len(errs) != 1 || errs[0].Expression[0] != "Patient.identifier[1].value" || !strings.Contains(errs[0].Diagnostics, "NHS number") {
		t.Fatalf("issues %+v, want one error on Patient.identifier[1].value", issues)
	}
}
