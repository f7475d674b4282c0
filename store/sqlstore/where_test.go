package sqlstore_test

import (
	"context"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/search"
	"github.com/concord-health/concord/store"
	"github.com/concord-health/concord/store/sqlite"
	"github.com/concord-health/concord/store/sqlstore"
)

// whereFixture is a small record whose values sit on the boundaries the tests probe: dates
// of year, month, day and second precision, a period, numbers of different precision,
// quantities in two units, accented names, references written relative, absolute, as a
// canonical and as an identifier only, and a Group whose id equals a Patient's.
var whereFixture = []string{
	`{"resourceType":"Organization","id":"o1","name":"Acme Health"}`,
	`{"resourceType":"Organization","id":"o2","name":"Beta Clinic"}`,
	`{"resourceType":"Organization","id":"o3","name":"Acme Gone"}`,
	`{"resourceType":"Patient","id":"p1","meta":{"profile":["http://p/Patient"],"tag":[{"system":"http://t","code":"vip"}]},
		"active":true,"identifier":[{"system":"urn:oid:1","value":"12345"}],
		"name":[{"family":"Chalmers","given":["Peter","James"]}],"gender":"male","birthDate":"1974-12-25",
		"managingOrganization":{"reference":"Organization/o1"}}`,
	`{"resourceType":"Patient","id":"p2","name":[{"family":"Smith","given":["Anne"]}],"gender":"female",
		"birthDate":"1980-06","managingOrganization":{"reference":"Organization/o2"}}`,
	`{"resourceType":"Patient","id":"p3","name":[{"family":"Müller","given":["Zoë"]}],
		"managingOrganization":{"reference":"Organization/o3"}}`,
	`{"resourceType":"Patient","id":"p4","name":[{"family":"O'Brien"}],"gender":"other","birthDate":"1974"}`,
	`{"resourceType":"Group","id":"p1","type":"person","actual":true}`,
	`{"resourceType":"Location","id":"l1","name":"Ward 7"}`,
	`{"resourceType":"Observation","id":"obs1","status":"final",
		"code":{"coding":[{"system":"http://loinc.org","code":"1234-5","display":"Glucose"}],"text":"Blood glucose"},
		"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2020-01-01T10:00:00Z",
		"valueQuantity":{"value":5.4,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"}}`,
	`{"resourceType":"Observation","id":"obs2","status":"preliminary",
		"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},
		"subject":{"reference":"Patient/p2"},"effectivePeriod":{"start":"2020-01-01","end":"2020-01-31"},
		"valueQuantity":{"value":120,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}}`,
	`{"resourceType":"Observation","id":"obs3","status":"final",
		"code":{"coding":[{"system":"http://loinc.org","code":"9999-9"}]},
		"subject":{"reference":"Group/p1"},"effectiveDateTime":"2021",
		"valueQuantity":{"value":7,"unit":"mmol/L"}}`,
	`{"resourceType":"Observation","id":"obs4","status":"final",
		"code":{"coding":[{"system":"http://loinc.org","code":"1234-5"}]},
		"subject":{"reference":"Location/l1"},"valueString":"abc"}`,
	`{"resourceType":"Observation","id":"obs5","status":"final",
		"code":{"coding":[{"system":"http://loinc.org","code":"5555-5"}]},
		"subject":{"reference":"http://example.org/fhir/Patient/p1"}}`,
	`{"resourceType":"Observation","id":"obs6","status":"final",
		"code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},"subject":{"reference":"Patient/p2"},
		"component":[
			{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":130,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
			{"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":85,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]}`,
	`{"resourceType":"Observation","id":"obs7","status":"final",
		"code":{"coding":[{"system":"http://loinc.org","code":"5555-5"}]},
		"subject":{"identifier":{"system":"urn:sys","value":"42"}}}`,
	`{"resourceType":"RiskAssessment","id":"rp1","status":"final","subject":{"reference":"Patient/p1"},"prediction":[{"probabilityDecimal":0.5}]}`,
	`{"resourceType":"RiskAssessment","id":"rp2","status":"final","subject":{"reference":"Patient/p1"},"prediction":[{"probabilityDecimal":100}]}`,
	`{"resourceType":"RiskAssessment","id":"rp3","status":"final","subject":{"reference":"Patient/p1"},"prediction":[{"probabilityDecimal":0.4}]}`,
	`{"resourceType":"ValueSet","id":"vs1","status":"active","url":"http://acme.org/fhir/ValueSet/abc"}`,
	`{"resourceType":"ValueSet","id":"vs2","status":"active","url":"http://other.org/vs"}`,
	`{"resourceType":"QuestionnaireResponse","id":"qr1","status":"completed","questionnaire":"http://x/Questionnaire/q|2.0"}`,
	`{"resourceType":"QuestionnaireResponse","id":"qr2","status":"completed","questionnaire":"http://x/Questionnaire/q|3.0"}`,
}

func openWhereFixture(t *testing.T) *sqlstore.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.OpenFile(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	x, err := search.NewExtractor(definitions.R4())
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(ctx, func(tx store.Tx) error {
		for _, js := range whereFixture {
			res, err := fhir.Parse([]byte(js))
			if err != nil {
				t.Fatalf("%s: %v", js, err)
			}
			if _, err := tx.Put(ctx, &store.Put{Resource: res, Index: x.Extract(res)}); err != nil {
				return err
			}
		}
		// A chain must not reach a deleted target.
		_, err := tx.Delete(ctx, "Organization", "o3", 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// TestWhere runs searches over the fixture. Results are compared in order when the search
// sorts, as a set otherwise.
func TestWhere(t *testing.T) {
	db := openWhereFixture(t)
	reg := definitions.R4()
	tests := []struct {
		search string
		want   []string
	}{
		// string
		{"Patient?name=peter", []string{"p1"}},
		{"Patient?family=mull", []string{"p3"}},
		{"Patient?family=MÜL", []string{"p3"}},
		{"Patient?given=zoe,anne", []string{"p2", "p3"}},
		{"Patient?family=chal&given=james", []string{"p1"}},
		{"Patient?family=chal&given=anne", nil},
		{"Patient?family:exact=Müller", []string{"p3"}},
		{"Patient?family:exact=muller", nil},
		{"Patient?family:contains=lle", []string{"p3"}},
		{"Patient?family:contains=%27bri", []string{"p4"}},
		{"Patient?family:contains=_", nil},
		// token
		{"Patient?gender=male", []string{"p1"}},
		{"Patient?gender=male,female", []string{"p1", "p2"}},
		{"Patient?identifier=urn:oid:1|12345", []string{"p1"}},
		{"Patient?identifier=12345", []string{"p1"}},
		{"Patient?identifier=|12345", nil},
		{"Patient?identifier=urn:oid:1|", []string{"p1"}},
		{"Patient?identifier=urn:oid:2|12345", nil},
		{"Patient?active=true", []string{"p1"}},
		{"Patient?gender:not=male", []string{"p2", "p3", "p4"}},
		{"Patient?gender:not=male,other", []string{"p2", "p3"}},
		{"Observation?code:text=blood", []string{"obs1"}},
		{"Observation?code:text=gluc", []string{"obs1"}},
		{"Observation?code=http://loinc.org|1234-5", []string{"obs1", "obs4"}},
		// special Resource parameters
		{"Patient?_id=p1,p2", []string{"p1", "p2"}},
		{"Patient?_id:not=p1", []string{"p2", "p3", "p4"}},
		{"Patient?_tag=http://t|vip", []string{"p1"}},
		{"Patient?_profile=http://p/Patient", []string{"p1"}},
		{"Patient?_lastUpdated=gt2000-01-01", []string{"p1", "p2", "p3", "p4"}},
		{"Patient?_lastUpdated=lt2000-01-01", nil},
		// :missing
		{"Patient?birthdate:missing=true", []string{"p3"}},
		{"Patient?birthdate:missing=false", []string{"p1", "p2", "p4"}},
		{"Patient?gender:missing=true", []string{"p3"}},
		{"Patient?organization:missing=true", []string{"p4"}},
		{"Observation?value-quantity:missing=true", []string{"obs4", "obs5", "obs6", "obs7"}},
		{"Patient?name:missing=false", []string{"p1", "p2", "p3", "p4"}},
		// dates: p1 1974-12-25, p2 1980-06, p4 1974
		{"Patient?birthdate=1974", []string{"p1", "p4"}},
		{"Patient?birthdate=1974-12", []string{"p1"}},
		{"Patient?birthdate=1974-12-25", []string{"p1"}},
		{"Patient?birthdate=eq1974-12-25T00:00:00Z", nil},
		{"Patient?birthdate=ne1974", []string{"p2"}},
		{"Patient?birthdate=gt1974-12-25", []string{"p2", "p4"}},
		{"Patient?birthdate=lt1974-12-25", []string{"p4"}},
		{"Patient?birthdate=ge1974-12-25", []string{"p1", "p2", "p4"}},
		{"Patient?birthdate=le1974-12-25", []string{"p1", "p4"}},
		// p1's day ends with the value's second, so nothing of p1 lies above it.
		{"Patient?birthdate=ge1974-12-25T23:59:59Z", []string{"p2", "p4"}},
		{"Patient?birthdate=ge1974-12-25T23:59:58Z", []string{"p1", "p2", "p4"}},
		{"Patient?birthdate=sa1974", []string{"p2"}},
		{"Patient?birthdate=sa1974-12-24", []string{"p1", "p2"}},
		{"Patient?birthdate=eb1980-06-01", []string{"p1", "p4"}},
		{"Patient?birthdate=eb1980-07", []string{"p1", "p2", "p4"}},
		{"Patient?birthdate=1974,1980", []string{"p1", "p2", "p4"}},
		{"Observation?date=2020-01", []string{"obs1", "obs2"}},
		{"Observation?date=2020-01-01", []string{"obs1"}},
		{"Observation?date=2020-01-01T10:00:00%2B01:00", nil},
		{"Observation?date=2020-01-01T11:00:00%2B01:00", []string{"obs1"}},
		{"Observation?date=2020-01-01T11:00:00+01:00", []string{"obs1"}},
		{"Observation?date=2020-01-01T10:00", []string{"obs1"}},
		{"Observation?date=gt2020-01-15", []string{"obs2", "obs3"}},
		{"Observation?date=ap2020-01-01", []string{"obs1", "obs2"}},
		// numbers: 0.5, 100, 0.4
		{"RiskAssessment?probability=0.5", []string{"rp1"}},
		{"RiskAssessment?probability=0.50", []string{"rp1"}},
		{"RiskAssessment?probability=0.49", nil},
		{"RiskAssessment?probability=1e2", []string{"rp2"}},
		{"RiskAssessment?probability=gt0.45", []string{"rp1", "rp2"}},
		{"RiskAssessment?probability=lt0.5", []string{"rp3"}},
		{"RiskAssessment?probability=ge0.5", []string{"rp1", "rp2"}},
		{"RiskAssessment?probability=le0.5", []string{"rp1", "rp3"}},
		{"RiskAssessment?probability=ne0.5", []string{"rp2", "rp3"}},
		{"RiskAssessment?probability=sa0.5", []string{"rp2"}},
		{"RiskAssessment?probability=eb0.5", []string{"rp3"}},
		{"RiskAssessment?probability=ap0.44", []string{"rp3"}},
		// quantities: 5.4 mmol/L, 120 mm[Hg], 7 with unit text only
		{"Observation?value-quantity=5.4", []string{"obs1"}},
		{"Observation?value-quantity=5.4|http://unitsofmeasure.org|mmol/L", []string{"obs1"}},
		{"Observation?value-quantity=5.4||mmol/L", []string{"obs1"}},
		{"Observation?value-quantity=5.4|http://unitsofmeasure.org|mg", nil},
		{"Observation?value-quantity=gt5", []string{"obs1", "obs2", "obs3"}},
		{"Observation?value-quantity=lt100||mmol/L", []string{"obs1", "obs3"}},
		{"Observation?value-quantity=7|http://unitsofmeasure.org|mmol/L", nil},
		// references
		{"Observation?subject=Patient/p1", []string{"obs1", "obs5"}},
		{"Observation?subject=p1", []string{"obs1", "obs3", "obs5"}},
		{"Observation?subject:Patient=p1", []string{"obs1", "obs5"}},
		{"Observation?subject:Group=p1", []string{"obs3"}},
		{"Observation?subject=http://example.org/fhir/Patient/p1", []string{"obs1", "obs5"}},
		{"Observation?subject=Patient/p1,Patient/p2", []string{"obs1", "obs2", "obs5", "obs6"}},
		{"Observation?patient=p2", []string{"obs2", "obs6"}},
		{"Observation?subject:identifier=urn:sys|42", []string{"obs7"}},
		{"Observation?subject:identifier=urn:sys|43", nil},
		{"QuestionnaireResponse?questionnaire=http://x/Questionnaire/q", []string{"qr1", "qr2"}},
		{"QuestionnaireResponse?questionnaire=http://x/Questionnaire/q|2.0", []string{"qr1"}},
		// uri
		{"ValueSet?url=http://acme.org/fhir/ValueSet/abc", []string{"vs1"}},
		{"ValueSet?url=http://acme.org/fhir/ValueSet", nil},
		{"ValueSet?url:below=http://acme.org/fhir", []string{"vs1"}},
		{"ValueSet?url:below=http://acme.org/fhi", nil},
		{"ValueSet?url:above=http://acme.org/fhir/ValueSet/abc/extra", []string{"vs1"}},
		{"ValueSet?url:above=http://acme.org/fhir/ValueSet", nil},
		// chains
		{"Observation?subject:Patient.name=peter", []string{"obs1", "obs5"}},
		{"Observation?subject.name=peter", []string{"obs1", "obs5"}},
		{"Observation?subject.name=ward", []string{"obs4"}},
		{"Observation?subject.gender=female", []string{"obs2", "obs6"}},
		{"Observation?subject:Patient.birthdate=1974", []string{"obs1", "obs5"}},
		{"Observation?patient.organization.name=acme", []string{"obs1", "obs5"}},
		{"Observation?patient.organization.name=beta", []string{"obs2", "obs6"}},
		{"Patient?organization.name=acme", []string{"p1"}},
		{"Patient?organization.name:missing=false", []string{"p1", "p2"}},
		{"RiskAssessment?subject:Patient.identifier=urn:oid:1|12345&probability=lt1", []string{"rp1", "rp3"}},
		// _has
		{"Patient?_has:Observation:subject:code=1234-5", []string{"p1"}},
		{"Patient?_has:Observation:subject:code=9999-9", nil},
		{"Group?_has:Observation:subject:code=9999-9", []string{"p1"}},
		{"Patient?_has:Observation:patient:code=8480-6", []string{"p2"}},
		{"Patient?_has:Observation:patient:code=8480-6,1234-5", []string{"p1", "p2"}},
		{"Patient?_has:Observation:patient:_id=obs6&gender=female", []string{"p2"}},
		{"Organization?_has:Patient:organization:_has:Observation:patient:code=8480-6", []string{"o2"}},
		{"Organization?_has:Patient:organization:gender=male", []string{"o1"}},
		// composite
		{"Observation?code-value-quantity=http://loinc.org|1234-5$5.4", []string{"obs1"}},
		{"Observation?code-value-quantity=1234-5$gt5", []string{"obs1"}},
		{"Observation?code-value-quantity=1234-5$gt6", nil},
		{"Observation?component-code-value-quantity=http://loinc.org|8480-6$gt125", []string{"obs6"}},
		{"Observation?component-code-value-quantity=http://loinc.org|8480-6$lt125", nil},
		{"Observation?component-code-value-quantity=8462-4$lt125|http://unitsofmeasure.org|mm[Hg]", []string{"obs6"}},
		// system search
		{"?_tag=http://t|vip", []string{"Patient/p1"}},
		{"?_type=Patient,Organization&_id=p1,o1", []string{"Organization/o1", "Patient/p1"}},
		{"?_type=Patient,Group&_id=p1", []string{"Group/p1", "Patient/p1"}},
		// sort: missing values last either way
		{"Patient?_sort=birthdate", []string{"p4", "p1", "p2", "p3"}},
		{"Patient?_sort=-birthdate", []string{"p2", "p4", "p1", "p3"}},
		{"Patient?_sort=family", []string{"p1", "p3", "p4", "p2"}},
		{"Patient?_sort=-family", []string{"p2", "p4", "p3", "p1"}},
		{"Patient?_sort=gender,-_id", []string{"p2", "p1", "p4", "p3"}},
		{"Patient?_sort=-_id", []string{"p4", "p3", "p2", "p1"}},
		{"Patient?_sort=organization,_id", []string{"p1", "p2", "p3", "p4"}},
		{"RiskAssessment?_sort=-probability", []string{"rp2", "rp1", "rp3"}},
		{"Observation?_sort=value-quantity&_count=3", []string{"obs1", "obs3", "obs2"}},
		{"Observation?_sort=-date,_id&code=1234-5,8480-6,9999-9", []string{"obs3", "obs2", "obs1", "obs4"}},
		// Sorted searches whose candidates come straight from the driving index.
		{"Observation?code=1234-5,8480-6,9999-9&_sort=-date", []string{"obs3", "obs2", "obs1", "obs4"}},
		{"Observation?status=final&_sort=date", []string{"obs1", "obs3", "obs4", "obs5", "obs6", "obs7"}},
		{"Observation?status=final&code=1234-5&_sort=-date", []string{"obs1", "obs4"}},
		{"Observation?subject=Patient/p1&_sort=-date", []string{"obs1", "obs5"}},
		{"Observation?status=final&value-quantity:missing=false&_sort=-date", []string{"obs3", "obs1"}},
		{"ValueSet?_sort=-url", []string{"vs2", "vs1"}},
		{"Organization?_sort=-_lastUpdated", []string{"o2", "o1"}},
	}
	for _, tt := range tests {
		t.Run(tt.search, func(t *testing.T) {
			typ, query, _ := strings.Cut(tt.search, "?")
			params, err := url.ParseQuery(query)
			if err != nil {
				t.Fatal(err)
			}
			q, _, err := search.Parse(reg, typ, params, true)
			if err != nil {
				t.Fatal(err)
			}
			res, err := db.Search(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range res.Matches {
				if typ == "" {
					got = append(got, m.Type+"/"+m.ID)
				} else {
					got = append(got, m.ID)
				}
			}
			want := tt.want
			if len(q.Sort) == 0 {
				slices.Sort(got)
			}
			if !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
			if q.Count == 0 && res.Total != len(want) {
				t.Errorf("total %d, want %d", res.Total, len(want))
			}
		})
	}
}
