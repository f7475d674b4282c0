package terminology

import (
	"slices"
	"testing"
)

func TestImplicitCanonical(t *testing.T) {
	for _, tc := range []struct {
		ref, base, query string
		ok               bool
		prefixes         []string
	}{
		{"http://snomed.info/sct?fhir_vs", "http://snomed.info/sct", "fhir_vs", true,
			[]string{"http://snomed.info/sct", "http://snomed.info"}},
		{"http://snomed.info/sct/83821000000107/version/20250101?fhir_vs=isa/404684003",
			"http://snomed.info/sct/83821000000107/version/20250101", "fhir_vs=isa/404684003", true,
			[]string{"http://snomed.info/sct/83821000000107/version/20250101", "http://snomed.info/sct/83821000000107/version",
				"http://snomed.info/sct/83821000000107", "http://snomed.info/sct", "http://snomed.info"}},
		{"http://snomed.info/sct?fhir_vs=ecl/<< 404684003 |Clinical finding|", "http://snomed.info/sct", "fhir_vs=ecl/<< 404684003 |Clinical finding|", true, nil},
		{"http://example.org/vs", "", "", false, nil},
		{"?fhir_vs", "", "", false, nil},
	} {
		base, query, ok := splitImplicit(tc.ref)
		if base != tc.base || query != tc.query || ok != tc.ok {
			t.Errorf("splitImplicit(%s) = %q, %q, %v", tc.ref, base, query, ok)
		}
		if tc.prefixes != nil {
			if got := prefixes(base); !slices.Equal(got, tc.prefixes) {
				t.Errorf("prefixes(%s) = %q", base, got)
			}
		}
	}
}
