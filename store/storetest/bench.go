package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/search"
	"github.com/concord-health/concord/store"
)

// BenchTxSize is how many resources BenchPut writes per transaction, as an import does.
const BenchTxSize = 100

// BenchPut measures the store's write path: Synthea-like Observations of about 1.5 KB with
// 20 index rows each, written in transactions of BenchTxSize, reported as resources/s.
// Parsing and index extraction happen outside the timer; they are not the store's work.
func BenchPut(b *testing.B, open func(tb testing.TB) store.Store) {
	s := open(b)
	ctx := context.Background()
	templates := make([]*fhir.Resource, BenchTxSize)
	indexes := make([]*search.Index, BenchTxSize)
	for i := range templates {
		templates[i] = parse(b, benchObservation(i))
		indexes[i] = benchIndex(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for n < b.N {
		batch := min(BenchTxSize, b.N-n)
		err := s.Update(ctx, func(tx store.Tx) error {
			for i := range batch {
				r := templates[i]
				r.SetID(fmt.Sprintf("obs-%d", n+i))
				if _, err := tx.Put(ctx, &store.Put{Resource: r, Index: indexes[i]}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		n += batch
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resources/s")
}

func benchObservation(i int) string {
	return fmt.Sprintf(`{"resourceType":"Observation","id":"t%d","status":"final",
"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs","display":"vital-signs"}]}],
"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"},{"system":"http://snomed.info/sct","code":"364075005","display":"Heart rate"}],"text":"Heart rate"},
"subject":{"reference":"Patient/9d3b1c3e-6b0e-4a3f-8a56-%012d"},
"encounter":{"reference":"Encounter/1f0b1c3e-6b0e-4a3f-8a56-%012d"},
"effectiveDateTime":"2019-03-1%dT10:15:00+00:00","issued":"2019-03-1%dT10:15:00.123+00:00",
"performer":[{"reference":"Practitioner/0000016f-57cb-cdc5-0000-00000000%04d"}],
"valueQuantity":{"value":%d,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"},
"interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"N","display":"Normal"}]}],
"referenceRange":[{"low":{"value":60,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"},"high":{"value":100,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"},"text":"60-100 /min"}],
"note":[{"text":"Resting heart rate measured at the community clinic; patient seated for five minutes beforehand, no recent caffeine or exercise, rhythm regular on palpation."}]}`,
		i, i%1000, i, i%10, i%10, 60+i%40, i%10000)
}

func benchIndex(i int) *search.Index {
	p := func(code string) int64 { return search.ParamID("Observation", code) }
	patientID := fmt.Sprintf("9d3b1c3e-6b0e-4a3f-8a56-%012d", i%1000)
	day := int64(1552600000000000 + int64(i)*1000000)
	return &search.Index{
		Tokens: []search.TokenRow{
			{Param: p("code"), System: "http://loinc.org", Code: "8867-4"},
			{Param: p("code"), System: "http://snomed.info/sct", Code: "364075005"},
			{Param: p("category"), System: "http://terminology.hl7.org/CodeSystem/observation-category", Code: "vital-signs"},
			{Param: p("status"), System: "http://hl7.org/fhir/observation-status", Code: "final"},
			{Param: p("combo-code"), System: "http://loinc.org", Code: "8867-4"},
			{Param: p("combo-code"), System: "http://snomed.info/sct", Code: "364075005"},
			{Param: p("_id"), Code: fmt.Sprintf("t%d", i)},
			{Param: p("value-concept"), System: "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", Code: "N"},
		},
		Strings: []search.StringRow{
			{Param: search.TextParamID("Observation", "code"), Norm: "heart rate", Exact: "Heart rate"},
		},
		References: []search.ReferenceRow{
			{Param: p("subject"), TargetType: "Patient", TargetID: patientID},
			{Param: p("patient"), TargetType: "Patient", TargetID: patientID},
			{Param: p("encounter"), TargetType: "Encounter", TargetID: fmt.Sprintf("1f0b1c3e-6b0e-4a3f-8a56-%012d", i)},
			{Param: p("performer"), TargetType: "Practitioner", TargetID: fmt.Sprintf("0000016f-57cb-cdc5-0000-00000000%04d", i%10000)},
		},
		Dates: []search.DateRow{
			{Param: p("date"), Lo: day, Hi: day + 59999999},
			{Param: p("_lastUpdated"), Lo: day, Hi: day},
		},
		Quantities: []search.QuantityRow{
			{Param: p("value-quantity"), System: "http://unitsofmeasure.org", Code: "/min", Unit: "/min", Value: float64(60 + i%40), Lo: float64(60+i%40) - 0.5, Hi: float64(60+i%40) + 0.5},
		},
		Composites: []search.CompositeRow{
			{Param: p("code-value-quantity"), Parts: []search.CompositePart{
				{System: "http://loinc.org", Code: "8867-4"},
				{System: "http://unitsofmeasure.org", Code: "/min", Lo: float64(60+i%40) - 0.5, Hi: float64(60+i%40) + 0.5}}},
		},
		URIs:     []search.URIRow{{Param: p("_profile"), URI: "http://hl7.org/fhir/StructureDefinition/heartrate"}},
		Patients: []string{patientID},
	}
}
