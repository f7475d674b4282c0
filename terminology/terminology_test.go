package terminology

import (
	"errors"
	"slices"
	"testing"
)

const (
	gender    = "http://hl7.org/fhir/ValueSet/administrative-gender"
	genderCS  = "http://hl7.org/fhir/administrative-gender"
	actCode   = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	encounter = "http://terminology.hl7.org/ValueSet/v3-ActEncounterCode"
	v2yesNo   = "http://terminology.hl7.org/CodeSystem/v2-0136"
)

func TestCoreLoads(t *testing.T) {
	s := core(t)
	if len(s.Skipped()) > 0 {
		t.Errorf("core resources skipped: %v", s.Skipped())
	}
	for _, url := range []string{genderCS, actCode, v2yesNo, "http://terminology.hl7.org/CodeSystem/v2-0131"} {
		if _, ok := s.CodeSystem(url); !ok {
			t.Errorf("code system %s not held", url)
		}
	}
	if info, ok := s.ValueSet(gender); !ok || info.Name != "AdministrativeGender" || info.Version != "4.0.1" {
		t.Errorf("ValueSet(%s) = %+v, %v", gender, info, ok)
	}
	if _, ok := s.ValueSet(gender + "|4.0.1"); !ok {
		t.Errorf("ValueSet(%s|4.0.1) not found", gender)
	}
	if _, ok := s.ValueSet(gender + "|3.0.0"); ok {
		t.Errorf("ValueSet(%s|3.0.0) found", gender)
	}
}

func TestValidateCore(t *testing.T) {
	s := core(t)
	// A code system whose codes are case-insensitive, and a value set over it.
	add(t, s, `{"resourceType":"CodeSystem","url":"http://example.org/cs/ci","status":"active","content":"complete",
		"caseSensitive":false,"concept":[{"code":"Alpha","display":"Alpha"},{"code":"beta","display":"Beta"}]}`)
	add(t, s, vsJSON("http://example.org/vs/ci", `{"include":[{"system":"http://example.org/cs/ci"}]}`))
	add(t, s, vsJSON("http://example.org/vs/loop-a", `{"include":[{"valueSet":["http://example.org/vs/loop-b"]}]}`))
	add(t, s, vsJSON("http://example.org/vs/loop-b", `{"include":[{"valueSet":["http://example.org/vs/loop-a"]}]}`))
	add(t, s, vsJSON("http://example.org/vs/self", `{"include":[{"system":"http://example.org/cs/ci"},{"valueSet":["http://example.org/vs/self"]}]}`))

	tests := []struct {
		name        string
		vs          string
		c           Coding
		valid, know bool
		display     string
		msg         string
	}{
		{"gender male", gender, Coding{System: genderCS, Code: "male"}, true, true, "Male", ""},
		{"gender without system", gender, Coding{Code: "female"}, true, true, "Female", ""},
		{"gender with version", gender + "|4.0.1", Coding{System: genderCS, Version: "4.0.1", Code: "unknown"}, true, true, "Unknown", ""},
		{"gender other version", gender, Coding{System: genderCS, Version: "3.0.1", Code: "other"}, true, true, "Other", "version 3.0.1"},
		{"gender wrong case", gender, Coding{System: genderCS, Code: "Male"}, false, true, "", "is not a code of"},
		{"gender unknown code", gender, Coding{System: genderCS, Code: "m"}, false, true, "", "is not a code of"},
		{"gender no system, unknown code", gender, Coding{Code: "m"}, false, true, "", "not in value set"},
		{"gender wrong system", gender, Coding{System: "http://snomed.info/sct", Code: "248153007"}, false, true, "", "is not in value set"},
		{"gender no code", gender, Coding{System: genderCS}, false, true, "", "no code"},
		{"observation-status", "http://hl7.org/fhir/ValueSet/observation-status",
			Coding{System: "http://hl7.org/fhir/observation-status", Code: "final"}, true, true, "Final", ""},
		{"observation-status bad", "http://hl7.org/fhir/ValueSet/observation-status",
			Coding{System: "http://hl7.org/fhir/observation-status", Code: "done"}, false, true, "", ""},
		{"v3 is-a", encounter, Coding{System: actCode, Code: "AMB"}, true, true, "ambulatory", ""},
		{"v3 is-a deeper", encounter, Coding{System: actCode, Code: "SS"}, true, true, "short stay", ""},
		{"v3 excluded root", encounter, Coding{System: actCode, Code: "_ActEncounterCode"}, false, true, "", "not in value set"},
		{"v3 other branch", encounter, Coding{System: actCode, Code: "CASH"}, false, true, "", "not in value set"},
		{"v3 abstract", "http://terminology.hl7.org/ValueSet/v3-ActCode", Coding{System: actCode, Code: "_ActAccountCode"}, false, true, "", "abstract"},
		{"v3 retired", "http://terminology.hl7.org/ValueSet/v3-ActCode", Coding{System: actCode, Code: "FFS"}, true, true, "fee for service", "inactive"},
		{"v3 deprecated", "http://hl7.org/fhir/ValueSet/observation-interpretation",
			Coding{System: "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", Code: "AC"}, true, true, "Anti-complementary substances present", "deprecated"},
		{"v2 table", "http://terminology.hl7.org/ValueSet/v2-0136", Coding{System: v2yesNo, Code: "Y"}, true, true, "Yes", ""},
		{"v2 table bad", "http://terminology.hl7.org/ValueSet/v2-0136", Coding{System: v2yesNo, Code: "X"}, false, true, "", ""},
		{"v2 is-not-a", "http://hl7.org/fhir/ValueSet/patient-contactrelationship",
			Coding{System: "http://terminology.hl7.org/CodeSystem/v2-0131", Code: "C"}, true, true, "Emergency Contact", ""},
		{"v2 is-not-a root", "http://hl7.org/fhir/ValueSet/patient-contactrelationship",
			Coding{System: "http://terminology.hl7.org/CodeSystem/v2-0131", Code: "O"}, false, true, "", ""},
		{"import", "http://hl7.org/fhir/ValueSet/yesnodontknow", Coding{System: v2yesNo, Code: "N"}, true, true, "No", ""},
		{"import plus listed", "http://hl7.org/fhir/ValueSet/yesnodontknow",
			Coding{System: "http://terminology.hl7.org/CodeSystem/data-absent-reason", Code: "asked-unknown"}, true, true, "Asked But Unknown", ""},
		{"import, not listed", "http://hl7.org/fhir/ValueSet/yesnodontknow",
			Coding{System: "http://terminology.hl7.org/CodeSystem/data-absent-reason", Code: "masked"}, false, true, "", ""},
		{"import of an import", "http://hl7.org/fhir/ValueSet/use-context", Coding{System: genderCS, Code: "male"}, true, true, "Male", ""},
		{"import of unavailable, other system", "http://hl7.org/fhir/ValueSet/use-context",
			Coding{System: "http://example.org/nowhere", Code: "x"}, false, false, "", "usps-state is not held here"},
		{"case-insensitive", "http://example.org/vs/ci", Coding{System: "http://example.org/cs/ci", Code: "ALPHA"}, true, true, "Alpha", ""},
		{"case-insensitive lower", "http://example.org/vs/ci", Coding{System: "http://example.org/cs/ci", Code: "Beta"}, true, true, "Beta", ""},
		{"case-insensitive bad", "http://example.org/vs/ci", Coding{System: "http://example.org/cs/ci", Code: "gamma"}, false, true, "", ""},
		{"unknown value set", "http://example.org/vs/none", Coding{System: genderCS, Code: "male"}, false, false, "", "value set not found"},
		{"snomed", "http://hl7.org/fhir/ValueSet/condition-code", Coding{System: "http://snomed.info/sct", Code: "22298006"}, false, false, "", "SNOMED CT) is not available"},
		{"snomed listed code", "http://hl7.org/fhir/ValueSet/condition-code",
			Coding{System: "http://snomed.info/sct", Code: "160245001"}, true, true, "No current problems or disability", ""},
		{"loinc", "http://hl7.org/fhir/ValueSet/observation-codes", Coding{System: "http://loinc.org", Code: "8867-4"}, false, false, "", "LOINC) is not available"},
		{"ucum", "http://hl7.org/fhir/ValueSet/ucum-units", Coding{System: "http://unitsofmeasure.org", Code: "mg"}, false, false, "", "UCUM) is not available"},
		{"bcp-47 listed", "http://hl7.org/fhir/ValueSet/languages", Coding{System: "urn:ietf:bcp:47", Code: "en-GB"}, true, true, "English (Great Britain)", ""},
		{"bcp-47 not listed", "http://hl7.org/fhir/ValueSet/languages", Coding{System: "urn:ietf:bcp:47", Code: "xx"}, false, true, "", ""},
		{"bcp-47 whole", "http://hl7.org/fhir/ValueSet/all-languages", Coding{System: "urn:ietf:bcp:47", Code: "en-GB"}, false, false, "", "BCP-47"},
		{"mime types", "http://hl7.org/fhir/ValueSet/mimetypes", Coding{System: "urn:ietf:bcp:13", Code: "text/plain"}, false, false, "", "not available"},
		{"example content", "http://hl7.org/fhir/ValueSet/service-type",
			Coding{System: "http://terminology.hl7.org/CodeSystem/service-type", Code: "no-such"}, false, false, "", "held only in part"},
		{"example content listed", "http://hl7.org/fhir/ValueSet/service-type",
			Coding{System: "http://terminology.hl7.org/CodeSystem/service-type", Code: "1"}, true, true, "Adoption/Permanent Care Info/Support", ""},
		{"recursive import", "http://example.org/vs/loop-a", Coding{System: genderCS, Code: "male"}, false, false, "", "includes itself"},
		{"recursive import, other end", "http://example.org/vs/loop-b", Coding{System: genderCS, Code: "male"}, false, false, "", "includes itself"},
		{"self import", "http://example.org/vs/self", Coding{System: "http://example.org/cs/ci", Code: "alpha"}, false, false, "", "includes itself"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.ValidateCode(t.Context(), tc.vs, tc.c)
			check(t, tc.name, r, tc.valid, tc.know, tc.msg)
			if tc.display != "" && r.Display != tc.display {
				t.Errorf("display %q, want %q", r.Display, tc.display)
			}
			// The second call answers from the compiled value set, and must agree.
			if r2 := s.ValidateCode(t.Context(), tc.vs, tc.c); r2 != r {
				t.Errorf("second call %+v, first %+v", r2, r)
			}
		})
	}
}

func TestValidateCodeableConcept(t *testing.T) {
	s := core(t)
	tests := []struct {
		name        string
		vs          string
		codings     []Coding
		valid, know bool
	}{
		{"second coding valid", gender, []Coding{{System: "http://snomed.info/sct", Code: "248153007"}, {System: genderCS, Code: "male"}}, true, true},
		{"none valid", gender, []Coding{{System: genderCS, Code: "x"}, {System: genderCS, Code: "y"}}, false, true},
		{"none", gender, nil, false, true},
		{"one undecided", "http://hl7.org/fhir/ValueSet/condition-code",
			[]Coding{{System: "http://example.org/local", Code: "x"}, {System: "http://snomed.info/sct", Code: "22298006"}}, false, false},
	}
	for _, tc := range tests {
		r := s.ValidateCodeableConcept(t.Context(), tc.vs, tc.codings)
		check(t, tc.name, r, tc.valid, tc.know, "")
	}
}

func TestLookup(t *testing.T) {
	s := core(t)
	c, ok := s.Lookup(t.Context(), actCode, "_ActAccountCode")
	if !ok || !c.Abstract || c.Display != "ActAccountCode" || c.Definition == "" {
		t.Errorf("Lookup _ActAccountCode = %+v, %v", c, ok)
	}
	c, ok = s.Lookup(t.Context(), actCode, "FFS")
	if !ok || !c.Inactive {
		t.Errorf("Lookup FFS = %+v, %v", c, ok)
	}
	if _, ok := s.Lookup(t.Context(), actCode, "nope"); ok {
		t.Error("Lookup of an unknown code succeeded")
	}
	if _, ok := s.Lookup(t.Context(), "http://snomed.info/sct", "22298006"); ok {
		t.Error("Lookup in SNOMED CT succeeded without SNOMED CT")
	}
	// Code system URLs that carry a version, as some v2 tables are published.
	if c, ok := s.Lookup(t.Context(), "http://terminology.hl7.org/CodeSystem/v2-0360|2.7", "BA"); !ok || c.Display == "" {
		t.Errorf("Lookup in v2-0360|2.7 = %+v, %v", c, ok)
	}
}

func TestExpandCore(t *testing.T) {
	s := core(t)
	ctx := t.Context()
	if got, want := expandCodes(t, s, gender), []string{"male", "female", "other", "unknown"}; !slices.Equal(got, want) {
		t.Errorf("gender = %v, want %v", got, want)
	}
	tests := []struct {
		name  string
		vs    string
		opts  ExpandOptions
		total int
		codes []string
	}{
		{"page", gender, ExpandOptions{Offset: 1, Count: 2}, 4, []string{"female", "other"}},
		{"last page", gender, ExpandOptions{Offset: 3, Count: 2}, 4, []string{"unknown"}},
		{"past the end", gender, ExpandOptions{Offset: 9, Count: 2}, 4, nil},
		{"filter word start", gender, ExpandOptions{Filter: "male"}, 1, []string{"male"}},
		{"filter case", gender, ExpandOptions{Filter: "FEM"}, 1, []string{"female"}},
		{"filter two words", "http://hl7.org/fhir/ValueSet/observation-status", ExpandOptions{Filter: "entered err"}, 1, []string{"entered-in-error"}},
		{"filter and page", "http://terminology.hl7.org/ValueSet/v3-ActMood", ExpandOptions{Filter: "criterion", Count: 1}, 7, []string{"CRT"}},
		{"active only", "http://terminology.hl7.org/ValueSet/v3-ActMood", ExpandOptions{Filter: "criterion", ActiveOnly: true}, 2, []string{"CRT", "EVN.CRT"}},
	}
	for _, tc := range tests {
		x, err := s.Expand(ctx, tc.vs, tc.opts)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		var got []string
		for _, e := range x.Contains {
			got = append(got, e.Code)
		}
		if x.Total != tc.total || !slices.Equal(got, tc.codes) {
			t.Errorf("%s: total %d %v, want %d %v", tc.name, x.Total, got, tc.total, tc.codes)
		}
	}

	enc := expandCodes(t, s, encounter)
	if !slices.Contains(enc, "AMB") || !slices.Contains(enc, "SS") || slices.Contains(enc, "_ActEncounterCode") {
		t.Errorf("v3-ActEncounterCode = %v", enc)
	}
	x, err := s.Expand(ctx, "http://terminology.hl7.org/ValueSet/v3-ActCode", ExpandOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range x.Contains {
		if e.Code == "_ActAccountCode" && (!e.Abstract || e.System != actCode || e.Version != "2018-08-12") {
			t.Errorf("expansion entry %+v", e)
		}
	}

	for _, tc := range []struct {
		vs   string
		want error
	}{
		{"http://example.org/vs/none", ErrUnknownValueSet},
		{"http://hl7.org/fhir/ValueSet/condition-code", ErrNotEnumerable},
		{"http://hl7.org/fhir/ValueSet/all-languages", ErrNotEnumerable},
	} {
		if _, err := s.Expand(ctx, tc.vs, ExpandOptions{}); !errors.Is(err, tc.want) {
			t.Errorf("Expand(%s) error %v, want %v", tc.vs, err, tc.want)
		}
	}
}

// TestExpandAllCore expands every core value set; those that cannot be expanded must be
// the ones that draw on content not held here.
func TestExpandAllCore(t *testing.T) {
	s := core(t)
	ok, notEnumerable := 0, 0
	for url := range s.valueSets {
		_, err := s.Expand(t.Context(), url, ExpandOptions{})
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrNotEnumerable):
			notEnumerable++
		default:
			t.Errorf("%s: %v", url, err)
		}
	}
	t.Logf("%d core value sets expand, %d draw on content not held", ok, notEnumerable)
	if ok < 1200 {
		t.Errorf("only %d core value sets expand", ok)
	}
}

func BenchmarkCore(b *testing.B) {
	core(b) // the registry fhir.Parse needs is loaded once per process too
	for b.Loop() {
		if _, err := readCore(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateCode(b *testing.B) {
	s := core(b)
	ctx := b.Context()
	cases := []struct {
		name, vs string
		c        Coding
	}{
		{"gender", gender, Coding{System: genderCS, Code: "female"}},
		{"gender-nosystem", gender, Coding{Code: "female"}},
		{"v3-is-a", encounter, Coding{System: actCode, Code: "SS"}},
		{"invalid", encounter, Coding{System: actCode, Code: "CASH"}},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			s.ValidateCode(ctx, bc.vs, bc.c)
			b.ReportAllocs()
			for b.Loop() {
				s.ValidateCode(ctx, bc.vs, bc.c)
			}
		})
	}
	b.Run("parallel", func(b *testing.B) {
		c := Coding{System: actCode, Code: "SS"}
		s.ValidateCode(ctx, encounter, c)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if !s.ValidateCode(ctx, encounter, c).Valid {
					b.Error("not valid")
				}
			}
		})
	})
}
