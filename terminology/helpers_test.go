package terminology

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/concord-health/concord/fhir"
)

// core returns a Service with the core content, failing the test if it cannot be loaded.
func core(tb testing.TB) *Service {
	tb.Helper()
	s, err := Core()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// add parses a resource and adds it.
func add(tb testing.TB, s *Service, js string) {
	tb.Helper()
	res, err := fhir.Parse([]byte(js))
	if err != nil {
		tb.Fatalf("parse: %v\n%s", err, js)
	}
	if err := s.Add(res); err != nil {
		tb.Fatal(err)
	}
}

// expandCodes expands a value set and returns its codes in order.
func expandCodes(tb testing.TB, s *Service, vs string) []string {
	tb.Helper()
	x, err := s.Expand(tb.Context(), vs, ExpandOptions{})
	if err != nil {
		tb.Fatalf("expand %s: %v", vs, err)
	}
	var out []string
	for _, e := range x.Contains {
		out = append(out, e.Code)
	}
	return out
}

// vsJSON returns a ValueSet resource with the given url and compose (JSON).
func vsJSON(url, compose string) string {
	return fmt.Sprintf(`{"resourceType":"ValueSet","url":%q,"status":"active","compose":%s}`, url, compose)
}

// numbers is a code system provider that cannot be listed, standing in for a large external
// system: its codes are the integers 0 to 999999, "parity" filters them.
type numbers struct{ url string }

func (n numbers) URL() string         { return n.url }
func (n numbers) Version() string     { return "1" }
func (n numbers) Complete() bool      { return true }
func (n numbers) CaseSensitive() bool { return true }

func (n numbers) Lookup(_ context.Context, code string) (Concept, bool, error) {
	v, err := strconv.Atoi(code)
	if err != nil || v < 0 || v > 999999 || strconv.Itoa(v) != code {
		return Concept{}, false, nil
	}
	return Concept{Code: code, Display: "number " + code, Inactive: v == 13}, true, nil
}

func (n numbers) Filter(_ context.Context, property, op, value string) (ConceptFilter, error) {
	if property != "parity" || op != "=" || (value != "even" && value != "odd") {
		return nil, fmt.Errorf("%w: %s %s %s", ErrUnsupportedFilter, property, op, value)
	}
	return parity{n, map[string]int{"even": 0, "odd": 1}[value]}, nil
}

func (n numbers) Concepts(context.Context, func(Concept) bool) error {
	return fmt.Errorf("%w: a million codes", ErrNotEnumerable)
}

type parity struct {
	n   numbers
	rem int
}

func (p parity) Match(ctx context.Context, code string) (bool, error) {
	if _, ok, _ := p.n.Lookup(ctx, code); !ok {
		return false, nil
	}
	v, _ := strconv.Atoi(code)
	return v%2 == p.rem, nil
}

func (p parity) Concepts(context.Context, func(Concept) bool) error {
	return errors.New("half a million codes")
}

// snomed is a tiny stand-in for a SNOMED CT provider: a few concepts under "Clinical
// finding" with an is-a hierarchy.
type snomed struct{}

var snomedConcepts = map[string]struct{ display, parent string }{
	"404684003": {"Clinical finding", ""},
	"22298006":  {"Myocardial infarction", "404684003"},
	"38341003":  {"Hypertensive disorder", "404684003"},
	"71388002":  {"Procedure", ""},
	"160245001": {"No current problems or disability", "404684003"},
}

func (snomed) URL() string         { return "http://snomed.info/sct" }
func (snomed) Version() string     { return "http://snomed.info/sct/83821000000107/version/20250101" }
func (snomed) Complete() bool      { return true }
func (snomed) CaseSensitive() bool { return false }

func (snomed) Lookup(_ context.Context, code string) (Concept, bool, error) {
	c, ok := snomedConcepts[code]
	return Concept{Code: code, Display: c.display}, ok, nil
}

func (s snomed) Filter(_ context.Context, property, op, value string) (ConceptFilter, error) {
	if property != "concept" || op != "is-a" {
		return nil, ErrUnsupportedFilter
	}
	return snomedIsA{value}, nil
}

func (snomed) Concepts(context.Context, func(Concept) bool) error { return ErrNotEnumerable }

type snomedIsA struct{ root string }

func (f snomedIsA) Match(_ context.Context, code string) (bool, error) {
	for c := code; c != ""; c = snomedConcepts[c].parent {
		if c == f.root {
			return true, nil
		}
	}
	return false, nil
}

func (f snomedIsA) Concepts(context.Context, func(Concept) bool) error { return ErrNotEnumerable }

// check fails unless the result has the wanted validity, knowledge and message fragment.
func check(t *testing.T, name string, r Result, valid, known bool, msg string) {
	t.Helper()
	if r.Valid != valid || r.Known != known || !strings.Contains(r.Message, msg) {
		t.Errorf("%s: got %+v, want valid=%v known=%v message containing %q", name, r, valid, known, msg)
	}
}
