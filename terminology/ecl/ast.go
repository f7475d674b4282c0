package ecl

import (
	"strconv"
	"strings"
)

// Kind says which construct an Expr node is.
type Kind int

const (
	// KindConcept is a single concept reference (Concept, Term).
	KindConcept Kind = iota
	// KindWildcard is `*` (ANY): every active concept.
	KindWildcard
	// KindHierarchy applies a constraint operator (Op) to Left.
	KindHierarchy
	// KindMemberOf is `^ Left`: the members of the reference sets in Left.
	KindMemberOf
	// KindAnd, KindOr and KindMinus combine Left and Right.
	KindAnd
	KindOr
	KindMinus
	// KindRefined is `Left : Refinement`.
	KindRefined
	// KindDotted is `Left . Right`: the values of the attributes Right on the concepts in Left.
	KindDotted
	// KindFiltered is Left restricted by Filters.
	KindFiltered
)

// Operator is a hierarchy constraint operator.
type Operator int

const (
	DescendantOf       Operator = iota + 1 // <
	DescendantOrSelfOf                     // <<
	ChildOf                                // <!
	ChildOrSelfOf                          // <<!
	AncestorOf                             // >
	AncestorOrSelfOf                       // >>
	ParentOf                               // >!
	ParentOrSelfOf                         // >>!
	Top                                    // !!>
	Bottom                                 // !!<
)

var operatorText = map[Operator]string{
	DescendantOf: "<", DescendantOrSelfOf: "<<", ChildOf: "<!", ChildOrSelfOf: "<<!",
	AncestorOf: ">", AncestorOrSelfOf: ">>", ParentOf: ">!", ParentOrSelfOf: ">>!",
	Top: "!!>", Bottom: "!!<",
}

// String returns the brief syntax of the operator.
func (o Operator) String() string { return operatorText[o] }

// Expr is a node of a parsed expression constraint. A parsed tree is never modified, so it
// may be shared and evaluated concurrently.
type Expr struct {
	Kind       Kind
	Pos        int // byte offset of the node in the source
	Concept    uint64
	Term       string
	Op         Operator
	Left       *Expr
	Right      *Expr
	Refinement *Refinement
	Filters    []Filter
}

// RefinementKind says which construct a Refinement node is.
type RefinementKind int

const (
	RefAttribute RefinementKind = iota
	RefGroup
	RefAnd
	RefOr
)

// Refinement is a node of a refinement: one attribute, an attribute group, or a conjunction
// or disjunction of refinements.
type Refinement struct {
	Kind        RefinementKind
	Pos         int
	Attribute   *Attribute  // RefAttribute
	Card        Cardinality // RefGroup: how many groups must match
	Left, Right *Refinement // RefGroup uses Left for its attribute set
}

// Cardinality is `[Min..Max]`; Max < 0 means `*`. Set is false where none was written, in
// which case the default [1..*] applies.
type Cardinality struct {
	Set      bool
	Min, Max int
}

func (c Cardinality) allows(n int) bool {
	if !c.Set {
		return n >= 1
	}
	return n >= c.Min && (c.Max < 0 || n <= c.Max)
}

func (c Cardinality) min() int {
	if !c.Set {
		return 1
	}
	return c.Min
}

func (c Cardinality) String() string {
	max := "*"
	if c.Max >= 0 {
		max = strconv.Itoa(c.Max)
	}
	return "[" + strconv.Itoa(c.Min) + ".." + max + "]"
}

// Comparison is an attribute comparison operator.
type Comparison int

const (
	Equal Comparison = iota
	NotEqual
	Less
	LessOrEqual
	Greater
	GreaterOrEqual
)

var comparisonText = [...]string{"=", "!=", "<", "<=", ">", ">="}

func (c Comparison) String() string { return comparisonText[c] }

// ValueKind says what an attribute is compared with.
type ValueKind int

const (
	ValueExpr ValueKind = iota
	ValueNumber
	ValueString
	ValueBool
)

// Attribute is one attribute constraint: `[card] R name op value`.
type Attribute struct {
	Card    Cardinality
	Reverse bool
	Name    *Expr
	Op      Comparison
	Kind    ValueKind
	Value   *Expr   // ValueExpr
	Number  float64 // ValueNumber
	Literal string  // ValueNumber as written (without '#'), ValueString unquoted
	Bool    bool    // ValueBool
}

// FilterKind says which filter a Filter is.
type FilterKind int

const (
	// FilterTerm keeps concepts with a description matching Terms (any of them).
	FilterTerm FilterKind = iota
	// FilterActive keeps concepts whose active state equals Active.
	FilterActive
)

// SearchTerm is one term of a term filter; Wild selects wildcard matching, otherwise each
// word must prefix a word of the description.
type SearchTerm struct {
	Wild bool
	Text string
}

// Filter is one filter of a `{{ ... }}` block; the filters of a block must all hold.
type Filter struct {
	Kind   FilterKind
	Pos    int
	Negate bool // term != ...
	Terms  []SearchTerm
	Active bool
}

// String returns the expression in canonical brief syntax; parsing it gives an equal tree.
func (e *Expr) String() string {
	var b strings.Builder
	e.write(&b)
	return b.String()
}

// isSub reports whether e prints as a subExpressionConstraint without brackets.
func (e *Expr) isSub() bool {
	switch e.Kind {
	case KindConcept, KindWildcard, KindHierarchy, KindMemberOf, KindFiltered:
		return true
	}
	return false
}

func (e *Expr) writeSub(b *strings.Builder) {
	if e.isSub() {
		e.write(b)
		return
	}
	b.WriteByte('(')
	e.write(b)
	b.WriteByte(')')
}

// writeFocus writes an operand that the grammar allows only as a focus concept or a
// bracketed expression.
func (e *Expr) writeFocus(b *strings.Builder) {
	if e.Kind == KindConcept || e.Kind == KindWildcard {
		e.write(b)
		return
	}
	b.WriteByte('(')
	e.write(b)
	b.WriteByte(')')
}

func (e *Expr) write(b *strings.Builder) {
	switch e.Kind {
	case KindConcept:
		b.WriteString(strconv.FormatUint(e.Concept, 10))
		if e.Term != "" {
			b.WriteString(" |" + e.Term + "|")
		}
	case KindWildcard:
		b.WriteByte('*')
	case KindHierarchy:
		b.WriteString(e.Op.String())
		b.WriteByte(' ')
		if e.Left.Kind == KindMemberOf {
			e.Left.write(b)
		} else {
			e.Left.writeFocus(b)
		}
	case KindMemberOf:
		b.WriteString("^ ")
		e.Left.writeFocus(b)
	case KindAnd, KindOr, KindMinus:
		word := map[Kind]string{KindAnd: " AND ", KindOr: " OR ", KindMinus: " MINUS "}[e.Kind]
		if e.Left.Kind == e.Kind && e.Kind != KindMinus {
			e.Left.write(b)
		} else {
			e.Left.writeSub(b)
		}
		b.WriteString(word)
		e.Right.writeSub(b)
	case KindRefined:
		e.Left.writeSub(b)
		b.WriteString(" : ")
		e.Refinement.write(b, false)
	case KindDotted:
		if e.Left.Kind == KindDotted {
			e.Left.write(b)
		} else {
			e.Left.writeSub(b)
		}
		b.WriteString(" . ")
		e.Right.writeSub(b)
	case KindFiltered:
		e.Left.writeSub(b)
		b.WriteString(" {{ ")
		if e.Filters[0].Kind == FilterActive {
			b.WriteString("C ")
		}
		for i, f := range e.Filters {
			if i > 0 {
				b.WriteString(", ")
			}
			f.write(b)
		}
		b.WriteString(" }}")
	}
}

func (f Filter) write(b *strings.Builder) {
	switch f.Kind {
	case FilterTerm:
		b.WriteString("term ")
		if f.Negate {
			b.WriteString("!= ")
		} else {
			b.WriteString("= ")
		}
		if len(f.Terms) > 1 {
			b.WriteByte('(')
		}
		for i, t := range f.Terms {
			if i > 0 {
				b.WriteByte(' ')
			}
			if t.Wild {
				b.WriteString("wild:")
			}
			b.WriteString(quote(t.Text))
		}
		if len(f.Terms) > 1 {
			b.WriteByte(')')
		}
	case FilterActive:
		b.WriteString("active = " + strconv.FormatBool(f.Active))
	}
}

func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

// write prints a refinement; nested says it is an operand of a conjunction or disjunction,
// where a different binary operator needs brackets.
func (r *Refinement) write(b *strings.Builder, nested bool) {
	switch r.Kind {
	case RefAttribute:
		r.Attribute.write(b)
	case RefGroup:
		if r.Card.Set {
			b.WriteString(r.Card.String() + " ")
		}
		b.WriteString("{ ")
		r.Left.write(b, false)
		b.WriteString(" }")
	case RefAnd, RefOr:
		word := " AND "
		if r.Kind == RefOr {
			word = " OR "
		}
		for i, side := range []*Refinement{r.Left, r.Right} {
			if i > 0 {
				b.WriteString(word)
			}
			if (side.Kind == RefAnd || side.Kind == RefOr) && (side.Kind != r.Kind || i == 1) {
				b.WriteByte('(')
				side.write(b, true)
				b.WriteByte(')')
			} else {
				side.write(b, true)
			}
		}
	}
}

func (a *Attribute) write(b *strings.Builder) {
	if a.Card.Set {
		b.WriteString(a.Card.String() + " ")
	}
	if a.Reverse {
		b.WriteString("R ")
	}
	a.Name.writeSub(b)
	b.WriteString(" " + a.Op.String() + " ")
	switch a.Kind {
	case ValueExpr:
		a.Value.writeSub(b)
	case ValueNumber:
		b.WriteString("#" + a.Literal)
	case ValueString:
		b.WriteString(quote(a.Literal))
	case ValueBool:
		b.WriteString(strconv.FormatBool(a.Bool))
	}
}
