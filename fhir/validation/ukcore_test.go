package validation

import (
	"sync"
	"testing"

	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/fhir/packages"
	"github.com/concord-health/concord/fhir/profiles"
	"github.com/concord-health/concord/terminology"
)

const (
	ukCoreDir     = "../../../shared/data/uk-core-r4"
	ukCorePatient = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"
)

// ukCoreValidator validates with UK Core's profiles, code systems and value sets.
var ukCoreValidator = sync.OnceValues(func() (*Validator, error) {
	pkg, err := packages.Load(ukCoreDir)
	if err != nil {
		return nil, err
	}
	set := profiles.New()
	ts, err := terminology.Core()
	if err != nil {
		return nil, err
	}
	for _, r := range pkg.Resources {
		switch r.Type {
		case "StructureDefinition":
			err = set.Add(r)
		case "ValueSet", "CodeSystem":
			err = ts.Add(r)
		}
		if err != nil {
			return nil, err
		}
	}
	return NewWith(definitions.R4(), Options{Profiles: set, Terminology: ts})
})

func TestUKCorePatient(t *testing.T) {
	if _, err := packages.Load(ukCoreDir); err != nil {
		t.Skipf("UK Core not found at %s (see /work/shared/data/README.md): %v", ukCoreDir, err)
	}
	v, err := ukCoreValidator()
	if err != nil {
		t.Fatal(err)
	}
	const verified = `"extension":[{"url":"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus",` +
		`"valueCodeableConcept":{"coding":[{"system":"https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland","code":"01"}]}}]`
	pat := func(identifier string) string {
		return `{"resourceType":"Patient",` + narrative + `,"meta":{"profile":["` + ukCorePatient + `"]},` +
			`"identifier":[` + identifier + `],"name":[{"family":"Smith","given":["Jane"]}],"gender":"female","birthDate":"1980-04-01"}`
	}
	runProfileCases(t, v, []profileCase{
		{"valid NHS number", pat(`{` + verified + `,"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}`), nil, nil},
		{"valid NHS number, profile requested", pat(`{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}`), []string{ukCorePatient}, nil},
		{"NHS number with a bad check digit", pat(`{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765918"}`), nil,
			[]issueWant{{"error", "value", "Patient.identifier[0].value", "not a valid NHS number"}}},
		{"NHS number slice without its value", pat(`{"system":"https://fhir.nhs.uk/Id/nhs-number"}`), nil,
			[]issueWant{{"error", "required", "Patient.identifier[0].value", "minimum required = 1"}}},
		{"two NHS numbers", pat(`{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"},{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}`), nil,
			[]issueWant{{"error", "structure", "Patient.identifier", "slice 'nhsNumber' allows at most 1"}}},
		{"verification status from the wrong code system", pat(`{"extension":[{"url":"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus",` +
			`"valueCodeableConcept":{"coding":[{"system":"https://example.org/verification","code":"01"}]}}],"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}`), nil,
			[]issueWant{{"error", "code-invalid", "Patient.identifier[0].extension[0].value", "UKCore-NHSNumberVerificationStatus"}}},
		{"verification status outside its context", `{"resourceType":"Patient",` + narrative + `,` + verified + `}`, nil,
			[]issueWant{{"error", "structure", "Patient.extension[0]", "allowed: Patient.identifier"}}},
		{"identifier in another system is in no slice", pat(`{"system":"https://fhir.nhs.uk/Id/nhs-numbr","value":"x"}`), nil, nil},
	})
}
