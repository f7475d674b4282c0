package snomed

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/concord-health/concord/terminology"
)

// System is the SNOMED CT code system URL.
const System = "http://snomed.info/sct"

// Provider answers for an Edition as a terminology.CodeSystemProvider.
type Provider struct{ e *Edition }

// NewProvider plugs an edition into the terminology service (Service.AddProvider).
func NewProvider(e *Edition) *Provider { return &Provider{e: e} }

var _ terminology.CodeSystemProvider = (*Provider)(nil)

// URL is http://snomed.info/sct.
func (p *Provider) URL() string { return System }

// Version is the edition URI.
func (p *Provider) Version() string { return p.e.Version() }

// Complete: the edition holds every concept it knows of.
func (p *Provider) Complete() bool { return true }

// CaseSensitive: SNOMED CT codes are digits.
func (p *Provider) CaseSensitive() bool { return false }

func parseCode(code string) (uint64, bool) {
	id, err := strconv.ParseUint(strings.TrimSpace(code), 10, 64)
	return id, err == nil
}

var (
	fsnUse     = terminology.Coding{System: System, Code: "900000000000003001", Display: "Fully specified name"}
	synonymUse = terminology.Coding{System: System, Code: "900000000000013009", Display: "Synonym"}
	defUse     = terminology.Coding{System: System, Code: "900000000000550004", Display: "Definition"}
)

// Lookup answers a concept with its display (preferred term in the edition's languages,
// en-GB by default), designations (FSN, synonyms and definitions) and properties (parent,
// child, inactive, moduleId, sufficientlyDefined).
func (p *Provider) Lookup(ctx context.Context, code string) (terminology.Concept, bool, error) {
	id, ok := parseCode(code)
	if !ok {
		return terminology.Concept{}, false, nil
	}
	c, ok := p.e.Concept(id)
	if !ok {
		return terminology.Concept{}, false, nil
	}
	out := terminology.Concept{Code: strconv.FormatUint(id, 10), Display: c.Preferred, Inactive: !c.Active}
	for _, d := range c.Descriptions {
		use := synonymUse
		switch d.Type {
		case FullySpecifiedName:
			use = fsnUse
		case TextDefinition:
			use = defUse
			if out.Definition == "" {
				out.Definition = d.Term
			}
		}
		out.Designations = append(out.Designations, terminology.Designation{Language: d.Language, Use: use, Value: d.Term})
	}
	for _, x := range p.e.Parents(id) {
		out.Properties = append(out.Properties, terminology.Property{Code: "parent", Type: "code", Value: strconv.FormatUint(x, 10)})
	}
	for _, x := range p.e.Children(id) {
		out.Properties = append(out.Properties, terminology.Property{Code: "child", Type: "code", Value: strconv.FormatUint(x, 10)})
	}
	out.Properties = append(out.Properties,
		terminology.Property{Code: "inactive", Type: "boolean", Value: strconv.FormatBool(!c.Active)},
		terminology.Property{Code: "moduleId", Type: "code", Value: strconv.FormatUint(c.Module, 10)},
		terminology.Property{Code: "sufficientlyDefined", Type: "boolean", Value: strconv.FormatBool(c.Defined)},
	)
	return out, true, nil
}

// Filter evaluates property "concept" with is-a, descendent-of, is-not-a, generalizes, =
// and in (members of a simple refset, or of any of a comma-separated list), property
// "constraint" with = and an ECL expression, and "expressions = false" (no
// post-coordinated expressions, which the edition never holds: every concept).
func (p *Provider) Filter(ctx context.Context, property, op, value string) (terminology.ConceptFilter, error) {
	switch {
	case property == "constraint" && op == "=":
		return p.eclFilter(value, "constraint")
	case property == "expressions" && op == "=" && value == "false":
		return allFilter{p.e}, nil
	case property != "concept":
		return nil, fmt.Errorf("%w: SNOMED CT filter %s %s %s (properties concept, constraint =, expressions = false)", terminology.ErrUnsupportedFilter, property, op, value)
	}
	switch op {
	case "is-a", "descendent-of", "is-not-a", "generalizes", "=", "in":
	default:
		return nil, fmt.Errorf("%w: SNOMED CT filter operator %q", terminology.ErrUnsupportedFilter, op)
	}
	var ids []uint64
	for _, v := range strings.Split(value, ",") {
		id, ok := parseCode(v)
		if !ok {
			return nil, fmt.Errorf("snomed: filter value %q is not a SNOMED CT concept id", v)
		}
		ids = append(ids, id)
	}
	if op != "in" && len(ids) != 1 {
		return nil, fmt.Errorf("snomed: filter %s takes one concept, not %q", op, value)
	}
	return &filter{e: p.e, op: op, ids: ids}, nil
}

// Concepts: SNOMED CT is too large to list; filters over it can still be expanded.
func (p *Provider) Concepts(ctx context.Context, yield func(terminology.Concept) bool) error {
	return fmt.Errorf("%w: SNOMED CT is too large to list in full", terminology.ErrNotEnumerable)
}

type filter struct {
	e   *Edition
	op  string
	ids []uint64
}

func (f *filter) Match(ctx context.Context, code string) (bool, error) {
	id, ok := parseCode(code)
	if !ok || !f.e.Known(id) {
		return false, nil
	}
	v := f.ids[0]
	switch f.op {
	case "is-a":
		return f.e.Subsumes(v, id), nil
	case "descendent-of":
		return id != v && f.e.Subsumes(v, id), nil
	case "is-not-a":
		return !f.e.Subsumes(v, id), nil
	case "generalizes":
		return f.e.Subsumes(id, v), nil
	case "=":
		return id == v, nil
	}
	for _, r := range f.ids {
		if f.e.IsMember(r, id) {
			return true, nil
		}
	}
	return false, nil
}

// Concepts yields the matching concepts with code, display and status; their designations
// and properties come from Lookup, which an expansion of tens of thousands does not need.
func (f *filter) Concepts(ctx context.Context, yield func(terminology.Concept) bool) error {
	e := f.e
	return f.walk(ctx, func(c uint32) bool {
		return yield(terminology.Concept{Code: strconv.FormatUint(e.ids[c], 10), Display: e.display(c), Inactive: e.flags[c]&flagActive == 0})
	})
}

// Codes yields the matching concepts' codes alone: a search over a branch of a hundred
// thousand concepts needs no displays (terminology.CodeLister).
func (f *filter) Codes(ctx context.Context, yield func(string) bool) error {
	e := f.e
	return f.walk(ctx, func(c uint32) bool { return yield(strconv.FormatUint(e.ids[c], 10)) })
}

// walk calls emit with each matching concept number, once each, until it returns false.
func (f *filter) walk(ctx context.Context, yield func(c uint32) bool) error {
	e := f.e
	n := 0
	emit := func(c uint32) bool {
		if n++; n&0xfff == 0 && ctx.Err() != nil {
			return false
		}
		return yield(c)
	}
	v, ok := e.index(f.ids[0])
	switch f.op {
	case "is-a", "descendent-of":
		if !ok {
			return nil
		}
		if f.op == "is-a" && !emit(v) {
			return ctx.Err()
		}
		var seen Bitset
		e.walkDescendants(v, &seen, emit)
	case "generalizes":
		if !ok {
			return nil
		}
		if emit(v) {
			for _, a := range e.anc[e.ancOff[v]:e.ancOff[v+1]] {
				if !emit(a) {
					break
				}
			}
		}
	case "=":
		if ok {
			emit(v)
		}
	case "is-not-a":
		for c := range e.ids {
			if e.flags[c]&flagActive == 0 || ok && e.Subsumes(f.ids[0], e.ids[c]) {
				continue
			}
			if !emit(uint32(c)) {
				break
			}
		}
	case "in":
		seen := map[uint64]bool{}
		for _, r := range f.ids {
			for _, m := range e.Members(r) {
				c, ok := e.index(m)
				if !ok || seen[m] {
					continue // a description or other component: not a concept of this system
				}
				seen[m] = true
				if !emit(c) {
					return ctx.Err()
				}
			}
		}
	}
	return ctx.Err()
}

var _ terminology.Subsumer = (*Provider)(nil)

// Subsumes answers CodeSystem/$subsumes: a subsumes b when b is a or one of its
// descendants. Codes that are not concepts of the edition are an error.
func (p *Provider) Subsumes(ctx context.Context, a, b string) (bool, error) {
	x, okA := parseCode(a)
	y, okB := parseCode(b)
	switch {
	case !okA || !p.e.Known(x):
		return false, fmt.Errorf("%w: %s is not a SNOMED CT concept", terminology.ErrUnknownCode, a)
	case !okB || !p.e.Known(y):
		return false, fmt.Errorf("%w: %s is not a SNOMED CT concept", terminology.ErrUnknownCode, b)
	}
	return p.e.Subsumes(x, y), nil
}
