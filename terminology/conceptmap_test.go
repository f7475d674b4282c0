package terminology

import (
	"errors"
	"slices"
	"testing"

	"github.com/concord-health/concord/fhir"
)

const testMap = `{"resourceType":"ConceptMap","url":"http://example.org/cm/a-b","version":"1","status":"active",
 "sourceUri":"http://example.org/vs/a","targetUri":"http://example.org/vs/b",
 "group":[
  {"source":"http://example.org/a","target":"http://example.org/b","element":[
    {"code":"1","display":"one","target":[{"code":"I","display":"eye","equivalence":"equivalent"},{"code":"i","equivalence":"wider"}]},
    {"code":"2","target":[{"equivalence":"unmatched"}]},
    {"code":"3","target":[{"code":"III","equivalence":"equivalent","dependsOn":[{"property":"http://example.org/p","value":"x"}]}]}],
   "unmapped":{"mode":"provided"}},
  {"source":"http://example.org/a","target":"http://example.org/c","element":[
    {"code":"1","target":[{"code":"uno","equivalence":"equal"}]}],
   "unmapped":{"mode":"fixed","code":"otro","display":"other"}},
  {"source":"http://example.org/x","target":"http://example.org/c","element":[{"code":"j","target":[{"code":"J","equivalence":"equal"}]}],
   "unmapped":{"mode":"other-map","url":"http://example.org/cm/x"}}]}`

const otherMap = `{"resourceType":"ConceptMap","url":"http://example.org/cm/x","status":"active",
 "group":[{"source":"http://example.org/x","target":"http://example.org/y","element":[{"code":"k","target":[{"code":"K","equivalence":"equal"}]}],
   "unmapped":{"mode":"other-map","url":"http://example.org/cm/a-b"}}]}`

func TestTranslate(t *testing.T) {
	s := core(t)
	add(t, s, testMap)
	add(t, s, otherMap)
	inline, err := fhir.Parse([]byte(otherMap))
	if err != nil {
		t.Fatal(err)
	}
	a := func(code string) Coding { return Coding{System: "http://example.org/a", Code: code} }
	for _, tc := range []struct {
		name   string
		req    TranslateRequest
		result bool
		want   []string // system|code equivalence
		err    error
	}{
		{name: "two targets", req: TranslateRequest{ConceptMap: "http://example.org/cm/a-b", Coding: a("1"), TargetSystem: "http://example.org/b"},
			result: true, want: []string{"http://example.org/b|I equivalent", "http://example.org/b|i wider"}},
		{name: "every group", req: TranslateRequest{ConceptMap: "http://example.org/cm/a-b|1", Coding: a("1")},
			result: true, want: []string{"http://example.org/b|I equivalent", "http://example.org/b|i wider", "http://example.org/c|uno equal"}},
		{name: "unmatched", req: TranslateRequest{ConceptMap: "http://example.org/cm/a-b", Coding: a("2"), TargetSystem: "http://example.org/b"},
			want: []string{"http://example.org/b| unmatched"}},
		{name: "conditional", req: TranslateRequest{Coding: a("3"), TargetSystem: "http://example.org/b"},
			result: true, want: []string{"http://example.org/b|III equivalent"}},
		{name: "unmapped provided", req: TranslateRequest{Coding: a("9"), TargetSystem: "http://example.org/b"},
			result: true, want: []string{"http://example.org/b|9 equal"}},
		{name: "unmapped fixed", req: TranslateRequest{Coding: a("9"), TargetSystem: "http://example.org/c"},
			result: true, want: []string{"http://example.org/c|otro inexact"}},
		{name: "other map", req: TranslateRequest{ConceptMap: "http://example.org/cm/a-b", Coding: Coding{System: "http://example.org/x", Code: "k"}},
			result: true, want: []string{"http://example.org/y|K equal"}},
		{name: "maps pointing at each other", req: TranslateRequest{ConceptMap: "http://example.org/cm/a-b", Coding: Coding{System: "http://example.org/x", Code: "zz"}}},
		{name: "reverse", req: TranslateRequest{Coding: Coding{System: "http://example.org/b", Code: "i"}, Reverse: true},
			result: true, want: []string{"http://example.org/a|1 narrower"}},
		{name: "value sets", req: TranslateRequest{Coding: a("1"), Source: "http://example.org/vs/a", Target: "http://example.org/vs/b|2"},
			result: true, want: []string{"http://example.org/b|I equivalent", "http://example.org/b|i wider", "http://example.org/c|uno equal"}},
		{name: "value sets reversed", req: TranslateRequest{Coding: a("1"), Source: "http://example.org/vs/b"}},
		{name: "inline", req: TranslateRequest{Inline: inline, Coding: Coding{System: "http://example.org/x", Code: "k"}},
			result: true, want: []string{"http://example.org/y|K equal"}},
		{name: "core", req: TranslateRequest{ConceptMap: "http://hl7.org/fhir/ConceptMap/cm-administrative-gender-v2", Coding: Coding{System: "http://hl7.org/fhir/administrative-gender", Code: "other"}},
			result: true, want: []string{"http://terminology.hl7.org/CodeSystem/v2-0001|A wider", "http://terminology.hl7.org/CodeSystem/v2-0001|O wider"}},
		{name: "unknown map", req: TranslateRequest{ConceptMap: "http://example.org/cm/none", Coding: a("1")}, err: ErrUnknownConceptMap},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := s.Translate(t.Context(), tc.req)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range tr.Matches {
				got = append(got, m.Concept.System+"|"+m.Concept.Code+" "+m.Equivalence)
			}
			if tr.Result != tc.result || !slices.Equal(got, tc.want) {
				t.Fatalf("got result %v %q (%s), want %v %q", tr.Result, got, tr.Message, tc.result, tc.want)
			}
			if !tr.Result && tr.Message == "" {
				t.Error("no message for a failed translation")
			}
		})
	}
}

func TestConceptMapHeld(t *testing.T) {
	s := core(t)
	if info, ok := s.ConceptMap("http://hl7.org/fhir/ConceptMap/cm-administrative-gender-v3"); !ok || info.Version != "4.0.1" {
		t.Fatalf("core map: %+v %v", info, ok)
	}
	add(t, s, testMap)
	add(t, s, `{"resourceType":"ConceptMap","url":"http://example.org/cm/a-b","version":"2","status":"draft"}`)
	if info, _ := s.ConceptMap("http://example.org/cm/a-b"); info.Version != "2" {
		t.Errorf("latest version = %q, want 2", info.Version)
	}
	if info, _ := s.ConceptMap("http://example.org/cm/a-b|1"); info.Status != "active" {
		t.Errorf("version 1 = %+v", info)
	}
	if _, ok := core(t).ConceptMap("http://example.org/cm/a-b"); ok {
		t.Error("a map added to one Service shows in another")
	}
	res, _ := fhir.Parse([]byte(`{"resourceType":"ConceptMap","status":"active"}`))
	if err := s.Add(res); err == nil {
		t.Error("a ConceptMap without url was accepted")
	}
}

func TestCompileValueSet(t *testing.T) {
	s := core(t)
	res, err := fhir.Parse([]byte(`{"resourceType":"ValueSet","status":"active","compose":{"include":[
	 {"valueSet":["http://hl7.org/fhir/ValueSet/administrative-gender"]}],"exclude":[{"system":"http://hl7.org/fhir/administrative-gender","concept":[{"code":"other"}]}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.CompileValueSet(t.Context(), res)
	if err != nil {
		t.Fatal(err)
	}
	x, err := v.Expand(ExpandOptions{Count: 2})
	if err != nil || x.Total != 3 || len(x.Contains) != 2 || x.Contains[1].Code != "female" {
		t.Fatalf("expand: %+v %v", x, err)
	}
	g := "http://hl7.org/fhir/administrative-gender"
	check(t, "member", v.ValidateCode(t.Context(), Coding{System: g, Code: "unknown"}), true, true, "")
	check(t, "excluded", v.ValidateCode(t.Context(), Coding{System: g, Code: "other"}), false, true, "not in value set")
	check(t, "codeable concept", v.ValidateCodeableConcept(t.Context(), []Coding{{System: g, Code: "other"}, {System: g, Code: "male"}}), true, true, "")
	if _, ok := s.ValueSet(inlineURL); ok {
		t.Error("the inline value set is held")
	}
}
