package snomed

import (
	"context"
	"slices"
	"testing"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/terminology"
)

// TestTranslateMaps runs $translate over the map refsets: SNOMED CT to ICD-10 (the
// international extended map and the UK complex map, with its undotted targets, X fillers
// and dagger marks), to OPCS-4, and back.
func TestTranslateMaps(t *testing.T) {
	e, err := Load(t.Context(), []string{"testdata/maps"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts := terminology.New()
	ts.AddProvider(NewProvider(e))
	for _, m := range MapProviders(e) {
		ts.AddMapProvider(m)
	}
	// An ICD-10 5th Edition code system, so that matches carry its displays.
	icd, err := fhir.Parse([]byte(`{"resourceType":"CodeSystem","url":"` + ICD10UK + `","version":"5","status":"active","content":"fragment",
		"concept":[{"code":"E14.9","display":"Unspecified diabetes mellitus without complications"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.Add(icd); err != nil {
		t.Fatal(err)
	}
	type match struct{ equivalence, system, code, display, source string }
	uk := implicit + "999002271000000101"
	for _, tc := range []struct {
		name string
		req  terminology.TranslateRequest
		want []match
	}{
		{"to ICD-10 5th Edition", terminology.TranslateRequest{Coding: terminology.Coding{System: System, Code: "73211009"}, TargetSystem: ICD10UK},
			[]match{{"relatedto", ICD10UK, "E14.9", "Unspecified diabetes mellitus without complications", uk}}},
		{"X filler and dagger", terminology.TranslateRequest{Coding: terminology.Coding{System: System, Code: "404684003"}, TargetSystem: ICD10UK},
			[]match{{"relatedto", ICD10UK, "R69", "", uk}, {"relatedto", ICD10UK, "G35", "", uk}}},
		{"international map, unmatched group", terminology.TranslateRequest{Coding: terminology.Coding{System: System, Code: "73211009"}, TargetSystem: ICD10},
			[]match{{"relatedto", ICD10, "E14.9", "", implicit + "447562003"}, {"unmatched", "", "", "", implicit + "447562003"}}},
		{"to OPCS-4", terminology.TranslateRequest{Coding: terminology.Coding{System: System, Code: "73211009"}, ConceptMap: implicit + "1382401000000109"},
			[]match{{"relatedto", OPCS4, "X12.3", "", implicit + "1382401000000109"}}},
		{"back from ICD-10", terminology.TranslateRequest{Coding: terminology.Coding{System: ICD10UK, Code: "G35"}, Reverse: true},
			[]match{{"relatedto", System, "404684003", "", uk}}},
		{"no map for the code", terminology.TranslateRequest{Coding: terminology.Coding{System: System, Code: "138875005"}, TargetSystem: ICD10UK}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := ts.Translate(context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			var got []match
			for _, m := range tr.Matches {
				got = append(got, match{m.Equivalence, m.Concept.System, m.Concept.Code, m.Concept.Display, m.Source[:len(m.Source)-len("|"+e.Version())]})
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("matches %+v\nwant    %+v", got, tc.want)
			}
			if tr.Result != (len(tc.want) > 0) {
				t.Errorf("result %v: %s", tr.Result, tr.Message)
			}
		})
	}
	tr, err := ts.Translate(context.Background(), terminology.TranslateRequest{Coding: terminology.Coding{System: System, Code: "404684003"}, TargetSystem: ICD10UK})
	if err != nil {
		t.Fatal(err)
	}
	if c := tr.Matches[1].Comment; c != "map group 2, priority 1; rule: TRUE; advice: ALWAYS G35.X | DAGGER CODE; dagger code" {
		t.Errorf("comment %q", c)
	}
	if _, ok := ts.ConceptMap(uk); !ok {
		t.Errorf("the UK map is not known by its canonical")
	}
}
