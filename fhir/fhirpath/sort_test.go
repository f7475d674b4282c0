package fhirpath

import (
	"strings"
	"testing"

	"github.com/concord-health/concord/fhir"
)

// reflectCase is one expression and its expected result, each item in its string form
// joined by "|", or wantErr for an evaluation error.
type reflectCase struct {
	expr    string
	want    string
	wantErr bool
}

func runReflectCases(t *testing.T, focus *fhir.Node, cases []reflectCase) {
	t.Helper()
	for _, c := range cases {
		e, err := Compile(c.expr)
		if err != nil {
			t.Errorf("%s: compile: %v", c.expr, err)
			continue
		}
		out, err := e.Evaluate(focus)
		if c.wantErr {
			if err == nil {
				t.Errorf("%s: want an error, got %v", c.expr, out)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		parts := make([]string, len(out))
		for i, n := range out {
			parts[i], _ = toText(n)
		}
		if got := strings.Join(parts, "|"); got != c.want {
			t.Errorf("%s = %q, want %q", c.expr, got, c.want)
		}
	}
}

func TestSort(t *testing.T) {
	pat := parseResource(t, `{"resourceType": "Patient", "name": [
		{"use": "official", "family": "Chalmers", "given": ["Peter"]},
		{"use": "usual", "given": ["Jim"]},
		{"use": "maiden", "family": "Windsor", "given": ["Peter"]},
		{"use": "old", "family": "Chalmers", "given": ["Adam"]}]}`)
	runReflectCases(t, pat, []reflectCase{
		{expr: "(3 | 1 | 2).sort()", want: "1|2|3"},
		{expr: "(3 | 1.5 | 2).sort(-$this)", want: "3|2|1.5"},
		{expr: "('b' | 'c' | 'a').sort(-$this)", want: "c|b|a"},
		{expr: "(true | false).sort()", want: "false|true"},
		{expr: "{}.sort()", want: ""},
		// empty keys first in either direction; ties keep their order (stable)
		{expr: "Patient.name.sort(family).use", want: "usual|official|old|maiden"},
		{expr: "Patient.name.sort(-family).use", want: "usual|maiden|official|old"},
		{expr: "Patient.name.sort(-family, given.first()).use", want: "usual|maiden|old|official"},
		{expr: "(1 | 'a').sort()", wantErr: true},
		{expr: "Patient.name.sort(given | family)", wantErr: true},
	})
}
