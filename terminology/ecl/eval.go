package ecl

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// IsA is the |Is a| attribute. Graph.Relationships leaves it out, so the evaluator answers
// refinements and dotted attributes on it from Parents and Children.
const IsA uint64 = 116680003

// Relationship is an active inferred relationship other than |Is a|.
type Relationship = struct {
	Type, Destination uint64
	Group             int
	Value             string // concrete value as written ("#5", "\"text\""), "" if none
}

// Graph is the view of a SNOMED CT edition that expressions are evaluated over.
type Graph interface {
	Exists(id uint64) bool                          // an active concept
	Descendants(id uint64, yield func(uint64) bool) // strict descendants (inferred is-a, active)
	Ancestors(id uint64, yield func(uint64) bool)
	Children(id uint64) []uint64
	Parents(id uint64) []uint64
	All(yield func(uint64) bool)                // every active concept
	Members(refset uint64) []uint64             // active members of a simple refset
	Relationships(source uint64) []Relationship // active inferred non-is-a relationships
	Sources(typ, destination uint64) []uint64   // concepts with an active relationship of this type to destination
	Terms(id uint64) []string                   // active descriptions (for description filters)
}

// MemberTester is an optional Graph extension: a direct membership test, which Matches
// prefers to scanning Members when deciding `^ refset` for one concept.
type MemberTester interface {
	IsMember(refset, id uint64) bool
}

// Evaluate expands the expression into the set of active concepts it selects.
func (e *Expr) Evaluate(ctx context.Context, g Graph) (Set, error) {
	ev := &evaluator{ctx: ctx, g: g}
	return ev.eval(e)
}

// Matches decides whether one concept is selected by the expression. Hierarchy operators on
// a concept become walks up from id, and refinements are checked on id's own relationships,
// so the whole set is expanded only for constructs that need it (ancestor operators on a
// compound operand, top and bottom).
func (e *Expr) Matches(ctx context.Context, g Graph, id uint64) (bool, error) {
	ev := &evaluator{ctx: ctx, g: g, lazy: true}
	return ev.match(e, id)
}

type matchKey struct {
	e  *Expr
	id uint64
}

type evaluator struct {
	ctx   context.Context
	g     Graph
	lazy  bool // membership by match rather than by expansion
	sets  map[*Expr]Set
	memo  map[matchKey]bool
	steps int
}

// tick checks for cancellation now and then inside long loops.
func (ev *evaluator) tick() error {
	ev.steps++
	if ev.steps&4095 == 0 {
		return ev.ctx.Err()
	}
	return nil
}

// has decides membership of id in e, expanding e once (and caching it) in Evaluate, and
// matching lazily in Matches.
func (ev *evaluator) has(e *Expr, id uint64) (bool, error) {
	switch e.Kind {
	case KindWildcard:
		return ev.g.Exists(id), nil
	case KindConcept:
		return id == e.Concept && ev.g.Exists(id), nil
	}
	if ev.lazy {
		return ev.match(e, id)
	}
	s, err := ev.cached(e)
	if err != nil {
		return false, err
	}
	return s.Contains(id), nil
}

func (ev *evaluator) cached(e *Expr) (Set, error) {
	if s, ok := ev.sets[e]; ok {
		return s, nil
	}
	s, err := ev.eval(e)
	if err != nil {
		return Set{}, err
	}
	if ev.sets == nil {
		ev.sets = map[*Expr]Set{}
	}
	ev.sets[e] = s
	return s, nil
}

func (ev *evaluator) eval(e *Expr) (Set, error) {
	if err := ev.ctx.Err(); err != nil {
		return Set{}, err
	}
	switch e.Kind {
	case KindConcept:
		if ev.g.Exists(e.Concept) {
			return Set{ids: []uint64{e.Concept}}, nil
		}
		return Set{}, nil
	case KindWildcard:
		var ids []uint64
		ev.g.All(func(id uint64) bool { ids = append(ids, id); return true })
		return NewSet(ids), nil
	case KindHierarchy:
		return ev.hierarchy(e)
	case KindMemberOf:
		refsets, err := ev.eval(e.Left)
		if err != nil {
			return Set{}, err
		}
		var ids []uint64
		for _, r := range refsets.ids {
			for _, m := range ev.g.Members(r) {
				// A refset may list a concept that has since become inactive.
				if ev.g.Exists(m) {
					ids = append(ids, m)
				}
			}
		}
		return NewSet(ids), nil
	case KindAnd, KindOr, KindMinus:
		a, err := ev.eval(e.Left)
		if err != nil {
			return Set{}, err
		}
		if e.Kind != KindOr && a.Len() == 0 {
			return a, nil
		}
		b, err := ev.eval(e.Right)
		if err != nil {
			return Set{}, err
		}
		switch e.Kind {
		case KindAnd:
			return intersect(a, b), nil
		case KindOr:
			return union(a, b), nil
		}
		return minus(a, b), nil
	case KindRefined:
		return ev.refined(e)
	case KindDotted:
		return ev.dotted(e)
	case KindFiltered:
		s, err := ev.eval(e.Left)
		if err != nil {
			return Set{}, err
		}
		var out []uint64
		for _, id := range s.ids {
			if err := ev.tick(); err != nil {
				return Set{}, err
			}
			if ev.filtersHold(e.Filters, id) {
				out = append(out, id)
			}
		}
		return Set{ids: out}, nil
	}
	return Set{}, nil
}

func (ev *evaluator) hierarchy(e *Expr) (Set, error) {
	// A single concept operand skips building a one-element set and its walk bookkeeping.
	if e.Left.Kind == KindConcept && e.Op != Top && e.Op != Bottom {
		x := e.Left.Concept
		if !ev.g.Exists(x) {
			return Set{}, nil
		}
		var ids []uint64
		switch e.Op {
		case DescendantOf, DescendantOrSelfOf, AncestorOf, AncestorOrSelfOf:
			walk := ev.g.Descendants
			if e.Op == AncestorOf || e.Op == AncestorOrSelfOf {
				walk = ev.g.Ancestors
			}
			var err error
			walk(x, func(id uint64) bool {
				ids = append(ids, id)
				if err = ev.tick(); err != nil {
					return false
				}
				return true
			})
			if err != nil {
				return Set{}, err
			}
		case ChildOf, ChildOrSelfOf:
			ids = slices.Clone(ev.g.Children(x))
		case ParentOf, ParentOrSelfOf:
			ids = slices.Clone(ev.g.Parents(x))
		}
		switch e.Op {
		case DescendantOrSelfOf, AncestorOrSelfOf, ChildOrSelfOf, ParentOrSelfOf:
			ids = append(ids, x)
		}
		return NewSet(ids), nil
	}
	s, err := ev.eval(e.Left)
	if err != nil {
		return Set{}, err
	}
	if e.Left.Kind == KindWildcard {
		return ev.hierarchyOfAll(e.Op, s), nil
	}
	switch e.Op {
	case DescendantOf, DescendantOrSelfOf:
		out, err := ev.closure(s, ev.g.Descendants)
		if err != nil || e.Op == DescendantOf {
			return out, err
		}
		return union(out, s), nil
	case AncestorOf, AncestorOrSelfOf:
		out, err := ev.closure(s, ev.g.Ancestors)
		if err != nil || e.Op == AncestorOf {
			return out, err
		}
		return union(out, s), nil
	case ChildOf, ChildOrSelfOf, ParentOf, ParentOrSelfOf:
		step := ev.g.Children
		if e.Op == ParentOf || e.Op == ParentOrSelfOf {
			step = ev.g.Parents
		}
		var ids []uint64
		for _, x := range s.ids {
			ids = append(ids, step(x)...)
		}
		if e.Op == ChildOrSelfOf || e.Op == ParentOrSelfOf {
			ids = append(ids, s.ids...)
		}
		return NewSet(ids), nil
	case Top:
		// Members with no ancestor in the set; ancestor walks are short.
		var out []uint64
		for _, x := range s.ids {
			top := true
			ev.g.Ancestors(x, func(a uint64) bool {
				top = !s.Contains(a)
				return top
			})
			if top {
				out = append(out, x)
			}
		}
		return Set{ids: out}, nil
	case Bottom:
		// Members that are nobody's ancestor within the set.
		var above []uint64
		for _, x := range s.ids {
			if err := ev.tick(); err != nil {
				return Set{}, err
			}
			ev.g.Ancestors(x, func(a uint64) bool {
				if s.Contains(a) {
					above = append(above, a)
				}
				return true
			})
		}
		return minus(s, NewSet(above)), nil
	}
	return Set{}, nil
}

// hierarchyOfAll applies an operator to every concept without walking from each one: a
// concept is a descendant (or child) of some concept exactly when it has a parent, and an
// ancestor (or parent) exactly when it has a child.
func (ev *evaluator) hierarchyOfAll(op Operator, all Set) Set {
	var keep func(uint64) bool
	switch op {
	case DescendantOf, ChildOf:
		keep = func(id uint64) bool { return len(ev.g.Parents(id)) > 0 }
	case AncestorOf, ParentOf:
		keep = func(id uint64) bool { return len(ev.g.Children(id)) > 0 }
	case Top:
		keep = func(id uint64) bool { return len(ev.g.Parents(id)) == 0 }
	case Bottom:
		keep = func(id uint64) bool { return len(ev.g.Children(id)) == 0 }
	default:
		return all
	}
	var out []uint64
	for _, id := range all.ids {
		if keep(id) {
			out = append(out, id)
		}
	}
	return Set{ids: out}
}

// closure is the union of the strict descendants (or ancestors) of every member of s. A
// member already reached from another is skipped: its closure is already included.
func (ev *evaluator) closure(s Set, walk func(uint64, func(uint64) bool)) (Set, error) {
	seen := make(map[uint64]struct{})
	var ids []uint64
	var err error
	for _, x := range s.ids {
		if _, ok := seen[x]; ok {
			continue
		}
		walk(x, func(id uint64) bool {
			if _, ok := seen[id]; !ok {
				seen[id] = struct{}{}
				ids = append(ids, id)
			}
			err = ev.tick()
			return err == nil
		})
		if err != nil {
			return Set{}, err
		}
	}
	return NewSet(ids), nil
}

func (ev *evaluator) dotted(e *Expr) (Set, error) {
	sources, err := ev.eval(e.Left)
	if err != nil {
		return Set{}, err
	}
	isa, err := ev.namesIsA(e.Right)
	if err != nil {
		return Set{}, err
	}
	var ids []uint64
	for _, s := range sources.ids {
		if err := ev.tick(); err != nil {
			return Set{}, err
		}
		for _, r := range ev.g.Relationships(s) {
			if r.Value != "" {
				continue
			}
			ok, err := ev.has(e.Right, r.Type)
			if err != nil {
				return Set{}, err
			}
			if ok {
				ids = append(ids, r.Destination)
			}
		}
		if isa {
			ids = append(ids, ev.g.Parents(s)...)
		}
	}
	return NewSet(ids), nil
}

func (ev *evaluator) refined(e *Expr) (Set, error) {
	isa, err := ev.mentionsIsA(e.Refinement)
	if err != nil {
		return Set{}, err
	}
	cands, ok, err := ev.candidates(e.Refinement)
	if err != nil {
		return Set{}, err
	}
	var focus Set
	if ok {
		// Few concepts can satisfy the refinement: test those against the focus
		// rather than every member of the focus against the refinement.
		keep := cands.ids[:0:0]
		for _, id := range cands.ids {
			var in bool
			var err error
			if cands.Len() <= 10000 {
				in, err = ev.match(e.Left, id) // an ancestor walk beats expanding a large focus
			} else {
				in, err = ev.has(e.Left, id)
			}
			if err != nil {
				return Set{}, err
			}
			if in {
				keep = append(keep, id)
			}
		}
		focus = Set{ids: keep}
	} else if focus, err = ev.eval(e.Left); err != nil {
		return Set{}, err
	}
	var out []uint64
	for _, id := range focus.ids {
		if err := ev.tick(); err != nil {
			return Set{}, err
		}
		in, err := ev.refine(e.Refinement, id, ev.relationships(id, isa))
		if err != nil {
			return Set{}, err
		}
		if in {
			out = append(out, id)
		}
	}
	return Set{ids: out}, nil
}

// candidates returns a superset of the concepts that can satisfy r, found from the
// destinations of a required attribute, when that is cheap; ok is false otherwise.
func (ev *evaluator) candidates(r *Refinement) (Set, bool, error) {
	switch r.Kind {
	case RefAnd:
		a, okA, err := ev.candidates(r.Left)
		if err != nil {
			return Set{}, false, err
		}
		b, okB, err := ev.candidates(r.Right)
		if err != nil || !okA && !okB {
			return Set{}, false, err
		}
		switch {
		case !okA:
			return b, true, nil
		case !okB:
			return a, true, nil
		}
		return intersect(a, b), true, nil
	case RefOr:
		a, okA, err := ev.candidates(r.Left)
		if err != nil || !okA {
			return Set{}, false, err
		}
		b, okB, err := ev.candidates(r.Right)
		if err != nil || !okB {
			return Set{}, false, err
		}
		return union(a, b), true, nil
	case RefGroup:
		if r.Card.min() == 0 {
			return Set{}, false, nil
		}
		return ev.candidates(r.Left)
	}
	a := r.Attribute
	if a.Card.min() == 0 || a.Reverse || a.Kind != ValueExpr || a.Op != Equal ||
		a.Name.Kind == KindWildcard || a.Value.Kind == KindWildcard {
		return Set{}, false, nil
	}
	// Sources knows nothing of |Is a|, which comes from the hierarchy instead.
	if isa, err := ev.namesIsA(a.Name); err != nil || isa {
		return Set{}, false, err
	}
	types, err := ev.cached(a.Name)
	if err != nil {
		return Set{}, false, err
	}
	values, err := ev.cached(a.Value)
	if err != nil {
		return Set{}, false, err
	}
	if types.Len()*values.Len() > 4096 {
		return Set{}, false, nil
	}
	var ids []uint64
	for _, t := range types.ids {
		for _, v := range values.ids {
			if err := ev.tick(); err != nil {
				return Set{}, false, err
			}
			ids = append(ids, ev.g.Sources(t, v)...)
		}
	}
	return NewSet(ids), true, nil
}

// sources are the concepts with an attribute of type t whose value is id. Graph.Sources
// leaves out |Is a|, whose sources are the concept's children.
func (ev *evaluator) sources(t, id uint64) []uint64 {
	if t == IsA {
		return ev.g.Children(id)
	}
	return ev.g.Sources(t, id)
}

// mentionsIsA reports whether any attribute name of r selects |Is a|.
func (ev *evaluator) mentionsIsA(r *Refinement) (bool, error) {
	switch r.Kind {
	case RefAttribute:
		if r.Attribute.Reverse {
			return false, nil
		}
		return ev.namesIsA(r.Attribute.Name)
	case RefGroup:
		return ev.mentionsIsA(r.Left)
	}
	a, err := ev.mentionsIsA(r.Left)
	if err != nil || a {
		return a, err
	}
	return ev.mentionsIsA(r.Right)
}

// namesIsA reports whether an attribute name selects |Is a|. The wildcard does not: "any
// attribute" means the defining attributes, not the hierarchy.
func (ev *evaluator) namesIsA(name *Expr) (bool, error) {
	if name.Kind == KindWildcard {
		return false, nil
	}
	return ev.has(name, IsA)
}

// relationships returns id's relationships, with its parents as ungrouped |Is a| ones when
// the refinement asks about them.
func (ev *evaluator) relationships(id uint64, isa bool) []Relationship {
	rels := ev.g.Relationships(id)
	if !isa {
		return rels
	}
	rels = slices.Clone(rels)
	for _, p := range ev.g.Parents(id) {
		rels = append(rels, Relationship{Type: IsA, Destination: p})
	}
	return rels
}

// refine decides whether concept id, whose relationships in scope are rels (all of them,
// or one group's), satisfies r.
func (ev *evaluator) refine(r *Refinement, id uint64, rels []Relationship) (bool, error) {
	switch r.Kind {
	case RefAnd, RefOr:
		a, err := ev.refine(r.Left, id, rels)
		if err != nil || a == (r.Kind == RefOr) {
			return a, err
		}
		return ev.refine(r.Right, id, rels)
	case RefGroup:
		n := 0
		for _, g := range groups(rels) {
			ok, err := ev.refine(r.Left, id, g)
			if err != nil {
				return false, err
			}
			if ok {
				n++
			}
		}
		return r.Card.allows(n), nil
	}
	a := r.Attribute
	n := 0
	if a.Reverse {
		types, err := ev.typeSet(a)
		if err != nil {
			return false, err
		}
		for _, t := range types.ids {
			for _, s := range ev.sources(t, id) {
				in, err := ev.has(a.Value, s)
				if err != nil {
					return false, err
				}
				if in == (a.Op == Equal) {
					n++
				}
			}
		}
		return a.Card.allows(n), nil
	}
	for _, rel := range rels {
		if rel.Type == IsA && a.Name.Kind == KindWildcard {
			continue
		}
		ok, err := ev.has(a.Name, rel.Type)
		if err != nil {
			return false, err
		}
		if !ok {
			continue
		}
		if ok, err = ev.valueMatches(a, rel); err != nil {
			return false, err
		}
		if ok {
			n++
		}
	}
	return a.Card.allows(n), nil
}

// typeSet expands the attribute names of a reverse attribute, which are walked by type.
func (ev *evaluator) typeSet(a *Attribute) (Set, error) {
	if a.Name.Kind == KindWildcard {
		return Set{}, &Error{Offset: a.Name.Pos, Msg: "not supported: a reverse attribute with any attribute name (R *)", Unsupported: true}
	}
	was := ev.lazy
	ev.lazy = false
	defer func() { ev.lazy = was }()
	return ev.cached(a.Name)
}

// groups splits relationships into attribute groups; ungrouped relationships (group 0)
// each count as a group of their own.
func groups(rels []Relationship) [][]Relationship {
	var out [][]Relationship
	index := map[int]int{}
	for i, r := range rels {
		if r.Group == 0 {
			out = append(out, rels[i:i+1])
			continue
		}
		k, ok := index[r.Group]
		if !ok {
			k = len(out)
			index[r.Group] = k
			out = append(out, nil)
		}
		out[k] = append(out[k], r)
	}
	return out
}

func (ev *evaluator) valueMatches(a *Attribute, r Relationship) (bool, error) {
	switch a.Kind {
	case ValueExpr:
		if r.Value != "" {
			return false, nil
		}
		in, err := ev.has(a.Value, r.Destination)
		return in == (a.Op == Equal), err
	case ValueNumber:
		if !strings.HasPrefix(r.Value, "#") {
			return false, nil
		}
		v, err := strconv.ParseFloat(r.Value[1:], 64)
		if err != nil {
			return false, nil
		}
		switch a.Op {
		case Equal:
			return v == a.Number, nil
		case NotEqual:
			return v != a.Number, nil
		case Less:
			return v < a.Number, nil
		case LessOrEqual:
			return v <= a.Number, nil
		case Greater:
			return v > a.Number, nil
		}
		return v >= a.Number, nil
	case ValueString:
		if len(r.Value) < 2 || r.Value[0] != '"' || r.Value[len(r.Value)-1] != '"' {
			return false, nil
		}
		v := strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(r.Value[1 : len(r.Value)-1])
		return (v == a.Literal) == (a.Op == Equal), nil
	}
	if !strings.EqualFold(r.Value, "true") && !strings.EqualFold(r.Value, "false") {
		return false, nil
	}
	return strings.EqualFold(r.Value, "true") == a.Bool == (a.Op == Equal), nil
}

// match decides membership of one concept.
func (ev *evaluator) match(e *Expr, id uint64) (bool, error) {
	if err := ev.tick(); err != nil {
		return false, err
	}
	key := matchKey{e, id}
	if m, ok := ev.memo[key]; ok {
		return m, nil
	}
	m, err := ev.match1(e, id)
	if err != nil {
		return false, err
	}
	if ev.memo == nil {
		ev.memo = map[matchKey]bool{}
	}
	ev.memo[key] = m
	return m, nil
}

func (ev *evaluator) match1(e *Expr, id uint64) (bool, error) {
	g := ev.g
	switch e.Kind {
	case KindConcept:
		return id == e.Concept && g.Exists(id), nil
	case KindWildcard:
		return g.Exists(id), nil
	case KindHierarchy:
		return ev.matchHierarchy(e, id)
	case KindMemberOf:
		if e.Left.Kind == KindConcept {
			if !g.Exists(id) {
				return false, nil
			}
			if t, ok := g.(MemberTester); ok {
				return t.IsMember(e.Left.Concept, id), nil
			}
			return slices.Contains(g.Members(e.Left.Concept), id), nil
		}
	case KindAnd, KindOr, KindMinus:
		a, err := ev.match(e.Left, id)
		if err != nil {
			return false, err
		}
		switch {
		case e.Kind == KindAnd && !a, e.Kind == KindOr && a:
			return a, nil
		case e.Kind == KindMinus && !a:
			return false, nil
		}
		b, err := ev.match(e.Right, id)
		if e.Kind == KindMinus {
			return !b, err
		}
		return b, err
	case KindRefined:
		in, err := ev.match(e.Left, id)
		if err != nil || !in {
			return false, err
		}
		isa, err := ev.mentionsIsA(e.Refinement)
		if err != nil {
			return false, err
		}
		return ev.refine(e.Refinement, id, ev.relationships(id, isa))
	case KindDotted:
		return ev.matchDotted(e, id)
	case KindFiltered:
		in, err := ev.match(e.Left, id)
		if err != nil || !in {
			return false, err
		}
		return ev.filtersHold(e.Filters, id), nil
	}
	s, err := ev.cached(e)
	return s.Contains(id), err
}

func (ev *evaluator) matchHierarchy(e *Expr, id uint64) (bool, error) {
	g := ev.g
	if !g.Exists(id) {
		return false, nil
	}
	switch e.Op {
	case DescendantOrSelfOf, AncestorOrSelfOf, ChildOrSelfOf, ParentOrSelfOf:
		in, err := ev.match(e.Left, id)
		if err != nil || in {
			return in, err
		}
	}
	if e.Left.Kind == KindConcept {
		x := e.Left.Concept
		switch e.Op {
		case DescendantOf, DescendantOrSelfOf:
			return id != x && walkFinds(g.Ancestors, id, x), nil
		case AncestorOf, AncestorOrSelfOf:
			return id != x && walkFinds(g.Ancestors, x, id), nil
		case ChildOf, ChildOrSelfOf:
			return slices.Contains(g.Parents(id), x), nil
		case ParentOf, ParentOrSelfOf:
			return slices.Contains(g.Parents(x), id), nil
		}
	}
	switch e.Op {
	case DescendantOf, DescendantOrSelfOf:
		var err error
		found := false
		g.Ancestors(id, func(a uint64) bool {
			found, err = ev.match(e.Left, a)
			return err == nil && !found
		})
		return found, err
	case ChildOf, ChildOrSelfOf:
		for _, p := range g.Parents(id) {
			in, err := ev.match(e.Left, p)
			if err != nil || in {
				return in, err
			}
		}
		return false, nil
	}
	s, err := ev.cached(e)
	return s.Contains(id), err
}

func walkFinds(walk func(uint64, func(uint64) bool), from, target uint64) bool {
	found := false
	walk(from, func(a uint64) bool {
		found = a == target
		return !found
	})
	return found
}

// matchDotted walks back from id over relationships whose type is one of the dotted
// attribute names, instead of expanding the focus.
func (ev *evaluator) matchDotted(e *Expr, id uint64) (bool, error) {
	if e.Right.Kind == KindWildcard || !ev.g.Exists(id) {
		s, err := ev.cached(e)
		return s.Contains(id), err
	}
	was := ev.lazy
	ev.lazy = false
	types, err := ev.cached(e.Right)
	ev.lazy = was
	if err != nil {
		return false, err
	}
	for _, t := range types.ids {
		for _, s := range ev.sources(t, id) {
			in, err := ev.match(e.Left, s)
			if err != nil || in {
				return in, err
			}
		}
	}
	return false, nil
}

func (ev *evaluator) filtersHold(filters []Filter, id uint64) bool {
	var terms []string
	termsRead := false
	for _, f := range filters {
		if f.Kind == FilterActive {
			if ev.g.Exists(id) != f.Active {
				return false
			}
		}
	}
	// The term filters of one block must hold for the same description.
	anyTerm := false
	for _, f := range filters {
		if f.Kind != FilterTerm {
			continue
		}
		anyTerm = true
		if !termsRead {
			terms, termsRead = ev.g.Terms(id), true
		}
	}
	if !anyTerm {
		return true
	}
	for _, t := range terms {
		all := true
		for _, f := range filters {
			if f.Kind == FilterTerm && termMatches(f, t) == f.Negate {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// termMatches reports whether description matches any of the filter's search terms.
func termMatches(f Filter, description string) bool {
	for _, t := range f.Terms {
		if t.Wild {
			if wildMatch(strings.ToLower(t.Text), strings.ToLower(description)) {
				return true
			}
		} else if wordsMatch(t.Text, description) {
			return true
		}
	}
	return false
}

func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// wordsMatch is ECL "match": every word of the search term starts some word of the
// description, in any order.
func wordsMatch(search, description string) bool {
	dw := words(description)
	for _, w := range words(search) {
		found := false
		for _, d := range dw {
			if strings.HasPrefix(d, w) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// wildMatch matches the whole of s against pattern, where '*' stands for any run of
// characters.
func wildMatch(pattern, s string) bool {
	star, mark := -1, 0
	i, j := 0, 0
	for j < len(s) {
		switch {
		case i < len(pattern) && pattern[i] == '*':
			star, mark = i, j
			i++
		case i < len(pattern) && pattern[i] == s[j]:
			i++
			j++
		case star >= 0:
			i = star + 1
			mark++
			j = mark
		default:
			return false
		}
	}
	for i < len(pattern) && pattern[i] == '*' {
		i++
	}
	return i == len(pattern)
}
