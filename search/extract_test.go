package search

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/fhir/fhirpath"
)

const sharedData = "../../shared/data"

var testExtractor = sync.OnceValues(func() (*Extractor, error) { return NewExtractor(definitions.R4()) })

func extractor(t testing.TB) *Extractor {
	t.Helper()
	x, err := testExtractor()
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func mustParse(t testing.TB, js string) *fhir.Resource {
	t.Helper()
	res, err := fhir.Parse([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func micros(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMicro()
}

// rowsOf keeps the rows of the given parameter id from every slice of an index.
func rowsOf(idx *Index, param int64) *Index {
	out := &Index{}
	for _, r := range idx.Strings {
		if r.Param == param {
			out.Strings = append(out.Strings, r)
		}
	}
	for _, r := range idx.Tokens {
		if r.Param == param {
			out.Tokens = append(out.Tokens, r)
		}
	}
	for _, r := range idx.Dates {
		if r.Param == param {
			out.Dates = append(out.Dates, r)
		}
	}
	for _, r := range idx.Numbers {
		if r.Param == param {
			out.Numbers = append(out.Numbers, r)
		}
	}
	for _, r := range idx.Quantities {
		if r.Param == param {
			out.Quantities = append(out.Quantities, r)
		}
	}
	for _, r := range idx.References {
		if r.Param == param {
			out.References = append(out.References, r)
		}
	}
	for _, r := range idx.URIs {
		if r.Param == param {
			out.URIs = append(out.URIs, r)
		}
	}
	for _, r := range idx.Composites {
		if r.Param == param {
			out.Composites = append(out.Composites, r)
		}
	}
	return out
}

func jsonOf(v any) string { return fmt.Sprintf("%+v", v) }

const patientJSON = `{
  "resourceType": "Patient", "id": "p1",
  "meta": {"tag": [{"system": "http://example.org/tags", "code": "vip", "display": "Very important"}],
           "profile": ["http://hl7.org/fhir/StructureDefinition/Patient|4.0.1"], "source": "http://ehr.example/a"},
  "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009", "type": {"text": "NHS number"}}],
  "active": true,
  "name": [{"use": "official", "family": "Ångström", "given": ["Zoë", "Anne"], "prefix": ["Dr."]},
           {"text": "Zoe Angstrom", "given": ["Zoë"]}],
  "telecom": [{"system": "phone", "value": "0113 496 0000"}],
  "gender": "female",
  "birthDate": "1980-02",
  "address": [{"line": ["1 Main St"], "city": "Leeds", "postalCode": "LS1 1AA", "country": "UK"}],
  "generalPractitioner": [{"reference": "Practitioner/gp1"}, {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "B82001"}}],
  "managingOrganization": {"reference": "https://other.example/fhir/Organization/org9/_history/3"}
}`

const observationJSON = `{
  "resourceType": "Observation", "id": "bp", "status": "final",
  "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9", "display": "Blood pressure panel"}], "text": "BP"},
  "subject": {"reference": "Patient/p1"},
  "performer": [{"reference": "Patient/p1"}, {"reference": "#c1"}, {"reference": "urn:uuid:3c0b1c2e-4b51-4a62-9f4c-8e7d1a2b3c4d"}],
  "effectiveDateTime": "2020-03-04T10:00:00+01:00",
  "valueQuantity": {"value": 1.5e2, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"},
  "component": [
    {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}, "valueQuantity": {"value": 120, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
    {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]}, "valueQuantity": {"value": 80.0, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}
  ]
}`

const medicationRequestJSON = `{
  "resourceType": "MedicationRequest", "id": "mr1", "status": "active", "intent": "order",
  "medicationCodeableConcept": {"coding": [{"system": "https://dmd.nhs.uk", "code": "39720311000001101"}]},
  "subject": {"reference": "Patient/p1"},
  "authoredOn": "2021-06-01",
  "requester": {"reference": "Practitioner/dr1"},
  "dispenseRequest": {"validityPeriod": {"start": "2021-06-01"}}
}`

const conditionJSON = `{
  "resourceType": "Condition", "id": "c1",
  "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
  "code": {"text": "Asthma"},
  "subject": {"reference": "Patient/p1"},
  "onsetPeriod": {"start": "2019-05-01T08:30:00Z"},
  "abatementAge": {"value": 40, "unit": "years", "system": "http://unitsofmeasure.org", "code": "a"}
}`

const claimJSON = `{
  "resourceType": "Claim", "id": "cl1", "status": "active", "use": "claim",
  "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
  "patient": {"reference": "Patient/p1"}, "created": "2021-01-01T00:00:00Z",
  "provider": {"reference": "Organization/o1"},
  "priority": {"coding": [{"code": "normal"}]},
  "insurance": [{"sequence": 1, "focal": true, "coverage": {"reference": "Coverage/cov1"}}],
  "total": {"value": 12.50, "currency": "GBP"}
}`

const riskJSON = `{
  "resourceType": "RiskAssessment", "id": "r1", "status": "final",
  "subject": {"reference": "Patient/p1"},
  "prediction": [{"probabilityRange": {"low": {"value": 0.1}, "high": {"value": 0.25}}}]
}`

const chargeItemJSON = `{
  "resourceType": "ChargeItem", "id": "ci1", "status": "billable",
  "code": {"text": "consultation"}, "subject": {"reference": "Patient/p2"},
  "factorOverride": 0.8, "priceOverride": {"value": 12.50, "currency": "GBP"}
}`

const groupJSON = `{
  "resourceType": "Group", "id": "g1", "type": "person", "actual": true,
  "characteristic": [{"code": {"coding": [{"system": "http://snomed.info/sct", "code": "397669002"}]},
    "valueBoolean": true, "exclude": false}],
  "member": [{"entity": {"reference": "Patient/p1"}}, {"entity": {"reference": "Patient/p2"}}, {"entity": {"reference": "Patient/p1"}}]
}`

const valueSetJSON = `{
  "resourceType": "ValueSet", "id": "vs1", "url": "http://example.org/ValueSet/adults", "status": "active",
  "useContext": [{"code": {"system": "http://terminology.hl7.org/CodeSystem/usage-context-type", "code": "age"},
    "valueRange": {"low": {"value": 18, "unit": "yr", "system": "http://unitsofmeasure.org", "code": "a"},
                   "high": {"value": 65, "unit": "yr", "system": "http://unitsofmeasure.org", "code": "a"}}}]
}`

func TestExtract(t *testing.T) {
	x := extractor(t)
	type check struct {
		code string
		want Index
	}
	tests := []struct {
		name, json string
		checks     []check
		patients   []string
	}{
		{"patient", patientJSON, []check{
			{"family", Index{Strings: []StringRow{{Norm: "angstrom", Exact: "Ångström"}}}},
			{"given", Index{Strings: []StringRow{{Norm: "zoe", Exact: "Zoë"}, {Norm: "anne", Exact: "Anne"}}}},
			{"name", Index{Strings: []StringRow{{Norm: "angstrom", Exact: "Ångström"}, {Norm: "zoe", Exact: "Zoë"}, {Norm: "anne", Exact: "Anne"}, {Norm: "dr.", Exact: "Dr."}, {Norm: "zoe angstrom", Exact: "Zoe Angstrom"}}}},
			{"address-postalcode", Index{Strings: []StringRow{{Norm: "ls1 1aa", Exact: "LS1 1AA"}}}},
			{"identifier", Index{Tokens: []TokenRow{{System: "https://fhir.nhs.uk/Id/nhs-number", Code: "9000000009"}}}},
			{"identifier:text", Index{Strings: []StringRow{{Norm: "nhs number", Exact: "NHS number"}}}},
			{"active", Index{Tokens: []TokenRow{{Code: "true"}}}},
			{"gender", Index{Tokens: []TokenRow{{Code: "female"}}}},
			{"phone", Index{Tokens: []TokenRow{{Code: "0113 496 0000"}}}},
			{"birthdate", Index{Dates: []DateRow{{Lo: micros("1980-02-01T00:00:00Z"), Hi: micros("1980-03-01T00:00:00Z") - 1}}}},
			{"general-practitioner", Index{References: []ReferenceRow{{TargetType: "Practitioner", TargetID: "gp1"}}}},
			{"general-practitioner:identifier", Index{Tokens: []TokenRow{{System: "https://fhir.nhs.uk/Id/ods-organization-code", Code: "B82001"}}}},
			{"organization", Index{References: []ReferenceRow{{TargetType: "Organization", TargetID: "org9", URL: "https://other.example/fhir/Organization/org9/_history/3"}}}},
			{"_tag", Index{Tokens: []TokenRow{{System: "http://example.org/tags", Code: "vip"}}}},
			{"_tag:text", Index{Strings: []StringRow{{Norm: "very important", Exact: "Very important"}}}},
			{"_profile", Index{URIs: []URIRow{{URI: "http://hl7.org/fhir/StructureDefinition/Patient|4.0.1"}}}},
			{"_source", Index{URIs: []URIRow{{URI: "http://ehr.example/a"}}}},
			{"_id", Index{}},
		}, []string{"p1"}},
		{"observation", observationJSON, []check{
			{"code", Index{Tokens: []TokenRow{{System: "http://loinc.org", Code: "85354-9"}}}},
			{"code:text", Index{Strings: []StringRow{{Norm: "blood pressure panel", Exact: "Blood pressure panel"}, {Norm: "bp", Exact: "BP"}}}},
			{"value-quantity", Index{Quantities: []QuantityRow{{System: "http://unitsofmeasure.org", Code: "mm[Hg]", Unit: "mmHg", Value: 150, Lo: 145, Hi: 155}}}},
			{"component-value-quantity", Index{Quantities: []QuantityRow{
				{System: "http://unitsofmeasure.org", Code: "mm[Hg]", Unit: "mmHg", Value: 120, Lo: 119.5, Hi: 120.5},
				{System: "http://unitsofmeasure.org", Code: "mm[Hg]", Unit: "mmHg", Value: 80, Lo: 79.95, Hi: 80.05}}}},
			{"component-code-value-quantity", Index{Composites: []CompositeRow{
				{Parts: []CompositePart{{System: "http://loinc.org", Code: "8480-6"}, {System: "http://unitsofmeasure.org", Code: "mm[Hg]", Lo: 119.5, Hi: 120.5}}},
				{Parts: []CompositePart{{System: "http://loinc.org", Code: "8462-4"}, {System: "http://unitsofmeasure.org", Code: "mm[Hg]", Lo: 79.95, Hi: 80.05}}}}}},
			{"date", Index{Dates: []DateRow{{Lo: micros("2020-03-04T09:00:00Z"), Hi: micros("2020-03-04T09:00:01Z") - 1}}}},
			{"subject", Index{References: []ReferenceRow{{TargetType: "Patient", TargetID: "p1"}}}},
			{"patient", Index{References: []ReferenceRow{{TargetType: "Patient", TargetID: "p1"}}}},
			{"performer", Index{References: []ReferenceRow{{TargetType: "Patient", TargetID: "p1"}, {URL: "urn:uuid:3c0b1c2e-4b51-4a62-9f4c-8e7d1a2b3c4d"}}}},
			{"status", Index{Tokens: []TokenRow{{Code: "final"}}}},
		}, []string{"p1"}},
		{"medication request", medicationRequestJSON, []check{
			{"code", Index{Tokens: []TokenRow{{System: "https://dmd.nhs.uk", Code: "39720311000001101"}}}},
			{"authoredon", Index{Dates: []DateRow{{Lo: micros("2021-06-01T00:00:00Z"), Hi: micros("2021-06-02T00:00:00Z") - 1}}}},
			{"requester", Index{References: []ReferenceRow{{TargetType: "Practitioner", TargetID: "dr1"}}}},
			{"intent", Index{Tokens: []TokenRow{{Code: "order"}}}},
		}, []string{"p1"}},
		{"condition", conditionJSON, []check{
			{"onset-date", Index{Dates: []DateRow{{Lo: micros("2019-05-01T08:30:00Z"), Hi: math.MaxInt64}}}},
			{"abatement-age", Index{Quantities: []QuantityRow{{System: "http://unitsofmeasure.org", Code: "a", Unit: "years", Value: 40, Lo: 39.5, Hi: 40.5}}}},
			{"code:text", Index{Strings: []StringRow{{Norm: "asthma", Exact: "Asthma"}}}},
			{"clinical-status", Index{Tokens: []TokenRow{{System: "http://terminology.hl7.org/CodeSystem/condition-clinical", Code: "active"}}}},
		}, []string{"p1"}},
		{"money", claimJSON, []check{
			{"created", Index{Dates: []DateRow{{Lo: micros("2021-01-01T00:00:00Z"), Hi: micros("2021-01-01T00:00:01Z") - 1}}}},
			{"priority", Index{Tokens: []TokenRow{{Code: "normal"}}}},
		}, []string{"p1"}},
		{"number range", riskJSON, []check{
			{"probability", Index{Numbers: []NumberRow{{Value: 0.1, Lo: 0.1, Hi: 0.25}}}},
		}, []string{"p1"}},
		{"money", chargeItemJSON, []check{
			{"price-override", Index{Quantities: []QuantityRow{{System: "urn:iso:std:iso:4217", Code: "GBP", Value: 12.5, Lo: 12.495, Hi: 12.505}}}},
			{"factor-override", Index{Numbers: []NumberRow{{Value: 0.8, Lo: 0.75, Hi: 0.85}}}},
			{"subject", Index{References: []ReferenceRow{{TargetType: "Patient", TargetID: "p2"}}}},
		}, []string{"p2"}},
		{"group", groupJSON, []check{
			{"member", Index{References: []ReferenceRow{{TargetType: "Patient", TargetID: "p1"}, {TargetType: "Patient", TargetID: "p2"}}}},
			{"characteristic-value", Index{Composites: []CompositeRow{{Parts: []CompositePart{{System: "http://snomed.info/sct", Code: "397669002"}, {Code: "true"}}}}}},
		}, []string{"p1", "p2"}},
		{"quantity range", valueSetJSON, []check{
			{"context-quantity", Index{Quantities: []QuantityRow{{System: "http://unitsofmeasure.org", Code: "a", Unit: "yr", Value: 18, Lo: 18, Hi: 65}}}},
			{"context-type-quantity", Index{Composites: []CompositeRow{{Parts: []CompositePart{{System: "http://terminology.hl7.org/CodeSystem/usage-context-type", Code: "age"}, {System: "http://unitsofmeasure.org", Code: "a", Lo: 18, Hi: 65}}}}}},
			{"url", Index{URIs: []URIRow{{URI: "http://example.org/ValueSet/adults"}}}},
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustParse(t, tt.json)
			idx := x.Extract(res)
			for _, c := range tt.checks {
				got := rowsOf(idx, ParamID(res.Type, c.code))
				want := c.want
				setParam(&want, ParamID(res.Type, c.code))
				if jsonOf(normalizeEmpty(got)) != jsonOf(normalizeEmpty(&want)) {
					t.Errorf("%s:\n got  %s\n want %s", c.code, jsonOf(got), jsonOf(&want))
				}
			}
			if !reflect.DeepEqual(idx.Patients, tt.patients) {
				t.Errorf("Patients = %v, want %v", idx.Patients, tt.patients)
			}
		})
	}
}

func setParam(idx *Index, p int64) {
	for i := range idx.Strings {
		idx.Strings[i].Param = p
	}
	for i := range idx.Tokens {
		idx.Tokens[i].Param = p
	}
	for i := range idx.Dates {
		idx.Dates[i].Param = p
	}
	for i := range idx.Numbers {
		idx.Numbers[i].Param = p
	}
	for i := range idx.Quantities {
		idx.Quantities[i].Param = p
	}
	for i := range idx.References {
		idx.References[i].Param = p
	}
	for i := range idx.URIs {
		idx.URIs[i].Param = p
	}
	for i := range idx.Composites {
		idx.Composites[i].Param = p
	}
}

// normalizeEmpty makes empty and nil slices compare equal.
func normalizeEmpty(idx *Index) *Index {
	c := *idx
	if len(c.Strings) == 0 {
		c.Strings = nil
	}
	if len(c.Tokens) == 0 {
		c.Tokens = nil
	}
	if len(c.Dates) == 0 {
		c.Dates = nil
	}
	if len(c.Numbers) == 0 {
		c.Numbers = nil
	}
	if len(c.Quantities) == 0 {
		c.Quantities = nil
	}
	if len(c.References) == 0 {
		c.References = nil
	}
	if len(c.URIs) == 0 {
		c.URIs = nil
	}
	if len(c.Composites) == 0 {
		c.Composites = nil
	}
	return &c
}

func synthea(t testing.TB) []*fhir.Resource {
	files, _ := filepath.Glob(filepath.Join(sharedData, "synthea", "bundles", "*.json"))
	if len(files) == 0 {
		t.Skip("Synthea bundles not found under " + sharedData)
	}
	var out []*fhir.Resource
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var b struct {
			Entry []struct {
				Resource json.RawMessage `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(data, &b); err != nil {
			t.Fatal(err)
		}
		for _, e := range b.Entry {
			res, err := fhir.Parse(e.Resource)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			out = append(out, res)
		}
	}
	return out
}

func officialExamples(t testing.TB) []*fhir.Resource {
	files, _ := filepath.Glob(filepath.Join(sharedData, "fhir-r4-examples", "package", "*.json"))
	if len(files) == 0 {
		t.Skip("official examples not found under " + sharedData)
	}
	var out []*fhir.Resource
	for _, f := range files {
		if filepath.Base(f) == "package.json" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := fhir.Parse(data); err == nil {
			out = append(out, res)
		}
	}
	return out
}

// TestExtractCorpus indexes every official example and every Synthea resource; a failing
// expression must not stop the rest of a resource from being indexed, and nothing may panic.
func TestExtractCorpus(t *testing.T) {
	x := extractor(t)
	for _, set := range []struct {
		name string
		load func(testing.TB) []*fhir.Resource
	}{{"examples", officialExamples}, {"synthea", synthea}} {
		t.Run(set.name, func(t *testing.T) {
			resources := set.load(t)
			rows := 0
			for _, res := range resources {
				env := &fhirpath.Env{Resource: res.Root}
				for _, p := range x.byType[res.Type].params {
					if _, err := p.expr.EvaluateWith(res.Root, env); err != nil {
						t.Errorf("%s/%s %s: %v", res.Type, res.ID, p.code, err)
					}
				}
				idx := x.Extract(res)
				rows += len(idx.Strings) + len(idx.Tokens) + len(idx.Dates) + len(idx.Numbers) + len(idx.Quantities) + len(idx.References) + len(idx.URIs) + len(idx.Composites)
				if res.Type == "Patient" && (len(idx.Patients) != 1 || idx.Patients[0] != res.ID) {
					t.Errorf("Patient/%s: Patients = %v", res.ID, idx.Patients)
				}
			}
			t.Logf("%d resources, %d rows", len(resources), rows)
		})
	}
}

// TestExtractLOINCCount checks the token rows against a count made straight from the JSON.
func TestExtractLOINCCount(t *testing.T) {
	x := extractor(t)
	resources := synthea(t)
	want := TokenRow{Param: ParamID("Observation", "code"), System: "http://loinc.org", Code: "8302-2"}
	direct, indexed := 0, 0
	for _, res := range resources {
		if res.Type != "Observation" {
			continue
		}
		for _, c := range res.Root.First("code").Child("coding") {
			if c.Text("system") == "http://loinc.org" && c.Text("code") == "8302-2" {
				direct++
				break
			}
		}
		for _, r := range x.Extract(res).Tokens {
			if r == want {
				indexed++
			}
		}
	}
	if direct == 0 {
		t.Fatal("no body-height observations in the Synthea bundles")
	}
	if direct != indexed {
		t.Fatalf("%d observations have LOINC 8302-2, %d have the token row", direct, indexed)
	}
	t.Logf("%d body-height observations", direct)
}

func TestNormalizeString(t *testing.T) {
	for in, want := range map[string]string{
		"Zoë Ångström":  "zoe angstrom",
		"MÜLLER-Straße": "muller-strasse",
		"Łódź":          "lodz",
		"O'Brien, Jr.":  "o'brien, jr.",
		"ＡＢＣ":           "ａｂｃ",
		"e\u0301":       "e",
		"plain":         "plain",
	} {
		if got := NormalizeString(in); got != want {
			t.Errorf("NormalizeString(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseInstantRange(t *testing.T) {
	for _, tt := range []struct {
		in     string
		lo, hi string // hi exclusive
	}{
		{"2020", "2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"},
		{"2020-02", "2020-02-01T00:00:00Z", "2020-03-01T00:00:00Z"},
		{"2020-02-29", "2020-02-29T00:00:00Z", "2020-03-01T00:00:00Z"},
		{"2020-02-29T10:00:00", "2020-02-29T10:00:00Z", "2020-02-29T10:00:01Z"},
		{"2020-02-29T10:00:00-05:00", "2020-02-29T15:00:00Z", "2020-02-29T15:00:01Z"},
		{"2020-02-29T10:00:00.5Z", "2020-02-29T10:00:00.5Z", "2020-02-29T10:00:00.6Z"},
		{"2020-02-29T10:00:00.123Z", "2020-02-29T10:00:00.123Z", "2020-02-29T10:00:00.124Z"},
	} {
		lo, hi, ok := parseInstantRange(tt.in)
		if !ok || lo != micros(tt.lo) || hi != micros(tt.hi)-1 {
			t.Errorf("%s: got [%d, %d] %v, want [%d, %d)", tt.in, lo, hi, ok, micros(tt.lo), micros(tt.hi))
		}
	}
}

func BenchmarkExtract(b *testing.B) {
	x := extractor(b)
	resources := synthea(b)
	b.ResetTimer()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for _, res := range resources {
			x.Extract(res)
		}
		n += len(resources)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "resources/s")
}

// TestExtractConcurrent shares one Extractor between goroutines (run with -race).
func TestExtractConcurrent(t *testing.T) {
	x := extractor(t)
	resources := officialExamples(t)
	want := make([]string, len(resources))
	for i, res := range resources {
		want[i] = jsonOf(x.Extract(res))
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, res := range resources {
				if got := jsonOf(x.Extract(res)); got != want[i] {
					t.Errorf("%s/%s: concurrent extraction differs", res.Type, res.ID)
					return
				}
			}
		}()
	}
	wg.Wait()
}
