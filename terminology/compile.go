package terminology

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// tri is a three-valued membership answer: a value set that draws on content not held here
// can say neither yes nor no about some codes.
type tri uint8

const (
	no tri = iota
	yes
	unknown
)

func or(a, b tri) tri {
	switch {
	case a == yes || b == yes:
		return yes
	case a == unknown || b == unknown:
		return unknown
	}
	return no
}

func and(a, b tri) tri {
	switch {
	case a == no || b == no:
		return no
	case a == unknown || b == unknown:
		return unknown
	}
	return yes
}

func not(a tri) tri {
	switch a {
	case yes:
		return no
	case no:
		return yes
	}
	return unknown
}

const (
	flagAbstract uint8 = 1 << iota
	flagInactive
	flagDeprecated
)

// member is one code known to be in a value set.
type member struct {
	code, display string
	flags         uint8
}

func newMember(c Concept) *member {
	m := &member{code: c.Code, display: c.Display}
	if c.Abstract {
		m.flags |= flagAbstract
	}
	if c.Inactive {
		m.flags |= flagInactive
	}
	if c.Deprecated {
		m.flags |= flagDeprecated
	}
	return m
}

// codeSet is the part of a value set drawn from one code system: the codes known to be in
// it, and for what could not be listed a predicate. Sets are immutable once built; the
// operations below make new ones.
type codeSet struct {
	system, version string
	provider        CodeSystemProvider // nil when the code system is not held
	fold            bool               // codes are case-insensitive: members are keyed in lower case
	members         map[string]*member
	order           []*member
	// rest decides codes that are not members; nil means they are not in the set.
	rest func(ctx context.Context, code string) (tri, string)
	// partial says why rest is needed (set exactly when rest is).
	partial string
}

func (s *codeSet) key(code string) string {
	if s.fold {
		return strings.ToLower(code)
	}
	return code
}

func (s *codeSet) has(ctx context.Context, code string) (tri, *member, string) {
	if m := s.members[s.key(code)]; m != nil {
		return yes, m, ""
	}
	if s.rest == nil {
		return no, nil, ""
	}
	t, why := s.rest(ctx, code)
	return t, nil, why
}

func (s *codeSet) add(m *member) {
	k := s.key(m.code)
	if s.members == nil {
		s.members = map[string]*member{}
	}
	if _, dup := s.members[k]; !dup {
		s.members[k] = m
		s.order = append(s.order, m)
	}
}

func (s *codeSet) empty() bool { return len(s.members) == 0 && s.rest == nil }

// like returns an empty set for the same code system as a and b.
func like(a, b *codeSet) *codeSet {
	out := &codeSet{system: a.system, version: a.version, provider: a.provider, fold: a.fold || b.fold}
	if out.version == "" {
		out.version = b.version
	}
	if out.provider == nil {
		out.provider = b.provider
	}
	return out
}

func unknownRest(why string) func(context.Context, string) (tri, string) {
	return func(context.Context, string) (tri, string) { return unknown, why }
}

func union(a, b *codeSet) *codeSet {
	out := like(a, b)
	for _, m := range a.order {
		out.add(m)
	}
	for _, m := range b.order {
		out.add(m)
	}
	switch {
	case a.rest == nil:
		out.rest, out.partial = b.rest, b.partial
	case b.rest == nil:
		out.rest, out.partial = a.rest, a.partial
	default:
		out.rest, out.partial = func(ctx context.Context, code string) (tri, string) {
			ta, wa := a.rest(ctx, code)
			tb, wb := b.rest(ctx, code)
			return or(ta, tb), firstOf(wa, wb)
		}, a.partial
	}
	return out
}

func intersect(ctx context.Context, a, b *codeSet) *codeSet {
	out := like(a, b)
	unknownA, unknownB := false, false
	for _, m := range a.order {
		switch t, _, _ := b.has(ctx, m.code); t {
		case yes:
			out.add(m)
		case unknown:
			unknownA = true
		}
	}
	for _, m := range b.order {
		switch t, _, _ := a.has(ctx, m.code); t {
		case yes:
			out.add(m)
		case unknown:
			unknownB = true
		}
	}
	// When one side is fully listed and each of its codes was decided, the result is too.
	if (a.rest == nil && !unknownA) || (b.rest == nil && !unknownB) {
		return out
	}
	out.rest = func(ctx context.Context, code string) (tri, string) {
		ta, _, wa := a.has(ctx, code)
		tb, _, wb := b.has(ctx, code)
		return and(ta, tb), firstOf(wa, wb)
	}
	out.partial = firstOf(a.partial, b.partial)
	return out
}

func difference(ctx context.Context, a, b *codeSet) *codeSet {
	out := like(a, b)
	undecided := false
	for _, m := range a.order {
		switch t, _, _ := b.has(ctx, m.code); t {
		case no:
			out.add(m)
		case unknown:
			undecided = true
		}
	}
	if a.rest == nil && !undecided {
		return out
	}
	out.rest = func(ctx context.Context, code string) (tri, string) {
		ta, _, wa := a.has(ctx, code)
		tb, _, wb := b.has(ctx, code)
		return and(ta, not(tb)), firstOf(wa, wb)
	}
	out.partial = firstOf(a.partial, b.partial)
	return out
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// vsSet is a value set's membership across code systems.
type vsSet struct {
	order    []*codeSet // by first appearance in the compose
	bySystem map[string]*codeSet
	// other answers for code systems not in bySystem: no, or unknown when the value set
	// imports one that is not held.
	other    tri
	otherWhy string
}

func newVSSet() *vsSet { return &vsSet{bySystem: map[string]*codeSet{}} }

func single(s *codeSet) *vsSet {
	v := newVSSet()
	v.put(s)
	return v
}

func unknownSet(why string) *vsSet {
	v := newVSSet()
	v.other, v.otherWhy = unknown, why
	return v
}

func (v *vsSet) put(s *codeSet) {
	if s.empty() {
		return
	}
	v.order = append(v.order, s)
	v.bySystem[s.system] = s
}

// get returns the part for a code system, standing in for one not listed.
func (v *vsSet) get(system string) *codeSet {
	if s := v.bySystem[system]; s != nil {
		return s
	}
	s := &codeSet{system: system}
	if v.other == unknown {
		s.rest, s.partial = unknownRest(v.otherWhy), v.otherWhy
	}
	return s
}

// combine applies a set operation system by system.
func combine(a, b *vsSet, op func(x, y *codeSet) *codeSet, other func(x, y tri) tri) *vsSet {
	out := newVSSet()
	seen := map[string]bool{}
	for _, list := range [][]*codeSet{a.order, b.order} {
		for _, s := range list {
			if !seen[s.system] {
				seen[s.system] = true
				out.put(op(a.get(s.system), b.get(s.system)))
			}
		}
	}
	out.other = other(a.other, b.other)
	if out.other == unknown {
		out.otherWhy = firstOf(a.otherWhy, b.otherWhy)
	}
	return out
}

func unionSets(a, b *vsSet) *vsSet { return combine(a, b, union, or) }

func intersectSets(ctx context.Context, a, b *vsSet) *vsSet {
	return combine(a, b, func(x, y *codeSet) *codeSet { return intersect(ctx, x, y) }, and)
}

func subtractSets(ctx context.Context, a, b *vsSet) *vsSet {
	return combine(a, b, func(x, y *codeSet) *codeSet { return difference(ctx, x, y) },
		func(x, y tri) tri { return and(x, not(y)) })
}

// compiled is a value set worked out for validation and expansion. It is immutable apart
// from the expansion list, which is built once on first use.
type compiled struct {
	url, version string
	set          *vsSet
	// stored answers, from a complete expansion the resource carries, what the compose
	// leaves undecided.
	stored    *storedExpansion
	storedSet *vsSet
	err       error
	// deps holds the URLs of every code system and value set the result was drawn from,
	// held or not, so that adding any of them drops it.
	deps map[string]struct{}
	// implicit lists an implicit value set (a provider's "?fhir_vs" URL) on demand.
	implicit *implicitList

	listOnce sync.Once
	list     []ExpansionEntry
	listErr  error
}

// compiler compiles value sets under the Service's read lock.
type compiler struct {
	s          *Service
	inProgress map[string]bool
}

// valueSet returns a value set reference compiled, from the cache or compiled and cached.
func (c *compiler) valueSet(ctx context.Context, ref string) *compiled {
	if v, ok := c.s.cache.Load(ref); ok {
		return v.(*compiled)
	}
	vs := c.s.resolveValueSet(ref)
	cv := &compiled{deps: map[string]struct{}{}}
	icv, implicit := (*compiled)(nil), false
	if vs == nil {
		icv, implicit = c.implicit(ctx, ref)
	}
	switch {
	case implicit:
		cv = icv
	case vs == nil:
		url, _, _ := splitCanonical(ref)
		cv.deps[ref], cv.deps[url] = struct{}{}, struct{}{}
		cv.err = fmt.Errorf("%w: %s", ErrUnknownValueSet, ref)
	default:
		cv.url, cv.version = vs.url, vs.version
		cv.deps[vs.url] = struct{}{}
		key := vs.url + "|" + vs.version
		if c.inProgress[key] {
			// Not cached: the value set that started the cycle records the error.
			cv.err = fmt.Errorf("%w: %s", ErrCircular, vs.url)
			return cv
		}
		c.inProgress[key] = true
		c.build(ctx, cv, vs)
		delete(c.inProgress, key)
	}
	if ctx.Err() != nil {
		return cv // a cancelled provider call must not be remembered as the answer
	}
	v, _ := c.s.cache.LoadOrStore(ref, cv)
	return v.(*compiled)
}

func (c *compiler) build(ctx context.Context, cv *compiled, vs *valueSet) {
	if vs.compose != nil && len(vs.compose.include) > 0 {
		set, err := c.compose(ctx, cv, vs.compose)
		if err != nil {
			cv.err = err
			return
		}
		cv.set = set
		if vs.expansion != nil && vs.expansion.complete {
			cv.stored, cv.storedSet = vs.expansion, expansionSet(vs.expansion)
		}
		return
	}
	if vs.expansion != nil {
		cv.set = expansionSet(vs.expansion)
		return
	}
	cv.set = unknownSet(fmt.Sprintf("value set %s has neither a compose nor an expansion", vs.url))
}

// expansionSet is the membership a stored expansion gives.
func expansionSet(x *storedExpansion) *vsSet {
	v := newVSSet()
	for _, e := range x.entries {
		s := v.bySystem[e.System]
		if s == nil {
			s = &codeSet{system: e.System, version: e.Version}
			v.order = append(v.order, s)
			v.bySystem[e.System] = s
		}
		m := &member{code: e.Code, display: e.Display}
		if e.Abstract {
			m.flags |= flagAbstract
		}
		if e.Inactive {
			m.flags |= flagInactive
		}
		s.add(m)
	}
	if !x.complete {
		const why = "the value set's stored expansion is partial"
		for _, s := range v.order {
			s.rest, s.partial = unknownRest(why), why
		}
		v.other, v.otherWhy = unknown, why
	}
	return v
}

// union compiles the include (or exclude) entries of a compose and joins them; nil for none.
func (c *compiler) union(ctx context.Context, cv *compiled, entries []include) (*vsSet, error) {
	var all *vsSet
	for i := range entries {
		s, err := c.include(ctx, cv, &entries[i])
		if err != nil {
			return nil, err
		}
		if all == nil {
			all = s
		} else {
			all = unionSets(all, s)
		}
	}
	return all, nil
}

func (c *compiler) compose(ctx context.Context, cv *compiled, comp *compose) (*vsSet, error) {
	in, err := c.union(ctx, cv, comp.include)
	if err != nil {
		return nil, err
	}
	out, err := c.union(ctx, cv, comp.exclude)
	if err != nil {
		return nil, err
	}
	if out != nil {
		in = subtractSets(ctx, in, out)
	}
	if comp.noInactive {
		in = withoutInactive(in)
	}
	return in, nil
}

// include evaluates one include (or exclude): the codes it takes from its system,
// intersected with each value set it imports.
func (c *compiler) include(ctx context.Context, cv *compiled, inc *include) (*vsSet, error) {
	var out *vsSet
	if inc.system != "" {
		cv.deps[inc.system] = struct{}{}
		out = single(c.systemPart(ctx, inc))
	}
	for _, ref := range inc.valueSets {
		sub := c.valueSet(ctx, ref)
		for d := range sub.deps {
			cv.deps[d] = struct{}{}
		}
		var s *vsSet
		switch {
		case sub.err == nil && sub.implicit != nil:
			s = single(sub.implicit.members(ctx, ref))
		case sub.err == nil:
			s = sub.set
		case errors.Is(sub.err, ErrUnknownValueSet):
			s = unknownSet(fmt.Sprintf("value set %s is not held here", ref))
		default:
			return nil, sub.err
		}
		if out == nil {
			out = s
		} else {
			out = intersectSets(ctx, out, s)
		}
	}
	if out == nil {
		out = newVSSet() // neither system nor value set: selects nothing
	}
	return out, nil
}

// systemPart is what an include takes from its code system: the listed concepts, the
// concepts passing every filter, or the whole system.
func (c *compiler) systemPart(ctx context.Context, inc *include) *codeSet {
	p := c.s.resolveSystem(inc.system, inc.version)
	cs := &codeSet{system: inc.system, provider: p}
	if p == nil {
		why := unavailable(inc.system)
		for _, l := range inc.concepts {
			// Codes a value set lists are in it, whether or not their system is held.
			cs.add(&member{code: l.code, display: l.display})
		}
		if len(inc.concepts) == 0 || len(inc.filters) > 0 {
			cs.members, cs.order = nil, nil
			cs.rest, cs.partial = unknownRest(why), why
		}
		return cs
	}
	cs.version, cs.fold = p.Version(), !p.CaseSensitive()
	complete := p.Complete()
	incomplete := heldInPart(p)
	if len(inc.concepts) > 0 {
		for _, l := range inc.concepts {
			con, ok, err := p.Lookup(ctx, l.code)
			switch {
			case ok:
				cs.add(newMember(con))
			case err != nil || !complete:
				cs.add(&member{code: l.code, display: l.display})
			}
		}
	}
	for i, f := range inc.filters {
		part := c.filterPart(ctx, inc.system, p, f)
		if i == 0 && len(inc.concepts) == 0 {
			cs = part
		} else {
			cs = intersect(ctx, cs, part)
		}
	}
	if len(inc.concepts) > 0 || len(inc.filters) > 0 {
		return cs
	}
	err := p.Concepts(ctx, func(con Concept) bool {
		cs.add(newMember(con))
		return true
	})
	switch {
	case err != nil:
		why := fmt.Sprintf("code system %s cannot be listed: %v", p.URL(), err)
		cs.members, cs.order = nil, nil
		cs.rest, cs.partial = codeByCode(func(ctx context.Context, code string) (bool, error) {
			_, ok, err := p.Lookup(ctx, code)
			return ok, err
		}, complete, incomplete), why
	case !complete:
		cs.rest, cs.partial = unknownRest(incomplete), incomplete
	}
	return cs
}

// codeByCode decides membership one code at a time, for content that cannot be listed:
// a code the test finds is in; one it does not find is out only when the code system is
// complete, and otherwise undecided for the reason incomplete gives.
func codeByCode(test func(ctx context.Context, code string) (bool, error), complete bool, incomplete string) func(context.Context, string) (tri, string) {
	return func(ctx context.Context, code string) (tri, string) {
		ok, err := test(ctx, code)
		switch {
		case err != nil:
			return unknown, err.Error()
		case ok:
			return yes, ""
		case complete:
			return no, ""
		}
		return unknown, incomplete
	}
}

func (c *compiler) filterPart(ctx context.Context, system string, p CodeSystemProvider, f filter) *codeSet {
	cs := &codeSet{system: system, version: p.Version(), provider: p, fold: !p.CaseSensitive()}
	flt, err := p.Filter(ctx, f.property, f.op, f.value)
	if err != nil {
		why := fmt.Sprintf("filter %s %s %s on %s cannot be evaluated: %v", f.property, f.op, f.value, p.URL(), err)
		cs.rest, cs.partial = unknownRest(why), why
		return cs
	}
	complete := p.Complete()
	incomplete := heldInPart(p)
	err = flt.Concepts(ctx, func(con Concept) bool {
		cs.add(newMember(con))
		return true
	})
	switch {
	case err != nil:
		cs.members, cs.order = nil, nil
		cs.rest, cs.partial = codeByCode(flt.Match, complete, incomplete), fmt.Sprintf("filter %s %s %s on %s cannot be listed: %v", f.property, f.op, f.value, p.URL(), err)
	case !complete:
		cs.rest, cs.partial = unknownRest(incomplete), incomplete
	}
	return cs
}

func heldInPart(p CodeSystemProvider) string {
	return fmt.Sprintf("code system %s is held only in part (not every code is listed)", p.URL())
}

// withoutInactive drops inactive codes (compose.inactive = false).
func withoutInactive(v *vsSet) *vsSet {
	out := newVSSet()
	out.other, out.otherWhy = v.other, v.otherWhy
	for _, s := range v.order {
		n := &codeSet{system: s.system, version: s.version, provider: s.provider, fold: s.fold, partial: s.partial}
		for _, m := range s.order {
			if m.flags&flagInactive == 0 {
				n.add(m)
			}
		}
		if rest, p := s.rest, s.provider; rest != nil {
			n.rest = func(ctx context.Context, code string) (tri, string) {
				t, why := rest(ctx, code)
				if t == yes && p != nil {
					if con, ok, _ := p.Lookup(ctx, code); ok && con.Inactive {
						return no, ""
					}
				}
				return t, why
			}
		}
		out.put(n)
	}
	return out
}
