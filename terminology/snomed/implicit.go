package snomed

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/concord-health/concord/terminology"
	"github.com/concord-health/concord/terminology/ecl"
)

var _ terminology.ImplicitValueSets = (*Provider)(nil)

// ImplicitValueSet answers SNOMED CT's implicit value sets (FHIR R4 snomedct.html): the
// query after '?' is "fhir_vs" (every concept), "fhir_vs=isa/SCTID" (the concept and its
// descendants), "fhir_vs=refset" (the reference sets with members), "fhir_vs=refset/SCTID"
// (the members) or "fhir_vs=ecl/ECL" (URL-encoded or not).
func (p *Provider) ImplicitValueSet(ctx context.Context, query string) (terminology.ConceptFilter, error) {
	v, ok := strings.CutPrefix(query, "fhir_vs")
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: %q is not a SNOMED CT implicit value set", terminology.ErrInvalidValueSet, query)
	case v == "" || v == "=":
		return allFilter{p.e}, nil
	case v == "=refset":
		return refsetsFilter{p.e}, nil
	}
	kind, arg, _ := strings.Cut(strings.TrimPrefix(v, "="), "/")
	switch kind {
	case "isa", "refset":
		id, ok := parseCode(arg)
		if !ok {
			return nil, fmt.Errorf("%w: fhir_vs=%s/%s: %q is not a SNOMED CT concept id", terminology.ErrInvalidValueSet, kind, arg, arg)
		}
		if kind == "isa" {
			return &filter{e: p.e, op: "is-a", ids: []uint64{id}}, nil
		}
		return &filter{e: p.e, op: "in", ids: []uint64{id}}, nil
	case "ecl":
		src := arg
		if strings.Contains(src, "%") {
			// The spec has the ECL URL-encoded; a caller that decoded the canonical once
			// already leaves none of its escapes.
			if d, err := url.PathUnescape(src); err == nil {
				src = d
			}
		}
		return p.eclFilter(src, "fhir_vs=ecl")
	}
	return nil, fmt.Errorf("%w: fhir_vs=%s is not a SNOMED CT implicit value set (isa/, refset/ or ecl/)", terminology.ErrInvalidValueSet, strings.TrimPrefix(v, "="))
}

// eclFilter parses an expression constraint; a syntax error wraps both ErrInvalidValueSet
// and the *ecl.Error, whose offset says where it broke.
func (p *Provider) eclFilter(src, what string) (terminology.ConceptFilter, error) {
	x, err := ecl.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %q: %w", terminology.ErrInvalidValueSet, what, src, err)
	}
	return &eclFilter{e: p.e, expr: x}, nil
}

// eclFilter selects the concepts of an expression constraint. Codes are matched one by one
// until the expression has been expanded once (for an expansion); from then on membership
// is a search of the expanded set.
type eclFilter struct {
	e    *Edition
	expr *ecl.Expr

	mu  sync.Mutex
	set *ecl.Set
}

func (f *eclFilter) Match(ctx context.Context, code string) (bool, error) {
	id, ok := parseCode(code)
	if !ok {
		return false, nil
	}
	f.mu.Lock()
	set := f.set
	f.mu.Unlock()
	if set != nil {
		return set.Contains(id), nil
	}
	return f.expr.Matches(ctx, f.e, id)
}

// evaluate expands the expression once; matches running meanwhile are not held up by it.
func (f *eclFilter) evaluate(ctx context.Context) (*ecl.Set, error) {
	f.mu.Lock()
	set := f.set
	f.mu.Unlock()
	if set != nil {
		return set, nil
	}
	s, err := f.expr.Evaluate(ctx, f.e)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.set == nil {
		f.set = &s
	}
	return f.set, nil
}

func (f *eclFilter) Concepts(ctx context.Context, yield func(terminology.Concept) bool) error {
	s, err := f.evaluate(ctx)
	if err != nil {
		return err
	}
	for _, id := range s.IDs() {
		if c, ok := f.e.index(id); ok && !yield(f.e.concept(c)) {
			break
		}
	}
	return ctx.Err()
}

// concept is a concept with code, display and status, as expansions list them.
func (e *Edition) concept(c uint32) terminology.Concept {
	return terminology.Concept{Code: strconv.FormatUint(e.ids[c], 10), Display: e.display(c), Inactive: e.flags[c]&flagActive == 0}
}

// allFilter is every concept of the edition, active or not: decidable, too large to list.
type allFilter struct{ e *Edition }

func (f allFilter) Match(_ context.Context, code string) (bool, error) {
	id, ok := parseCode(code)
	return ok && f.e.Known(id), nil
}

func (allFilter) Concepts(context.Context, func(terminology.Concept) bool) error {
	return fmt.Errorf("%w: every SNOMED CT concept is too many to list", terminology.ErrNotEnumerable)
}

// refsetsFilter is the simple reference sets that have active members.
type refsetsFilter struct{ e *Edition }

func (f refsetsFilter) Match(_ context.Context, code string) (bool, error) {
	id, ok := parseCode(code)
	if !ok {
		return false, nil
	}
	_, found := slices.BinarySearch(f.e.refsets, id)
	return found && f.e.Known(id), nil
}

func (f refsetsFilter) Concepts(ctx context.Context, yield func(terminology.Concept) bool) error {
	for _, id := range f.e.refsets {
		if c, ok := f.e.index(id); ok && !yield(f.e.concept(c)) {
			break
		}
	}
	return ctx.Err()
}
