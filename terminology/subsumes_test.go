package terminology

import (
	"context"
	"errors"
	"testing"
)

// isaSnomed adds subsumption to the SNOMED stand-in, as the real provider does.
type isaSnomed struct{ snomed }

func (isaSnomed) Subsumes(_ context.Context, a, b string) (bool, error) {
	for c := b; c != ""; c = snomedConcepts[c].parent {
		if c == a {
			return true, nil
		}
	}
	return false, nil
}

func TestSubsumes(t *testing.T) {
	s := core(t)
	add(t, s, `{"resourceType":"CodeSystem","url":"http://example.org/shapes","version":"1","status":"active","content":"complete","caseSensitive":false,
	 "concept":[{"code":"shape","concept":[{"code":"polygon","concept":[{"code":"square"},{"code":"triangle"}]},{"code":"ellipse","concept":[{"code":"circle"}]}]},
	  {"code":"rhombus","property":[{"code":"parent","valueCode":"polygon"}]},
	  {"code":"colour"}]}`)
	s.AddProvider(isaSnomed{})
	s.AddProvider(numbers{url: "http://example.org/numbers"})
	const null = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
	for _, tc := range []struct {
		name, system, a, b string
		want               Subsumption
		err                error
	}{
		{"nested", "http://example.org/shapes", "shape", "circle", ASubsumesB, nil},
		{"nested reversed", "http://example.org/shapes", "square", "polygon", ASubsumedByB, nil},
		{"parent property", "http://example.org/shapes", "shape", "rhombus", ASubsumesB, nil},
		{"siblings", "http://example.org/shapes", "square", "triangle", NotSubsumed, nil},
		{"unrelated roots", "http://example.org/shapes", "colour", "shape", NotSubsumed, nil},
		{"same", "http://example.org/shapes", "circle", "circle", Equivalent, nil},
		{"same ignoring case", "http://example.org/shapes", "Circle", "CIRCLE", Equivalent, nil},
		{"version pinned", "http://example.org/shapes|1", "ellipse", "circle", ASubsumesB, nil},
		{"version not held", "http://example.org/shapes|2", "ellipse", "circle", "", ErrUnknownCodeSystem},
		{"v3 child property", null, "NAVU", "NAV", ASubsumesB, nil},
		{"v3 nesting", null, "ASKU", "NI", ASubsumedByB, nil},
		{"provider", "http://snomed.info/sct", "404684003", "22298006", ASubsumesB, nil},
		{"provider reversed", "http://snomed.info/sct", "38341003", "404684003", ASubsumedByB, nil},
		{"provider unrelated", "http://snomed.info/sct", "71388002", "22298006", NotSubsumed, nil},
		{"unknown code", "http://example.org/shapes", "shape", "cube", "", ErrUnknownCode},
		{"unknown system", "http://example.org/none", "a", "b", "", ErrUnknownCodeSystem},
		{"no hierarchy", "http://example.org/numbers", "1", "2", "", ErrNoHierarchy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Subsumes(t.Context(), tc.system, tc.a, tc.b)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Subsumes(%s, %s) = %q, %v; want %q", tc.a, tc.b, got, err, tc.want)
			}
		})
	}
}

func TestLookupCode(t *testing.T) {
	s := core(t)
	add(t, s, `{"resourceType":"CodeSystem","url":"http://example.org/shapes","version":"1","name":"Shapes","status":"active","content":"fragment",
	 "concept":[{"code":"shape","display":"Shape","concept":[{"code":"circle","display":"Circle","designation":[{"language":"fr","value":"Cercle"}]}]}]}`)
	for _, tc := range []struct {
		name, system, version, code string
		display, sysName            string
		parents, children           []string
		err                         error
	}{
		{name: "nested", system: "http://example.org/shapes", code: "circle", display: "Circle", sysName: "Shapes", parents: []string{"shape"}},
		{name: "root", system: "http://example.org/shapes", version: "1", code: "shape", display: "Shape", sysName: "Shapes", children: []string{"circle"}},
		{name: "canonical", system: "http://example.org/shapes|1", code: "shape", display: "Shape", sysName: "Shapes", children: []string{"circle"}},
		{name: "core", system: "http://hl7.org/fhir/administrative-gender", code: "male", display: "Male", sysName: "AdministrativeGender"},
		{name: "fragment", system: "http://example.org/shapes", code: "square", err: ErrUnknownCode},
		{name: "version", system: "http://example.org/shapes", version: "9", code: "shape", err: ErrUnknownCodeSystem},
		{name: "external", system: "http://loinc.org", code: "1-8", err: ErrUnknownCodeSystem},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := s.LookupCode(t.Context(), tc.system, tc.version, tc.code)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Display != tc.display || r.Name != tc.sysName || !equal(r.Parents, tc.parents) || !equal(r.Children, tc.children) {
				t.Fatalf("got %+v", r)
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func BenchmarkSubsumes(b *testing.B) {
	s := core(b)
	ctx := context.Background()
	for b.Loop() {
		if o, err := s.Subsumes(ctx, "http://terminology.hl7.org/CodeSystem/v3-NullFlavor", "NI", "NAV"); err != nil || o != ASubsumesB {
			b.Fatal(o, err)
		}
	}
}
