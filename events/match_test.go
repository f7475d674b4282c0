package events

import (
	"context"
	"testing"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
)

// TestInMemoryMatchesSearch: criteria decided in memory give the verdict the server's own
// search gives, resource by resource.
func TestInMemoryMatchesSearch(t *testing.T) {
	st := backends()[0].open(t)
	svc := newService(t, st)
	resources := []string{
		`{"resourceType":"Patient","id":"p1","name":[{"family":"Smith","given":["Anne"]}]}`,
		`{"resourceType":"Patient","id":"p2","name":[{"family":"Smithson","given":["Jöns"]}]}`,
		`{"resourceType":"Patient","id":"p3","name":[{"family":"O'Brien"}]}`,
		`{"resourceType":"Observation","id":"o1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/p1"}}`,
		`{"resourceType":"Observation","id":"o2","status":"amended","code":{"coding":[{"system":"http://loinc.org","code":"8310-5"},{"system":"http://snomed.info/sct","code":"386725007"}]},"subject":{"reference":"Patient/p2"}}`,
		`{"resourceType":"Observation","id":"o3","status":"preliminary","code":{"coding":[{"code":"8867-4"}]},"subject":{"reference":"Patient/p1"},"identifier":[{"system":"urn:sys","value":"123"}]}`,
		`{"resourceType":"Observation","id":"o4","status":"final","code":{"text":"free text"},"subject":{"reference":"Group/g1"}}`,
		`{"resourceType":"Observation","id":"o5","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2024-03-05T10:00:00Z","valueQuantity":{"value":72,"unit":"beats/minute","system":"http://unitsofmeasure.org","code":"/min"}}`,
		`{"resourceType":"Observation","id":"o6","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/p2"},"effectivePeriod":{"start":"2023-12-30","end":"2024-01-02"},"valueQuantity":{"value":130.5,"unit":"/min"}}`,
		`{"resourceType":"RiskAssessment","id":"r1","status":"final","subject":{"reference":"Patient/p1"},"prediction":[{"probabilityDecimal":0.25}]}`,
		`{"resourceType":"ValueSet","id":"v1","status":"active","url":"http://example.org/fhir/ValueSet/a/b"}`,
		encounterJSON("e1", "finished", "p1"),
		encounterJSON("e2", "in-progress", "p2"),
	}
	ids := map[string][]string{}
	for _, js := range resources {
		res, err := fhir.Parse([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		do(t, svc, "PUT", res.Type+"/"+res.ID, js)
		ids[res.Type] = append(ids[res.Type], res.ID)
	}
	d, err := NewDispatcher(st, svc, Options{Extractor: sharedExtractor(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, criteria := range []string{
		"Observation?code=8867-4",
		"Observation?code=http://loinc.org|8867-4",
		"Observation?code=|8867-4",
		"Observation?code=http://loinc.org|",
		"Observation?code=http://snomed.info/sct|386725007,http://loinc.org|8867-4",
		"Observation?subject=Patient/p1",
		"Observation?subject=p1",
		"Observation?subject:Patient=p1",
		"Observation?subject=Group/g1",
		"Observation?patient=p1&status=final",
		"Observation?status=final,amended",
		"Observation?_id=o1,o2",
		"Observation?identifier=urn:sys|123",
		"Observation?identifier=123",
		"Observation",
		"Patient?family=smi",
		"Patient?family=SMITHSON",
		"Patient?family:exact=Smith",
		"Patient?family:exact=smith",
		"Patient?family:contains=mit",
		"Patient?name=jons",
		"Patient?name=o'b",
		"Patient?given=anne&family=smith",
		"Encounter?status=finished&class=IMP",
		"Observation?date=2024",
		"Observation?date=2024-03-05",
		"Observation?date=ge2024-01-01",
		"Observation?date=lt2024-01-01",
		"Observation?date=gt2024-01-01T12:00:00Z",
		"Observation?date=le2024-01-02",
		"Observation?date=ne2024-03-05",
		"Observation?date=sa2023-12-31",
		"Observation?date=eb2024-03-06",
		"Observation?date=ap2024-03-01",
		"Observation?value-quantity=72",
		"Observation?value-quantity=gt100",
		"Observation?value-quantity=le72|http://unitsofmeasure.org|/min",
		"Observation?value-quantity=130.5||/min",
		"Observation?value-quantity=ap130",
		"Observation?value-quantity=ne72",
		"Observation?code=8867-4&value-quantity=ge70&date=ge2024",
		"RiskAssessment?probability=0.25",
		"RiskAssessment?probability=gt0.2",
		"RiskAssessment?probability=lt0.2",
		"ValueSet?url=http://example.org/fhir/ValueSet/a/b",
		"ValueSet?url:below=http://example.org/fhir/ValueSet",
		"ValueSet?url:below=http://example.org/fhir/Value",
		"ValueSet?url:above=http://example.org/fhir/ValueSet/a/b/c",
		"Encounter?status=finished&class=http://terminology.hl7.org/CodeSystem/v3-ActCode|AMB",
	} {
		s, err := ParseSubscription(definitions.R4(), []byte(subscriptionJSONFor("x", "requested", criteria, "https://h.example.org/", "")))
		if err != nil {
			t.Fatalf("%s: %v", criteria, err)
		}
		c := compileCriteria(definitions.R4(), s)
		if !c.inMemory {
			t.Errorf("%s: not decided in memory", criteria)
			continue
		}
		matched := 0
		for _, id := range ids[s.Type] {
			rec, err := st.Read(ctx, s.Type, id)
			if err != nil {
				t.Fatal(err)
			}
			ix, err := d.indexOf(rec.Body)
			if err != nil {
				t.Fatal(err)
			}
			mem, err := d.matches(ctx, c, id, ix)
			if err != nil {
				t.Fatal(err)
			}
			db, err := d.searchMatch(ctx, c, id)
			if err != nil {
				t.Fatalf("%s: %v", criteria, err)
			}
			if mem != db {
				t.Errorf("%s on %s/%s: in memory %v, search %v", criteria, s.Type, id, mem, db)
			}
			if db {
				matched++
			}
			// The group index offers every group a match could belong to.
			mi := newMatchIndex()
			mi.add(c, &worker{id: "x"})
			offered := false
			for _, g := range mi.types[s.Type].candidates(s.Type, id, ix) {
				offered = offered || g.c == c
			}
			if db && !offered {
				t.Errorf("%s on %s/%s: matches, but the index does not offer it", criteria, s.Type, id)
			}
		}
		t.Logf("%s: %d of %d match", criteria, matched, len(ids[s.Type]))
	}
}
