package validation

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/fhir/profiles"
	"github.com/concord-health/concord/terminology"
)

const (
	testPatient     = "http://example.org/fhir/StructureDefinition/test-patient"
	testObservation = "http://example.org/fhir/StructureDefinition/test-observation"
	testIdentifier  = "http://example.org/fhir/StructureDefinition/test-identifier"
	narrative       = `"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}`
)

// profileValidatorForTest validates with the profiles of testdata/profiles and the core
// terminology.
var profileValidatorForTest = sync.OnceValues(func() (*Validator, error) {
	set := profiles.New()
	files, err := filepath.Glob("testdata/profiles/*.json")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		res, err := fhir.Parse(data)
		if err != nil {
			return nil, err
		}
		if err := set.Add(res); err != nil {
			return nil, err
		}
	}
	ts, err := terminology.Core()
	if err != nil {
		return nil, err
	}
	return NewWith(definitions.R4(), Options{Profiles: set, Terminology: ts})
})

func testProfileValidator(t *testing.T) *Validator {
	t.Helper()
	v, err := profileValidatorForTest()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// issueWant is an expected issue; contains is matched against the diagnostics.
type issueWant struct {
	severity, code, path, contains string
}

type profileCase struct {
	name     string
	json     string
	profiles []string
	want     []issueWant // exactly these errors and warnings, in any order
}

// runProfileCases validates each case and compares its errors and warnings (information
// issues are not compared).
func runProfileCases(t *testing.T, v *Validator, cases []profileCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			res, err := fhir.Parse([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			var got []fhir.Issue
			for _, is := range v.ValidateProfiles(res, tt.profiles...) {
				if is.Severity != fhir.SeverityInformation {
					got = append(got, is)
				}
			}
			used := make([]bool, len(got))
		next:
			for _, w := range tt.want {
				for i, g := range got {
					if !used[i] && g.Severity == w.severity && g.Code == w.code &&
						strings.Join(g.Expression, ",") == w.path && strings.Contains(g.Diagnostics, w.contains) {
						used[i] = true
						continue next
					}
				}
				t.Errorf("missing issue %+v", w)
			}
			for i, g := range got {
				if !used[i] {
					t.Errorf("unexpected issue %s %s %s: %s", g.Severity, g.Code, strings.Join(g.Expression, ","), g.Diagnostics)
				}
			}
		})
	}
}

// patient builds a test-patient instance from extra top-level members.
func patient(members ...string) string {
	base := []string{`"resourceType":"Patient"`, narrative,
		`"identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}]`,
		`"name":[{"family":"Chalmers"}]`}
	for _, m := range members {
		name := m[:strings.IndexByte(m[1:], '"')+2]
		replaced := false
		for i, b := range base {
			if strings.HasPrefix(b, name) {
				base[i], replaced = m, true
			}
		}
		if !replaced {
			base = append(base, m)
		}
	}
	return "{" + strings.Join(base, ",") + "}"
}

func TestProfilePatient(t *testing.T) {
	v := testProfileValidator(t)
	p := []string{testPatient}
	runProfileCases(t, v, []profileCase{
		{"valid", patient(`"active":true`, `"birthDate":"1970-01-01"`, `"deceasedBoolean":false`,
			`"maritalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-MaritalStatus","code":"M"}],"text":"Married"}`,
			`"generalPractitioner":[{"reference":"Practitioner/1"}]`,
			`"extension":[{"url":"http://example.org/fhir/StructureDefinition/test-ext","valueString":"x"}]`), p, nil},
		{"meta.profile claim is checked", `{"resourceType":"Patient",` + narrative + `,"meta":{"profile":["` + testPatient + `"]},"identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}]}`, nil,
			[]issueWant{{"error", "required", "Patient.name", "minimum required = 1"}, {"error", "invariant", "Patient", "tp-1"}}},
		{"cardinality of the profile", patient(`"name":[{"given":["A"]}]`, `"communication":[{"language":{"text":"en"}}]`), p,
			[]issueWant{{"error", "structure", "Patient.communication", "maximum allowed = 0"}, {"error", "invariant", "Patient", "tp-1"}}},
		{"required slice missing", patient(`"identifier":[{"system":"urn:oid:1.2.3.4","value":"1"}]`), p,
			[]issueWant{{"error", "required", "Patient.identifier", "slice 'nhs' requires at least 1"}}},
		{"slice too many", patient(`"identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"},{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}]`), p,
			[]issueWant{{"error", "structure", "Patient.identifier", "slice 'nhs' allows at most 1"}}},
		{"element of a slice", patient(`"identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number"}]`), p,
			[]issueWant{{"error", "required", "Patient.identifier[0].value", "minimum required = 1"}}},
		{"maxLength", patient(`"identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"94347659190"}]`), p,
			[]issueWant{{"error", "too-long", "Patient.identifier[0].value", "more than the maximum 10"},
				{"error", "value", "Patient.identifier[0].value", "not a valid NHS number"}}},
		{"fixed value", patient(`"active":false`), p,
			[]issueWant{{"error", "value", "Patient.active", "must be exactly 'true'"}}},
		{"fixed value with extra content", patient(`"active":true`, `"_active":{"extension":[{"url":"http://example.org/x","valueString":"y"}]}`), p,
			[]issueWant{{"error", "value", "Patient.active", "must be exactly"}}},
		{"pattern not matched", patient(`"maritalStatus":{"coding":[{"system":"http://snomed.info/sct","code":"87915002"}]}`), p,
			[]issueWant{{"error", "value", "Patient.maritalStatus", "must contain"},
				{"warning", "code-invalid", "Patient.maritalStatus", "extensible binding"}}},
		{"minLength", patient(`"id":"ab"`), p,
			[]issueWant{{"error", "value", "Patient.id", "shorter than the minimum 3"}}},
		{"value required, not only extensions", patient(`"_gender":{"extension":[{"url":"http://example.org/fhir/why","valueString":"asked"}]}`), p,
			[]issueWant{{"error", "required", "Patient.gender", "requires a value"}}},
		{"minValue", patient(`"birthDate":"1850-02-03"`), p,
			[]issueWant{{"error", "value", "Patient.birthDate", "less than the minimum"}}},
		{"type not allowed by the profile", patient(`"deceasedDateTime":"2020-01-01"`), p,
			[]issueWant{{"error", "structure", "Patient.deceased", "type dateTime is not allowed"}}},
		{"reference target narrowed by the profile", patient(`"generalPractitioner":[{"reference":"Organization/1"}]`), p,
			[]issueWant{{"error", "structure", "Patient.generalPractitioner[0]", "a reference to a Organization is not allowed"}}},
		{"extension slice: value type", patient(`"extension":[{"url":"http://example.org/fhir/StructureDefinition/test-ext","valueInteger":1}]`), p,
			[]issueWant{{"error", "structure", "Patient.extension[0].value", "type integer is not allowed"}}},
		{"extension slice: too many", patient(`"extension":[{"url":"http://example.org/fhir/StructureDefinition/test-ext","valueString":"a"},{"url":"http://example.org/fhir/StructureDefinition/test-ext","valueString":"b"}]`), p,
			[]issueWant{{"error", "structure", "Patient.extension", "slice 'note' allows at most 1"}}},
		{"complex extension valid", patient(`"extension":[{"url":"http://example.org/fhir/StructureDefinition/test-complex-ext","extension":[{"url":"a","valueString":"x"},{"url":"b","valueCoding":{"code":"c"}}]}]`), p, nil},
		{"complex extension: missing part, unknown part", patient(`"extension":[{"url":"http://example.org/fhir/StructureDefinition/test-complex-ext","extension":[{"url":"c","valueString":"x"}]}]`), p,
			[]issueWant{{"error", "required", "Patient.extension[0].extension", "slice 'a' requires at least 1"},
				{"error", "structure", "Patient.extension[0].extension[0]", "does not match any slice"}}},
		{"complex extension: part with the wrong type", patient(`"extension":[{"url":"http://example.org/fhir/StructureDefinition/test-complex-ext","extension":[{"url":"a","valueBoolean":true}]}]`), p,
			[]issueWant{{"error", "structure", "Patient.extension[0].extension[0].value", "type boolean is not allowed"}}},
		{"profile of the wrong type", `{"resourceType":"Observation",` + narrative + `,"status":"final","code":{"text":"x"}}`, p,
			[]issueWant{{"error", "invalid", "Observation", "is for Patient resources"}}},
	})
}

// observation builds a test-observation instance from extra top-level members.
func observation(members ...string) string {
	return `{"resourceType":"Observation",` + narrative + `,"status":"final",` +
		`"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],` +
		`"code":{"text":"bp"},` + strings.Join(append(members,
		`"component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":120}},`+
			`{"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":80}}]`), ",") + "}"
}

func TestProfileSlicing(t *testing.T) {
	v := testProfileValidator(t)
	p := []string{testObservation}
	const (
		sys   = `{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":120}}`
		dia   = `{"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":80}}`
		pulse = `{"code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"valueQuantity":{"value":60}}`
	)
	obs := func(component string, members ...string) string {
		return `{"resourceType":"Observation",` + narrative + `,"status":"final",` +
			`"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],` +
			`"code":{"text":"bp"},` + strings.Join(append(members, `"component":[`+component+`]`), ",") + "}"
	}
	runProfileCases(t, v, []profileCase{
		{"valid", observation(`"valueQuantity":{"value":100}`, `"identifier":[{"system":"urn:test:lab","value":"1"},{"system":"urn:other","value":"2"}]`,
			`"referenceRange":[{"low":{"value":1}}]`), p, nil},
		{"pattern on $this: required slice missing", `{"resourceType":"Observation",` + narrative + `,"status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}],"code":{"text":"bp"},"component":[` + sys + `,` + dia + `]}`, p,
			[]issueWant{{"error", "required", "Observation.category", "slice 'vs' requires at least 1"}}},
		{"pattern on a child: closed slicing", obs(sys + "," + dia + "," + pulse), p,
			[]issueWant{{"error", "structure", "Observation.component[2]", "does not match any slice"}}},
		{"ordered slices out of order", obs(dia + "," + sys), p,
			[]issueWant{{"error", "structure", "Observation.component[1]", "slices of Observation.component are ordered"}}},
		{"type discriminator: closed", observation(`"valueString":"x"`), p,
			[]issueWant{{"error", "structure", "Observation.value", "does not match any slice"}}},
		{"type slice element rule", observation(`"valueQuantity":{"value":301}`), p,
			[]issueWant{{"error", "value", "Observation.value.value", "greater than the maximum"}}},
		{"exists discriminator", observation(`"referenceRange":[{"high":{"value":1}}]`), p,
			[]issueWant{{"error", "structure", "Observation.referenceRange[0]", "does not match any slice"}}},
		{"profile discriminator: openAtEnd", observation(`"identifier":[{"system":"urn:other","value":"2"},{"system":"urn:test:lab","value":"1"}]`), p,
			[]issueWant{{"error", "structure", "Observation.identifier[1]", "only at the end"}}},
		{"resolve() type discriminator", observation(`"contained":[{"resourceType":"Observation","id":"m","status":"final","code":{"text":"m"}},{"resourceType":"Patient","id":"p"}]`,
			`"hasMember":[{"reference":"#m"}]`, `"focus":[{"reference":"#p"}]`), p, nil},
		{"target profile: conforming contained target", observation(`"contained":[{"resourceType":"Patient","id":"pat","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}],"name":[{"family":"x"}]}]`,
			`"subject":{"reference":"#pat"}`), p, nil},
		{"target profile: contained target that does not conform", observation(`"contained":[{"resourceType":"Patient","id":"p","name":[{"family":"x"}]}]`,
			`"subject":{"reference":"#p"}`), p,
			[]issueWant{{"error", "structure", "Observation.subject", "does not conform to " + testPatient}}},
		{"target profile: a type allowed by a core target", observation(`"subject":{"reference":"Group/1"}`), p, nil},
		{"target profile: a type not allowed", observation(`"subject":{"reference":"Device/1"}`), p,
			[]issueWant{{"error", "structure", "Observation.subject", "a reference to a Device is not allowed"}}},
		{"target profile: a target out of reach is not judged", observation(`"subject":{"reference":"Patient/1"}`), p, nil},
		{"target profile: Bundle entry that does not conform", `{"resourceType":"Bundle","type":"collection","entry":[` +
			`{"fullUrl":"http://x.org/fhir/Observation/1","resource":` + observation(`"id":"1"`, `"meta":{"profile":["`+testObservation+`"]}`, `"subject":{"reference":"Patient/2"}`) + `},` +
			`{"fullUrl":"http://x.org/fhir/Patient/2","resource":{"resourceType":"Patient","id":"2",` + narrative + `}}]}`, nil,
			[]issueWant{{"error", "structure", "Bundle.entry[0].resource.subject", "does not conform to " + testPatient}}},
		{"resolve() type discriminator: closed", observation(`"contained":[{"resourceType":"QuestionnaireResponse","id":"q","status":"completed"}]`,
			`"hasMember":[{"reference":"#q"}]`), p,
			[]issueWant{{"error", "structure", "Observation.hasMember[0]", "does not match any slice"}}},
	})
}

func TestCoreRules(t *testing.T) {
	v := testProfileValidator(t)
	runProfileCases(t, v, []profileCase{
		{"reference to a type the element does not allow", `{"resourceType":"Patient",` + narrative + `,"generalPractitioner":[{"reference":"Observation/1"}]}`, nil,
			[]issueWant{{"error", "structure", "Patient.generalPractitioner[0]", "a reference to a Observation is not allowed"}}},
		{"absolute reference", `{"resourceType":"Patient",` + narrative + `,"generalPractitioner":[{"reference":"http://example.org/fhir/Observation/1/_history/2"}]}`, nil,
			[]issueWant{{"error", "structure", "Patient.generalPractitioner[0]", "a reference to a Observation is not allowed"}}},
		{"reference by type only", `{"resourceType":"Patient",` + narrative + `,"generalPractitioner":[{"type":"Device","identifier":{"value":"1"}}]}`, nil,
			[]issueWant{{"error", "structure", "Patient.generalPractitioner[0]", "a reference to a Device is not allowed"}}},
		{"contained reference", `{"resourceType":"Patient",` + narrative + `,"contained":[{"resourceType":"Location","id":"l","name":"x"}],"generalPractitioner":[{"reference":"#l"}]}`, nil,
			[]issueWant{{"error", "structure", "Patient.generalPractitioner[0]", "a reference to a Location is not allowed"}}},
		{"allowed references", `{"resourceType":"Patient",` + narrative + `,"contained":[{"resourceType":"Organization","id":"o","name":"x"}],"generalPractitioner":[{"reference":"#o"},{"reference":"Practitioner/1"},{"reference":"https://x.org/fhir/PractitionerRole/2"}]}`, nil, nil},
		{"required binding: code not in the value set", `{"resourceType":"Patient",` + narrative + `,"gender":"man"}`, nil,
			[]issueWant{{"error", "code-invalid", "Patient.gender", "administrative-gender"}}},
		{"required binding: valid code", `{"resourceType":"Patient",` + narrative + `,"gender":"female"}`, nil, nil},
		{"required binding inside a data type", `{"resourceType":"Patient",` + narrative + `,"name":[{"use":"nickname","family":"x"},{"use":"alias","family":"y"}]}`, nil,
			[]issueWant{{"error", "code-invalid", "Patient.name[1].use", "name-use"}}},
		{"extensible binding: Coding not in the value set", `{"resourceType":"Patient",` + narrative + `,"maritalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-MaritalStatus","code":"XX"}]}}`, nil,
			[]issueWant{{"warning", "code-invalid", "Patient.maritalStatus", "marital-status"}}},
		{"part of a complex extension its definition does not name", `{"resourceType":"Patient",` + narrative + `,"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-animal","extension":[{"url":"species","valueCodeableConcept":{"text":"dog"}},{"url":"species-x","valueString":"x"}]}]}`, nil,
			[]issueWant{{"error", "structure", "Patient.extension[0].extension[1]", "Sub-extension url 'species-x' is not defined"}}},
		{"unknown extension", `{"resourceType":"Patient",` + narrative + `,"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/no-such-extension","valueString":"x"}]}`, nil,
			[]issueWant{{"error", "structure", "Patient.extension[0]", "could not be found"}}},
		{"unknown extension in a tolerated domain", `{"resourceType":"Patient",` + narrative + `,"extension":[{"url":"http://example.org/fhir/x","valueString":"x"}]}`, nil, nil},
		{"unknown modifier extension", `{"resourceType":"Patient",` + narrative + `,"modifierExtension":[{"url":"http://other.org/fhir/x","valueString":"x"}]}`, nil,
			[]issueWant{{"error", "structure", "Patient.modifierExtension[0]", "cannot be safely processed"}}},
		{"unknown modifier extension in a tolerated domain", `{"resourceType":"Patient",` + narrative + `,"modifierExtension":[{"url":"http://example.org/fhir/x","valueString":"x"}]}`, nil, nil},
		{"cross-version extension", `{"resourceType":"Patient",` + narrative + `,"extension":[{"url":"http://hl7.org/fhir/5.0/StructureDefinition/extension-Patient.x","valueString":"x"}]}`, nil, nil},
		{"extension on the value of the extension its context names", `{"resourceType":"Patient",` + narrative + `,"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-interpreterRequired","valueBoolean":true,"_valueBoolean":{"extension":[{"url":"http://example.org/fhir/StructureDefinition/test-ext-on-ext","valueBoolean":true}]}}]}`, nil, nil},
		{"extension on the value of another extension", `{"resourceType":"Patient",` + narrative + `,"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-cadavericDonor","valueBoolean":true,"_valueBoolean":{"extension":[{"url":"http://example.org/fhir/StructureDefinition/test-ext-on-ext","valueBoolean":true}]}}]}`, nil,
			[]issueWant{{"error", "structure", "Patient.extension[0].value.extension[0]", "not allowed to be used at Patient.extension[0].value"}}},
		{"FHIRPath context met", `{"resourceType":"Patient",` + narrative + `,"address":[{"use":"home","city":"x","extension":[{"url":"http://example.org/fhir/StructureDefinition/test-ext-home","valueBoolean":true}]}]}`, nil, nil},
		{"FHIRPath context not met", `{"resourceType":"Patient",` + narrative + `,"address":[{"use":"work","city":"x","extension":[{"url":"http://example.org/fhir/StructureDefinition/test-ext-home","valueBoolean":true}]}]}`, nil,
			[]issueWant{{"error", "structure", "Patient.address[0].extension[0]", "not allowed to be used at Patient.address[0]"}}},
		{"context invariant not met", `{"resourceType":"Patient",` + narrative + `,"active":true,"extension":[{"url":"http://example.org/fhir/StructureDefinition/test-ext-home","valueBoolean":true}]}`, nil,
			[]issueWant{{"error", "structure", "Patient.extension[0]", "context invariant"}}},
		{"core extension in its context", `{"resourceType":"Patient",` + narrative + `,"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthPlace","valueAddress":{"city":"Leeds"}}]}`, nil, nil},
		{"core extension in the wrong context", `{"resourceType":"Observation",` + narrative + `,"status":"final","code":{"text":"x"},"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthPlace","valueAddress":{"city":"Leeds"}}]}`, nil,
			[]issueWant{{"error", "structure", "Observation.extension[0]", "not allowed to be used at Observation"}}},
		{"core extension with the wrong value type", `{"resourceType":"Patient",` + narrative + `,"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthPlace","valueString":"Leeds"}]}`, nil,
			[]issueWant{{"error", "structure", "Patient.extension[0].value", "type string is not allowed"}}},
		{"extension on a primitive element", `{"resourceType":"Patient",` + narrative + `,"birthDate":"1970-01-01","_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"1970-01-01T10:00:00Z"}]}}`, nil, nil},
		{"profile extension outside its context", `{"resourceType":"Observation",` + narrative + `,"status":"final","code":{"text":"x"},"extension":[{"url":"http://example.org/fhir/StructureDefinition/test-ext","valueString":"x"}]}`, nil,
			[]issueWant{{"error", "structure", "Observation.extension[0]", "allowed: Patient"}}},
		{"unknown claimed profile", `{"resourceType":"Patient",` + narrative + `,"meta":{"profile":["http://example.org/fhir/StructureDefinition/nothing"]}}`, nil,
			[]issueWant{{"warning", "not-found", "Patient", "was not checked against it"}}},
		{"unknown requested profile", `{"resourceType":"Patient",` + narrative + `}`, []string{"http://example.org/fhir/StructureDefinition/nothing"},
			[]issueWant{{"error", "not-found", "Patient", "could not be checked against it"}}},
		{"claimed core profile", `{"resourceType":"Patient",` + narrative + `,"meta":{"profile":["http://hl7.org/fhir/StructureDefinition/Patient"]}}`, nil, nil},
		{"claimed profile of a contained resource", `{"resourceType":"Observation",` + narrative + `,"status":"final","code":{"text":"x"},"subject":{"reference":"#pat"},"contained":[{"resourceType":"Patient","id":"pat","meta":{"profile":["` + testPatient + `"]},"identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}],"name":[{"family":"x"}],"active":false}]}`, nil,
			[]issueWant{{"error", "value", "Observation.contained[0].active", "must be exactly 'true'"}}},
		{"data-type profile on an element", observation(`"basedOn":[{"identifier":{"system":"urn:other","value":"1"}}]`), []string{testObservation},
			[]issueWant{{"error", "value", "Observation.basedOn[0].identifier.system", "must be exactly 'urn:test:lab'"}}},
		{"profile discriminator: an item that does not conform is in no slice", observation(`"identifier":[{"system":"urn:test:lab"}]`), []string{testObservation}, nil},
	})
}

func TestValidateWithoutTerminology(t *testing.T) {
	v := validator(t)
	res, err := fhir.Parse([]byte(`{"resourceType":"Patient",` + narrative + `,"gender":"man"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Validate(res); len(got) != 0 {
		t.Errorf("bindings checked without a terminology: %+v", got)
	}
}

// BenchmarkValidateSyntheaCoreWalker runs the core walker alone (no profile-driven
// checks), the baseline the other Synthea benchmarks compare with.
func BenchmarkValidateSyntheaCoreWalker(b *testing.B) {
	resources := syntheaResources(b)
	v, err := New(definitions.R4())
	if err != nil {
		b.Fatal(err)
	}
	core := &Validator{reg: v.reg, cs: v.cs}
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		for _, r := range resources {
			core.Validate(r)
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "resources/s")
}

// BenchmarkValidateSyntheaAll is BenchmarkValidateSynthea with everything on: the core
// terminology deciding bindings and the test profiles loaded.
func BenchmarkValidateSyntheaAll(b *testing.B) {
	resources := syntheaResources(b)
	v, err := profileValidatorForTest()
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		for _, r := range resources {
			v.Validate(r)
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "resources/s")
}

func syntheaResources(b *testing.B) []*fhir.Resource {
	files, _ := filepath.Glob("../../../shared/data/synthea/bundles/*.json")
	if len(files) == 0 {
		b.Skip("Synthea bundles not found in ../shared/data/synthea/bundles")
	}
	var out []*fhir.Resource
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		bundle, err := fhir.Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range bundle.Root.Child("entry") {
			if r := e.First("resource"); r != nil {
				out = append(out, &fhir.Resource{Type: r.Type, ID: r.Text("id"), Root: r})
			}
		}
	}
	return out
}

// inlineValidator validates with the core definitions and terminology plus the given
// conformance resources (StructureDefinitions, ValueSets, CodeSystems) as JSON.
func inlineValidator(t *testing.T, resources ...string) *Validator {
	t.Helper()
	set := profiles.New()
	ts, err := terminology.Core()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resources {
		res, err := fhir.Parse([]byte(r))
		if err != nil {
			t.Fatal(err)
		}
		if res.Type == "StructureDefinition" {
			err = set.Add(res)
		} else {
			err = ts.Add(res)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	v, err := NewWith(definitions.R4(), Options{Profiles: set, Terminology: ts})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// constraintOn returns a StructureDefinition constraining type typ at url with the given
// differential elements (JSON objects).
func constraintOn(url, typ string, elements ...string) string {
	return `{"resourceType":"StructureDefinition","url":"` + url + `","name":"Test","status":"draft","kind":"resource",` +
		`"abstract":false,"type":"` + typ + `","baseDefinition":"http://hl7.org/fhir/StructureDefinition/` + typ + `",` +
		`"derivation":"constraint","differential":{"element":[` + strings.Join(elements, ",") + `]}}`
}

func TestProfileTypeRules(t *testing.T) {
	const (
		manifestOnly = "http://example.org/fhir/StructureDefinition/manifest-bundle"
		unknownType  = "http://example.org/fhir/StructureDefinition/unknown-type-profile"
		alternatives = "http://example.org/fhir/StructureDefinition/active-alternatives"
		weight       = "http://example.org/fhir/StructureDefinition/weight-limits"
		member       = "http://example.org/fhir/StructureDefinition/member-of"
		versioned    = "http://example.org/fhir/StructureDefinition/versioned"
		idTyped      = "http://example.org/fhir/StructureDefinition/id-typed"
		quantityOnly = "http://example.org/fhir/StructureDefinition/quantity-only"
	)
	v := inlineValidator(t,
		constraintOn(manifestOnly, "Bundle", `{"path":"Bundle.entry.resource","type":[{"code":"Resource","profile":["http://hl7.org/fhir/StructureDefinition/DocumentManifest"]}]}`),
		constraintOn(unknownType, "Patient", `{"path":"Patient.identifier","type":[{"code":"Identifier","profile":["http://example.org/fhir/StructureDefinition/nowhere"]}]}`),
		constraintOn(alternatives, "Patient", `{"path":"Patient.active","min":1,"extension":[{"url":"`+valueAlternativesExtension+`","valueCanonical":"http://hl7.org/fhir/StructureDefinition/data-absent-reason"}]}`),
		constraintOn(weight, "Observation", `{"path":"Observation.value[x]","minValueQuantity":{"value":0,"system":"http://unitsofmeasure.org","code":"kg"},"maxValueQuantity":{"value":10,"system":"http://unitsofmeasure.org","code":"kg"}}`),
		constraintOn(member, "Basic", `{"path":"Basic.code","constraint":[{"key":"mo-1","severity":"error","human":"must be in the value set","expression":"memberOf('http://hl7.org/fhir/ValueSet/allergy-intolerance-criticality')"}]}`),
		strings.Replace(constraintOn(versioned, "Patient", `{"path":"Patient.name","max":"0"}`), `"name":"Test"`, `"name":"Test","version":"0.2.1"`, 1),
		constraintOn(idTyped, "Patient", `{"path":"Patient.id","type":[{"code":"id"}]}`),
		constraintOn(quantityOnly, "Observation", `{"path":"Observation.value[x]","type":[{"code":"Quantity"}],"binding":{"strength":"required","valueSet":"http://hl7.org/fhir/ValueSet/administrative-gender"}}`),
	)
	bundle := func(res string) string {
		return `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"http://example.org/fhir/x/1","resource":` + res + `}]}`
	}
	obs := func(value string) string {
		return `{"resourceType":"Observation",` + narrative + `,"status":"final","code":{"text":"weight"},"valueQuantity":` + value + `}`
	}
	runProfileCases(t, v, []profileCase{
		{name: "resource of the profiled type", profiles: []string{manifestOnly},
			json: bundle(`{"resourceType":"DocumentManifest",` + narrative + `,"status":"current","content":[{"display":"x"}]}`)},
		{name: "resource of another type", profiles: []string{manifestOnly},
			json: bundle(`{"resourceType":"Basic",` + narrative + `,"code":{"text":"x"}}`),
			want: []issueWant{{"error", "structure", "Bundle.entry[0].resource", "The type 'Basic' is not valid - must be DocumentManifest"}}},
		{name: "unknown type profile", profiles: []string{unknownType},
			json: `{"resourceType":"Patient",` + narrative + `,"identifier":[{"value":"1"}]}`,
			want: []issueWant{{"error", "structure", "Patient.identifier[0]", "Unknown profile http://example.org/fhir/StructureDefinition/nowhere"}}},
		{name: "value alternative present", profiles: []string{alternatives},
			json: `{"resourceType":"Patient",` + narrative + `,"_active":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]}}`},
		{name: "value alternative missing", profiles: []string{alternatives},
			json: `{"resourceType":"Patient",` + narrative + `,"_active":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/iso21090-nullFlavor","valueCode":"MSK"}]}}`,
			want: []issueWant{{"error", "invalid", "Patient.active", "if a value is not present, the extension http://hl7.org/fhir/StructureDefinition/data-absent-reason must be present"}}},
		{name: "quantity within limits after conversion", profiles: []string{weight},
			json: obs(`{"value":500,"unit":"g","system":"http://unitsofmeasure.org","code":"g"}`)},
		{name: "quantity below minimum after conversion", profiles: []string{weight},
			json: obs(`{"value":-1,"unit":"g","system":"http://unitsofmeasure.org","code":"g"}`),
			want: []issueWant{{"error", "value", "Observation.value", "less than the minimum"}}},
		{name: "quantity above maximum after conversion", profiles: []string{weight},
			json: obs(`{"value":11000,"unit":"g","system":"http://unitsofmeasure.org","code":"g"}`),
			want: []issueWant{{"error", "value", "Observation.value", "greater than the maximum"}}},
		{name: "memberOf in a profile constraint, member", profiles: []string{member},
			json: `{"resourceType":"Basic",` + narrative + `,"code":{"coding":[{"system":"http://hl7.org/fhir/allergy-intolerance-criticality","code":"low"}]}}`},
		{name: "memberOf in a profile constraint, not a member", profiles: []string{member},
			json: `{"resourceType":"Basic",` + narrative + `,"code":{"coding":[{"system":"http://hl7.org/fhir/allergy-intolerance-criticality","code":"bad"}]}}`,
			want: []issueWant{{"error", "invariant", "Basic.code", "mo-1"}}},
		{name: "a resource id typed as id", profiles: []string{idTyped},
			json: `{"resourceType":"Patient","id":"p1",` + narrative + `}`},
		{name: "a value of another type is not checked further", profiles: []string{quantityOnly},
			json: `{"resourceType":"Observation",` + narrative + `,"status":"final","code":{"text":"x"},"valueString":"test"}`,
			want: []issueWant{{"error", "structure", "Observation.value", "type string is not allowed here"}}},
		{name: "partial version names the latest patch", profiles: []string{versioned + "|0.2"},
			json: `{"resourceType":"Patient",` + narrative + `,"name":[{"family":"x"}]}`,
			want: []issueWant{{"error", "structure", "Patient.name", "maximum allowed = 0"}}},
	})
}

func TestModifierExtensionUse(t *testing.T) {
	ext := func(url string, modifier bool) string {
		m := "false"
		if modifier {
			m = "true"
		}
		return `{"resourceType":"StructureDefinition","url":"` + url + `","name":"Ext","status":"draft","kind":"complex-type","abstract":false,` +
			`"context":[{"type":"element","expression":"Patient"}],"type":"Extension","baseDefinition":"http://hl7.org/fhir/StructureDefinition/Extension",` +
			`"derivation":"constraint","differential":{"element":[{"path":"Extension","isModifier":` + m + `,"isModifierReason":"test"},` +
			`{"path":"Extension.url","fixedUri":"` + url + `"},{"path":"Extension.value[x]","type":[{"code":"boolean"}]}]}}`
	}
	const (
		plain    = "http://example.org/fhir/StructureDefinition/plain"
		modifier = "http://example.org/fhir/StructureDefinition/modifier"
	)
	v := inlineValidator(t, ext(plain, false), ext(modifier, true))
	pat := func(member, url string) string {
		return `{"resourceType":"Patient",` + narrative + `,"` + member + `":[{"url":"` + url + `","valueBoolean":true}]}`
	}
	runProfileCases(t, v, []profileCase{
		{name: "extension as extension", json: pat("extension", plain)},
		{name: "modifier as modifierExtension", json: pat("modifierExtension", modifier)},
		{name: "modifier as extension", json: pat("extension", modifier),
			want: []issueWant{{"error", "structure", "Patient.extension[0]", "must not be used as an extension (it's a modifierExtension)"}}},
		{name: "extension as modifierExtension", json: pat("modifierExtension", plain),
			want: []issueWant{{"error", "structure", "Patient.modifierExtension[0]", "must not be used as a modifierExtension (it's a regular extension)"}}},
	})
}
