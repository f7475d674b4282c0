package search

import (
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
)

func us(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMicro()
}

func TestParse(t *testing.T) {
	reg := definitions.R4()
	sp := func(typ, code string) *definitions.SearchParam {
		p := reg.SearchParam(typ, code)
		if p == nil {
			t.Fatalf("no parameter %s.%s", typ, code)
		}
		return p
	}
	one := func(typ, code, mod string, vs ...Value) *Filter {
		return &Filter{Param: sp(typ, code), ResourceType: typ, Modifier: mod, Values: vs}
	}
	day := func(prefix, d string) Value {
		lo := us(d + "T00:00:00Z")
		return Value{Raw: prefix + d, Prefix: prefix, DateLo: lo, DateHi: lo + 86400e6 - 1}
	}
	tests := []struct {
		name, typ, query string
		want             *Query
	}{
		{"string", "Patient", "name=Smith", &Query{Type: "Patient", Filters: []*Filter{one("Patient", "name", "", Value{Raw: "Smith"})}}},
		{"string exact and contains", "Patient", "family:exact=Smith&given:contains=ann",
			&Query{Type: "Patient", Filters: []*Filter{one("Patient", "family", "exact", Value{Raw: "Smith"}), one("Patient", "given", "contains", Value{Raw: "ann"})}}},
		{"comma is OR, repeat is AND", "Patient", "given=a,b&given=c",
			&Query{Type: "Patient", Filters: []*Filter{one("Patient", "given", "", Value{Raw: "a"}, Value{Raw: "b"}), one("Patient", "given", "", Value{Raw: "c"})}}},
		{"escapes", "Patient", `name=a\,b,c\\&identifier=s\|x|c\,d`,
			&Query{Type: "Patient", Filters: []*Filter{
				one("Patient", "identifier", "", Value{Raw: `s|x|c,d`, System: "s|x", Code: "c,d", HasSystem: true}),
				one("Patient", "name", "", Value{Raw: "a,b"}, Value{Raw: `c\`}),
			}}},
		{"terminology modifiers", "Condition", "code:in=http://example.org/vs|2,http://example.org/other&code:below=http://snomed.info/sct|404684003&code:not-in=http://example.org/vs",
			&Query{Type: "Condition", Filters: []*Filter{
				one("Condition", "code", "below", Value{Raw: "http://snomed.info/sct|404684003", System: "http://snomed.info/sct", Code: "404684003", HasSystem: true}),
				one("Condition", "code", "in", Value{Raw: "http://example.org/vs|2"}, Value{Raw: "http://example.org/other"}),
				one("Condition", "code", "not-in", Value{Raw: "http://example.org/vs"}),
			}}},
		{"token forms", "Observation", "code=http://loinc.org|1234-5,|abc,http://snomed.info/sct|,xyz",
			&Query{Type: "Observation", Filters: []*Filter{one("Observation", "code", "",
				Value{Raw: "http://loinc.org|1234-5", System: "http://loinc.org", Code: "1234-5", HasSystem: true},
				Value{Raw: "|abc", Code: "abc", HasSystem: true},
				Value{Raw: "http://snomed.info/sct|", System: "http://snomed.info/sct", HasSystem: true},
				Value{Raw: "xyz", Code: "xyz"})}}},
		{"token not and text", "Observation", "code:not=a&code:text=Blood",
			&Query{Type: "Observation", Filters: []*Filter{one("Observation", "code", "not", Value{Raw: "a", Code: "a"}), one("Observation", "code", "text", Value{Raw: "Blood"})}}},
		{"missing", "Patient", "birthdate:missing=true&gender:missing=false",
			&Query{Type: "Patient", Filters: []*Filter{one("Patient", "birthdate", "missing", Value{Raw: "true", Missing: true}), one("Patient", "gender", "missing", Value{Raw: "false"})}}},
		{"_id and _lastUpdated", "Patient", "_id=a,b&_lastUpdated=gt2020-01-01",
			&Query{Type: "Patient", Filters: []*Filter{one("Patient", "_id", "", Value{Raw: "a", Code: "a"}, Value{Raw: "b", Code: "b"}), one("Patient", "_lastUpdated", "", day("gt", "2020-01-01"))}}},
		{"special Resource params", "Patient", "_tag=s|t&_profile=http://p&_security=|R&_source=urn:x",
			&Query{Type: "Patient", Filters: []*Filter{
				one("Patient", "_profile", "", Value{Raw: "http://p"}),
				one("Patient", "_security", "", Value{Raw: "|R", Code: "R", HasSystem: true}),
				one("Patient", "_source", "", Value{Raw: "urn:x"}),
				one("Patient", "_tag", "", Value{Raw: "s|t", System: "s", Code: "t", HasSystem: true}),
			}}},
		{"date precisions", "Patient", "birthdate=2020&birthdate=2020-02&birthdate=le2020-02-03",
			&Query{Type: "Patient", Filters: []*Filter{
				one("Patient", "birthdate", "", Value{Raw: "2020", DateLo: us("2020-01-01T00:00:00Z"), DateHi: us("2021-01-01T00:00:00Z") - 1}),
				one("Patient", "birthdate", "", Value{Raw: "2020-02", DateLo: us("2020-02-01T00:00:00Z"), DateHi: us("2020-03-01T00:00:00Z") - 1}),
				one("Patient", "birthdate", "", day("le", "2020-02-03")),
			}}},
		{"dateTime precisions and zones", "Observation", "date=2020-01-01T10:00&date=ge2020-01-01T10:00:05Z&date=2020-01-01T10:00:05.25+01:00&date=sa2020-01-01T10:00:05.123456-05:00",
			&Query{Type: "Observation", Filters: []*Filter{
				one("Observation", "date", "", Value{Raw: "2020-01-01T10:00", DateLo: us("2020-01-01T10:00:00Z"), DateHi: us("2020-01-01T10:01:00Z") - 1}),
				one("Observation", "date", "", Value{Raw: "ge2020-01-01T10:00:05Z", Prefix: "ge", DateLo: us("2020-01-01T10:00:05Z"), DateHi: us("2020-01-01T10:00:06Z") - 1}),
				// url.ParseQuery turns the unencoded '+' into a space.
				one("Observation", "date", "", Value{Raw: "2020-01-01T10:00:05.25 01:00", DateLo: us("2020-01-01T09:00:05.25Z"), DateHi: us("2020-01-01T09:00:05.26Z") - 1}),
				one("Observation", "date", "", Value{Raw: "sa2020-01-01T10:00:05.123456-05:00", Prefix: "sa", DateLo: us("2020-01-01T15:00:05.123456Z"), DateHi: us("2020-01-01T15:00:05.123456Z")}),
			}}},
		{"all prefixes", "Patient", "birthdate=eq2020-01-01,ne2020-01-01,gt2020-01-01,lt2020-01-01,ge2020-01-01,le2020-01-01,sa2020-01-01,eb2020-01-01,ap2020-01-01",
			&Query{Type: "Patient", Filters: []*Filter{one("Patient", "birthdate", "",
				day("eq", "2020-01-01"), day("ne", "2020-01-01"), day("gt", "2020-01-01"), day("lt", "2020-01-01"), day("ge", "2020-01-01"),
				day("le", "2020-01-01"), day("sa", "2020-01-01"), day("eb", "2020-01-01"), day("ap", "2020-01-01"))}}},
		{"numbers", "RiskAssessment", "probability=100,gt1e2,100.00",
			&Query{Type: "RiskAssessment", Filters: []*Filter{one("RiskAssessment", "probability", "",
				Value{Raw: "100", Number: 100, NumLo: 99.5, NumHi: 100.5},
				Value{Raw: "gt1e2", Prefix: "gt", Number: 100, NumLo: 50, NumHi: 150},
				Value{Raw: "100.00", Number: 100, NumLo: 99.995, NumHi: 100.005})}}},
		{"quantities", "Observation", "value-quantity=5.4|http://unitsofmeasure.org|mg,lt5||mg,0.5",
			&Query{Type: "Observation", Filters: []*Filter{one("Observation", "value-quantity", "",
				Value{Raw: "5.4|http://unitsofmeasure.org|mg", Number: 5.4, NumLo: 5.35, NumHi: 5.45, System: "http://unitsofmeasure.org", Code: "mg", HasSystem: true},
				Value{Raw: "lt5||mg", Prefix: "lt", Number: 5, NumLo: 4.5, NumHi: 5.5, Code: "mg"},
				Value{Raw: "0.5", Number: 0.5, NumLo: 0.45, NumHi: 0.55})}}},
		{"references", "Observation", "subject=Patient/1,2,http://x/fhir/Patient/3/_history/2&subject:Group=g1",
			&Query{Type: "Observation", Filters: []*Filter{
				one("Observation", "subject", "",
					Value{Raw: "Patient/1", RefType: "Patient", RefID: "1"},
					Value{Raw: "2", RefID: "2"},
					Value{Raw: "http://x/fhir/Patient/3/_history/2", RefType: "Patient", RefID: "3", URL: "http://x/fhir/Patient/3/_history/2"}),
				one("Observation", "subject", "Group", Value{Raw: "g1", RefType: "Group", RefID: "g1"}),
			}}},
		{"canonical and identifier", "Observation", "based-on:identifier=urn:sys|42&derived-from=http://x/Questionnaire/q|2.0",
			&Query{Type: "Observation", Filters: []*Filter{
				one("Observation", "based-on", "identifier", Value{Raw: "urn:sys|42", System: "urn:sys", Code: "42", HasSystem: true}),
				one("Observation", "derived-from", "", Value{Raw: "http://x/Questionnaire/q|2.0", URL: "http://x/Questionnaire/q", Code: "2.0"}),
			}}},
		{"uri above below", "ValueSet", "url:below=http://acme.org/fhir",
			&Query{Type: "ValueSet", Filters: []*Filter{one("ValueSet", "url", "below", Value{Raw: "http://acme.org/fhir"})}}},
		{"composite", "Observation", `code-value-quantity=http://loinc.org|8480-6$lt60&code-value-concept=a$b\$c`,
			&Query{Type: "Observation", Filters: []*Filter{
				one("Observation", "code-value-concept", "", Value{Raw: "a$b$c", Parts: []Value{{Raw: "a", Code: "a"}, {Raw: "b$c", Code: "b$c"}}}),
				one("Observation", "code-value-quantity", "", Value{Raw: "http://loinc.org|8480-6$lt60", Parts: []Value{
					{Raw: "http://loinc.org|8480-6", System: "http://loinc.org", Code: "8480-6", HasSystem: true},
					{Raw: "lt60", Prefix: "lt", Number: 60, NumLo: 59.5, NumHi: 60.5}}}),
			}}},
		{"chain with type", "Observation", "subject:Patient.name=peter",
			&Query{Type: "Observation", Filters: []*Filter{{Param: sp("Observation", "subject"), ResourceType: "Observation", Modifier: "Patient",
				Chain: one("Patient", "name", "", Value{Raw: "peter"})}}}},
		{"chain, two levels", "Observation", "patient.organization.name:exact=Acme",
			&Query{Type: "Observation", Filters: []*Filter{{Param: sp("Observation", "patient"), ResourceType: "Observation",
				Chain: &Filter{Param: sp("Patient", "organization"), ResourceType: "Patient",
					Chain: one("Organization", "name", "exact", Value{Raw: "Acme"})}}}}},
		{"chain over several target types", "Observation", "subject.name=x",
			// Of Group, Device, Patient and Location, only Location and Patient have "name": the
			// chain applies to both, with the first one's definition.
			&Query{Type: "Observation", Filters: []*Filter{{Param: sp("Observation", "subject"), ResourceType: "Observation",
				Chain: &Filter{Param: sp("Location", "name"), Values: []Value{{Raw: "x"}}}}}}},
		{"_has", "Patient", "_has:Observation:patient:code=1234-5",
			&Query{Type: "Patient", Filters: []*Filter{{ResourceType: "Patient", Has: &Has{Type: "Observation", Param: sp("Observation", "patient"),
				Filter: one("Observation", "code", "", Value{Raw: "1234-5", Code: "1234-5"})}}}}},
		{"nested _has", "Patient", "_has:Observation:patient:_has:AuditEvent:entity:agent=P1",
			&Query{Type: "Patient", Filters: []*Filter{{ResourceType: "Patient", Has: &Has{Type: "Observation", Param: sp("Observation", "patient"),
				Filter: &Filter{ResourceType: "Observation", Has: &Has{Type: "AuditEvent", Param: sp("AuditEvent", "entity"),
					Filter: one("AuditEvent", "agent", "", Value{Raw: "P1", RefID: "P1"})}}}}}}},
		{"control parameters", "Observation", "_sort=-date,code,_id&_count=5000&_total=accurate&_summary=data&_elements=code,subject&_format=json&_pretty=true&_page=a42",
			&Query{Type: "Observation", Sort: []Sort{{Param: sp("Observation", "date"), Desc: true}, {Param: sp("Observation", "code")}, {Param: sp("Observation", "_id")}},
				Count: MaxCount, Cursor: "a42", Total: "accurate", Summary: "data", Elements: []string{"code", "subject"}}},
		{"_count=0 counts", "Observation", "_count=0",
			&Query{Type: "Observation", Summary: "count"}},
		{"includes", "Observation", "_include=Observation:subject:Patient&_include:iterate=Patient:organization&_revinclude=Provenance:target&_include=*",
			&Query{Type: "Observation", Includes: []Include{
				{SourceType: "Observation", Param: "subject", TargetType: "Patient"},
				{SourceType: "Observation", Param: "*"},
				{SourceType: "Patient", Param: "organization", Iterate: true},
				{Reverse: true, SourceType: "Provenance", Param: "target"},
			}}},
		{"system search", "", "_type=Patient,Observation&_lastUpdated=2020&_tag=x",
			&Query{Types: []string{"Patient", "Observation"}, Filters: []*Filter{
				{Param: sp("Patient", "_lastUpdated"), Values: []Value{{Raw: "2020", DateLo: us("2020-01-01T00:00:00Z"), DateHi: us("2021-01-01T00:00:00Z") - 1}}},
				{Param: sp("Patient", "_tag"), Values: []Value{{Raw: "x", Code: "x"}}},
			}}},
		{"empty values are ignored", "Patient", "name=&gender=male",
			&Query{Type: "Patient", Filters: []*Filter{one("Patient", "gender", "", Value{Raw: "male", Code: "male"})}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, warnings, err := Parse(reg, tt.typ, params, true)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(warnings) > 0 {
				t.Errorf("warnings: %v", warnings)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %s\nwant %s", dump(got), dump(tt.want))
			}
		})
	}
}

// dump shows a Query with parameters by code rather than by pointer.
func dump(q *Query) string {
	b, _ := json.Marshal(q)
	return string(b)
}

func TestParseErrors(t *testing.T) {
	reg := definitions.R4()
	tests := []struct{ typ, query, msg string }{
		{"Patient", "birthdate=2020-13", `search parameter "birthdate": invalid date "2020-13"`},
		{"Patient", "birthdate=2020-02-30", `invalid date "2020-02-30"`},
		{"Patient", "birthdate=2020-01-01T25:00", `invalid date`},
		{"Patient", "birthdate=xx2020", `search parameter "birthdate": unknown prefix in "xx2020"`},
		{"Patient", "birthdate:exact=2020", `search parameter "birthdate:exact": modifier "exact" is not allowed on date parameter "birthdate"`},
		{"Patient", "name:text=x", `modifier "text" is not allowed on string parameter "name"`},
		{"Patient", "gender:contains=x", `modifier "contains" is not allowed on token parameter "gender"`},
		{"Observation", "code:of-type=a|b|c", `search parameter "code:of-type": modifier "of-type" is not supported`},
		{"Observation", "code:below=123", `needs system|code`},
		{"Observation", "code:above=http://snomed.info/sct|", `needs system|code`},
		{"Observation", "value-quantity:missing=maybe", `:missing takes true or false`},
		{"Observation", "value-quantity=abc", `unknown prefix in "abc"`},
		{"Observation", "value-quantity=5x", `invalid number "5x"`},
		{"Observation", "value-quantity=1.2.3", `invalid number "1.2.3"`},
		{"Observation", "value-quantity=5|http://unitsofmeasure.org", `is not number, number|system|code or number||unit`},
		{"Observation", "subject:Medication=1", `subject cannot refer to Medication`},
		{"Observation", "subject=Patient/1/extra", `is neither an id, Type/id nor an absolute URL`},
		{"Observation", "code=|", `names neither a system nor a code`},
		{"Observation", "code.name=x", `search parameter "code.name": cannot chain through token parameter "code"`},
		{"Observation", "code-value-quantity=a", `has 1 components, code-value-quantity takes 2`},
		{"Observation", "_has:Observation:patient=1", `must be of the form _has:Type:reference:parameter`},
		{"Patient", "_has:Observation:code:status=final", `Observation has no reference parameter "code"`},
		{"Patient", "_has:Observation:encounter:status=final", `Observation:encounter cannot refer to Patient`},
		{"Observation", "_sort=nope", `search parameter "_sort": unknown search parameter "nope"`},
		{"Observation", "_sort=code-value-quantity", `cannot sort by composite parameter`},
		{"Observation", "_count=-1", `search parameter "_count": must be a non-negative integer`},
		{"Observation", "_total=some", `must be none, estimate or accurate`},
		{"Observation", "_summary=maybe", `must be true, text, data, count or false`},
		{"Observation", "_include=Observation", `is not of the form Type:parameter[:targetType]`},
		{"Observation", "_include=Observation:code", `Observation has no reference parameter "code"`},
		{"Observation", "_include=Observation:subject:Medication", `Observation:subject cannot refer to Medication`},
		{"Observation", "_include:deep=Observation:subject", `unknown modifier "deep"`},
		{"", "_type=Nope", `unknown resource type "Nope"`},
		{"Patient", "_id:exact=1", `modifier "exact" is not allowed on _id`},
		{"Patient", "foo=bar", `search parameter "foo": unknown parameter "foo" for Patient`},
		{"Patient", "name:Patient.x=1", `cannot chain through string parameter "name"`},
		{"", "name=x", `unknown parameter "name" for every resource type searched`},
		{"Patient", "_text=x", `search parameter "_text": is not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			params, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = Parse(reg, tt.typ, params, true)
			fe, ok := err.(*fhir.Error)
			if !ok {
				t.Fatalf("err = %v, want a *fhir.Error", err)
			}
			if fe.Status != 400 || !strings.Contains(fe.Error(), tt.msg) {
				t.Errorf("got %d %q, want 400 containing %q", fe.Status, fe.Error(), tt.msg)
			}
		})
	}
}

func TestParseLenient(t *testing.T) {
	reg := definitions.R4()
	params, _ := url.ParseQuery("foo=1&name=x&subject.nope=2&_contained=true")
	q, warnings, err := Parse(reg, "Patient", params, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(q.Filters) != 1 || q.Filters[0].Param.Code != "name" {
		t.Errorf("filters = %s", dump(q))
	}
	var diags []string
	for _, w := range warnings {
		if w.Severity != fhir.SeverityWarning {
			t.Errorf("severity %q", w.Severity)
		}
		diags = append(diags, w.Diagnostics)
	}
	want := []string{
		`search parameter "_contained": is not supported; ignored`,
		`search parameter "foo": unknown parameter "foo" for Patient; ignored`,
		`search parameter "subject.nope": unknown parameter "subject" for Patient; ignored`,
	}
	if !reflect.DeepEqual(diags, want) {
		t.Errorf("warnings:\n%s\nwant\n%s", strings.Join(diags, "\n"), strings.Join(want, "\n"))
	}
}

func TestParseDateRangeBoundaries(t *testing.T) {
	for _, tt := range []struct {
		in     string
		lo, hi string
	}{
		{"2020", "2020-01-01T00:00:00Z", "2020-12-31T23:59:59.999999Z"},
		{"2020-02", "2020-02-01T00:00:00Z", "2020-02-29T23:59:59.999999Z"},
		{"2021-02-28", "2021-02-28T00:00:00Z", "2021-02-28T23:59:59.999999Z"},
		{"2020-06-30T23:59", "2020-06-30T23:59:00Z", "2020-06-30T23:59:59.999999Z"},
		{"2020-06-30T23:59:59.9", "2020-06-30T23:59:59.9Z", "2020-06-30T23:59:59.999999Z"},
		{"2020-06-30T00:00:00+14:00", "2020-06-29T10:00:00Z", "2020-06-29T10:00:00.999999Z"},
	} {
		lo, hi, err := ParseDateRange(tt.in)
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		if lo != us(tt.lo) || hi != us(tt.hi) {
			t.Errorf("%s: [%s, %s], want [%s, %s]", tt.in, time.UnixMicro(lo).UTC().Format(time.RFC3339Nano), time.UnixMicro(hi).UTC().Format(time.RFC3339Nano), tt.lo, tt.hi)
		}
	}
}
