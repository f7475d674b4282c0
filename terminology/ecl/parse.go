package ecl

import (
	"fmt"
	"strconv"
	"strings"
)

// Error is a malformed or unsupported expression constraint. Offset is the byte offset in
// the source where the problem was found, so an API can point at it.
type Error struct {
	Offset      int
	Msg         string
	Unsupported bool // the expression may be valid ECL, but uses a feature Concord does not evaluate
}

func (e *Error) Error() string { return fmt.Sprintf("%s at %d", e.Msg, e.Offset) }

// maxDepth bounds bracket nesting so hostile input cannot exhaust the stack.
const maxDepth = 200

type parser struct {
	src   string
	pos   int
	depth int
}

// Parse parses an expression constraint in brief or long syntax (keywords are case
// insensitive). Errors are *Error.
func Parse(src string) (expr *Expr, err error) {
	p := &parser{src: src}
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(*Error)
			if !ok {
				panic(r)
			}
			expr, err = nil, e
		}
	}()
	p.ws()
	if p.eof() {
		p.fail("expected an expression constraint")
	}
	e := p.expression()
	p.ws()
	if !p.eof() {
		if p.peek() == ')' {
			p.fail("unbalanced ')'")
		}
		p.fail(trailing(e))
	}
	return e, nil
}

// trailing says what could have followed e, for input left over after it.
func trailing(e *Expr) string {
	switch e.Kind {
	case KindRefined:
		return "expected AND, OR or the end of the expression (bracket a refined expression to combine it)"
	case KindDotted:
		return "expected '.' or the end of the expression (bracket a dotted expression to combine it)"
	case KindAnd:
		return "expected AND or the end of the expression"
	case KindOr:
		return "expected OR or the end of the expression"
	case KindMinus:
		return "expected the end of the expression"
	}
	return "expected AND, OR, MINUS, ':', '.' or the end of the expression"
}

// MustParse is Parse for expressions known to be valid; it panics on error.
func MustParse(src string) *Expr {
	e, err := Parse(src)
	if err != nil {
		panic(err)
	}
	return e
}

func (p *parser) fail(msg string) {
	panic(&Error{Offset: p.pos, Msg: msg})
}

func (p *parser) failAt(pos int, msg string) {
	panic(&Error{Offset: pos, Msg: msg})
}

func (p *parser) unsupported(pos int, feature string) {
	panic(&Error{Offset: pos, Msg: "not supported: " + feature, Unsupported: true})
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

func (p *parser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.src[p.pos]
}

func (p *parser) has(s string) bool { return strings.HasPrefix(p.src[p.pos:], s) }

func (p *parser) expect(s, what string) {
	if !p.has(s) {
		p.fail("expected " + what)
	}
	p.pos += len(s)
}

// ws skips spaces, tabs, line breaks and /* comments */.
func (p *parser) ws() {
	for !p.eof() {
		switch c := p.src[p.pos]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			p.pos++
		case p.has("/*"):
			end := strings.Index(p.src[p.pos+2:], "*/")
			if end < 0 {
				p.fail("unterminated comment")
			}
			p.pos += end + 4
		default:
			return
		}
	}
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// keyword consumes a case-insensitive word when it is not the start of a longer word.
func (p *parser) keyword(w string) bool {
	end := p.pos + len(w)
	if end > len(p.src) || !strings.EqualFold(p.src[p.pos:end], w) {
		return false
	}
	if end < len(p.src) && (isAlnum(p.src[end]) || p.src[end] == '_') {
		return false
	}
	p.pos = end
	return true
}

func (p *parser) enter() {
	p.depth++
	if p.depth > maxDepth {
		p.fail("expression nested too deeply")
	}
}

// expression parses expressionConstraint without its surrounding whitespace.
func (p *parser) expression() *Expr {
	p.enter()
	defer func() { p.depth-- }()
	start := p.pos
	left := p.sub()
	save := p.pos
	p.ws()
	switch {
	case p.peek() == ':':
		p.pos++
		p.ws()
		return &Expr{Kind: KindRefined, Pos: start, Left: left, Refinement: p.refinement(false)}
	case p.peek() == '.':
		for p.peek() == '.' {
			p.pos++
			p.ws()
			left = &Expr{Kind: KindDotted, Pos: start, Left: left, Right: p.sub()}
			save = p.pos
			p.ws()
		}
		p.pos = save
		return left
	}
	kind, ok := p.binary()
	if !ok {
		p.pos = save
		return left
	}
	for {
		p.ws()
		left = &Expr{Kind: kind, Pos: start, Left: left, Right: p.sub()}
		save = p.pos
		p.ws()
		at := p.pos
		next, ok := p.binary()
		if !ok {
			if p.peek() == ':' || p.peek() == '.' {
				p.fail("a refinement or dotted attribute after AND, OR or MINUS needs brackets around the operand")
			}
			p.pos = save
			return left
		}
		if next != kind || kind == KindMinus {
			p.failAt(at, "mixing AND, OR and MINUS (or repeating MINUS) needs brackets")
		}
	}
}

// binary consumes a conjunction (AND or ','), disjunction (OR) or exclusion (MINUS).
func (p *parser) binary() (Kind, bool) {
	switch {
	case p.peek() == ',':
		p.pos++
		return KindAnd, true
	case p.keyword("and"):
		return KindAnd, true
	case p.keyword("or"):
		return KindOr, true
	case p.keyword("minus"):
		return KindMinus, true
	}
	return 0, false
}

var longOperators = []struct {
	word string
	op   Operator
}{
	{"descendantOrSelfOf", DescendantOrSelfOf}, {"descendantOf", DescendantOf},
	{"childOrSelfOf", ChildOrSelfOf}, {"childOf", ChildOf},
	{"ancestorOrSelfOf", AncestorOrSelfOf}, {"ancestorOf", AncestorOf},
	{"parentOrSelfOf", ParentOrSelfOf}, {"parentOf", ParentOf},
}

// Longest symbols first, so "<<!" is not read as "<<" followed by "!".
var briefOperators = []struct {
	sym string
	op  Operator
}{
	{"<<!", ChildOrSelfOf}, {"<<", DescendantOrSelfOf}, {"<!", ChildOf}, {"<", DescendantOf},
	{">>!", ParentOrSelfOf}, {">>", AncestorOrSelfOf}, {">!", ParentOf}, {">", AncestorOf},
	{"!!>", Top}, {"!!<", Bottom},
}

func (p *parser) operator() (Operator, bool) {
	for _, o := range briefOperators {
		if p.has(o.sym) {
			p.pos += len(o.sym)
			return o.op, true
		}
	}
	for _, o := range longOperators {
		if p.keyword(o.word) {
			return o.op, true
		}
	}
	return 0, false
}

// sub parses subExpressionConstraint: [operator] [memberOf] focus, then filters.
func (p *parser) sub() *Expr {
	start := p.pos
	op, hasOp := p.operator()
	if hasOp {
		p.ws()
		at := p.pos
		if _, again := p.operator(); again {
			p.failAt(at, "a second constraint operator needs brackets, as in '< (<< 123456)'")
		}
	}
	memberPos := p.pos
	member := false
	if p.peek() == '^' {
		p.pos++
		member = true
	} else if p.keyword("memberOf") {
		member = true
	}
	if member {
		if p.peek() == 'R' || p.peek() == 'r' {
			if p.pos+1 >= len(p.src) || !isAlnum(p.src[p.pos+1]) {
				p.unsupported(memberPos, "reference sets containing any (^R)")
			}
		}
		p.ws()
		if p.peek() == '[' {
			p.unsupported(p.pos, "reference set field selection (^ [fields])")
		}
	}
	e := p.focus()
	if member {
		if e.Kind == KindWildcard {
			p.unsupported(memberPos, "members of any reference set (^ *)")
		}
		e = &Expr{Kind: KindMemberOf, Pos: memberPos, Left: e}
	}
	if hasOp {
		e = &Expr{Kind: KindHierarchy, Pos: start, Op: op, Left: e}
	}
	// Each {{ }} block nests: a description block holds when one description satisfies all
	// of its filters, and separate blocks may be satisfied by different descriptions.
	for {
		save := p.pos
		p.ws()
		if !p.has("{{") {
			p.pos = save
			return e
		}
		e = &Expr{Kind: KindFiltered, Pos: start, Left: e, Filters: p.filters()}
	}
}

// focus parses a concept reference, a wildcard or a bracketed expression.
func (p *parser) focus() *Expr {
	start := p.pos
	switch c := p.peek(); {
	case isDigit(c):
		return p.conceptReference()
	case c == '*':
		p.pos++
		return &Expr{Kind: KindWildcard, Pos: start}
	case c == '(':
		p.pos++
		p.ws()
		e := p.expression()
		p.ws()
		if p.peek() != ')' {
			p.fail("expected ')' to close the '(' at " + strconv.Itoa(start))
		}
		p.pos++
		return e
	case p.keyword("any"):
		return &Expr{Kind: KindWildcard, Pos: start}
	case c == '"':
		p.unsupported(start, "alternate identifiers")
	case c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z':
		end := p.pos
		for end < len(p.src) && (isAlnum(p.src[end]) || strings.IndexByte("-_.", p.src[end]) >= 0) {
			end++
		}
		if end < len(p.src) && p.src[end] == '#' {
			p.unsupported(start, "alternate identifiers")
		}
		p.fail("unknown keyword '" + p.src[start:end] + "'; expected a concept reference, '*' or '('")
	}
	p.fail("expected a concept reference, '*' or '('")
	return nil
}

func (p *parser) conceptReference() *Expr {
	start := p.pos
	for !p.eof() && isDigit(p.peek()) {
		p.pos++
	}
	digits := p.src[start:p.pos]
	if len(digits) < 6 || len(digits) > 18 || digits[0] == '0' {
		p.failAt(start, "a concept id has 6 to 18 digits and does not start with 0")
	}
	if !p.eof() && (isAlnum(p.peek()) || p.peek() == '_') {
		p.fail("expected a concept id made only of digits")
	}
	id, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		p.failAt(start, "concept id out of range")
	}
	e := &Expr{Kind: KindConcept, Pos: start, Concept: id}
	save := p.pos
	p.ws()
	if p.peek() != '|' {
		p.pos = save
		return e
	}
	open := p.pos
	end := strings.IndexByte(p.src[open+1:], '|')
	if end < 0 {
		p.failAt(open, "expected '|' to close the term")
	}
	e.Term = strings.TrimSpace(p.src[open+1 : open+1+end])
	if e.Term == "" {
		p.failAt(open, "expected a term between '|' and '|'")
	}
	p.pos = open + end + 2
	return e
}

// refinement parses eclRefinement, or eclAttributeSet when inGroup (groups do not nest).
func (p *parser) refinement(inGroup bool) *Refinement {
	p.enter()
	defer func() { p.depth-- }()
	start := p.pos
	left := p.subRefinement(inGroup)
	var kind RefinementKind
	first := true
	for {
		save := p.pos
		p.ws()
		at := p.pos
		var k RefinementKind
		switch b, ok := p.binary(); {
		case !ok:
			p.pos = save
			return left
		case b == KindAnd:
			k = RefAnd
		case b == KindOr:
			k = RefOr
		default:
			p.failAt(at, "MINUS is not allowed in a refinement")
		}
		if !first && k != kind {
			p.failAt(at, "mixing AND and OR in a refinement needs brackets")
		}
		kind, first = k, false
		p.ws()
		left = &Refinement{Kind: k, Pos: start, Left: left, Right: p.subRefinement(inGroup)}
	}
}

func (p *parser) subRefinement(inGroup bool) *Refinement {
	start := p.pos
	switch p.peek() {
	case '{':
		return p.group(inGroup, Cardinality{}, start)
	case '[':
		card := p.cardinality()
		p.ws()
		if p.peek() == '{' {
			return p.group(inGroup, card, start)
		}
		return &Refinement{Kind: RefAttribute, Pos: start, Attribute: p.attribute(card)}
	case '(':
		// Either a bracketed refinement or an attribute whose name is a bracketed
		// expression; try the first and fall back, reporting whichever got further.
		r, err := p.try(func() *Refinement {
			p.pos++
			p.ws()
			r := p.refinement(inGroup)
			p.ws()
			if p.peek() != ')' {
				p.fail("expected ')' to close the '(' at " + strconv.Itoa(start))
			}
			p.pos++
			return r
		})
		if err == nil {
			return r
		}
		p.pos = start
		r, err2 := p.try(func() *Refinement {
			return &Refinement{Kind: RefAttribute, Pos: start, Attribute: p.attribute(Cardinality{})}
		})
		if err2 == nil {
			return r
		}
		if err2.Offset > err.Offset || err2.Unsupported {
			panic(err2)
		}
		panic(err)
	}
	return &Refinement{Kind: RefAttribute, Pos: start, Attribute: p.attribute(Cardinality{})}
}

func (p *parser) try(f func() *Refinement) (r *Refinement, err *Error) {
	depth := p.depth
	defer func() {
		if x := recover(); x != nil {
			e, ok := x.(*Error)
			if !ok {
				panic(x)
			}
			p.depth = depth
			r, err = nil, e
		}
	}()
	return f(), nil
}

func (p *parser) group(inGroup bool, card Cardinality, start int) *Refinement {
	if inGroup {
		p.fail("attribute groups cannot be nested")
	}
	open := p.pos
	p.pos++
	p.ws()
	inner := p.refinement(true)
	p.ws()
	if p.peek() != '}' {
		p.fail("expected '}' to close the attribute group at " + strconv.Itoa(open))
	}
	p.pos++
	return &Refinement{Kind: RefGroup, Pos: start, Card: card, Left: inner}
}

func (p *parser) cardinality() Cardinality {
	start := p.pos
	p.pos++ // '['
	p.ws()
	min, ok := p.integer()
	if !ok {
		p.fail("expected a minimum cardinality")
	}
	p.ws()
	p.expect("..", "'..' in the cardinality")
	p.ws()
	max := -1
	if p.peek() == '*' {
		p.pos++
	} else if max, ok = p.integer(); !ok {
		p.fail("expected a maximum cardinality or '*'")
	}
	p.ws()
	p.expect("]", "']' to close the cardinality")
	if max >= 0 && min > max {
		p.failAt(start, "cardinality minimum exceeds its maximum")
	}
	return Cardinality{Set: true, Min: min, Max: max}
}

func (p *parser) integer() (int, bool) {
	start := p.pos
	for !p.eof() && isDigit(p.peek()) {
		p.pos++
	}
	if start == p.pos || p.pos-start > 9 {
		p.pos = start
		return 0, false
	}
	n, _ := strconv.Atoi(p.src[start:p.pos])
	return n, true
}

func (p *parser) attribute(card Cardinality) *Attribute {
	a := &Attribute{Card: card}
	p.ws()
	if p.keyword("reverseOf") {
		a.Reverse = true
	} else if (p.peek() == 'R' || p.peek() == 'r') && (p.pos+1 >= len(p.src) || !isAlnum(p.src[p.pos+1])) {
		p.pos++
		a.Reverse = true
	}
	p.ws()
	switch c := p.peek(); {
	case c == '{' || c == '[':
		p.fail("expected an attribute name")
	case c == 0:
		p.fail("expected an attribute name (a concept reference, '*' or '(')")
	}
	a.Name = p.sub()
	p.ws()
	opPos := p.pos
	switch {
	case p.has("!="):
		a.Op, p.pos = NotEqual, p.pos+2
	case p.has("<="):
		a.Op, p.pos = LessOrEqual, p.pos+2
	case p.has(">="):
		a.Op, p.pos = GreaterOrEqual, p.pos+2
	case p.has("="):
		a.Op, p.pos = Equal, p.pos+1
	case p.has("<"):
		a.Op, p.pos = Less, p.pos+1
	case p.has(">"):
		a.Op, p.pos = Greater, p.pos+1
	default:
		p.fail("expected a comparison operator ('=', '!=', '<', '<=', '>', '>=') after the attribute name")
	}
	p.ws()
	valuePos := p.pos
	ordered := a.Op != Equal && a.Op != NotEqual
	switch c := p.peek(); {
	case c == '#':
		p.pos++
		a.Kind = ValueNumber
		a.Literal, a.Number = p.number()
	case c == '"':
		if ordered {
			p.failAt(opPos, "'"+a.Op.String()+"' compares only numbers (#)")
		}
		a.Kind = ValueString
		a.Literal = p.quoted()
	case p.keyword("true"):
		a.Kind, a.Bool = ValueBool, true
	case p.keyword("false"):
		a.Kind, a.Bool = ValueBool, false
	default:
		if ordered {
			p.failAt(opPos, "'"+a.Op.String()+"' compares only numbers (#); use '=' with a constraint operator, as in '= << 123456'")
		}
		a.Kind = ValueExpr
		a.Value = p.sub()
	}
	if a.Reverse && a.Kind != ValueExpr {
		p.failAt(valuePos, "a reverse attribute compares with concepts, not concrete values")
	}
	if a.Kind == ValueBool && ordered {
		p.failAt(opPos, "'"+a.Op.String()+"' compares only numbers (#)")
	}
	return a
}

// number parses the numeric value after '#': an optional sign, digits, optional decimals.
func (p *parser) number() (string, float64) {
	start := p.pos
	if p.peek() == '-' || p.peek() == '+' {
		p.pos++
	}
	digits := p.pos
	for !p.eof() && isDigit(p.peek()) {
		p.pos++
	}
	if p.pos == digits {
		p.fail("expected a number after '#'")
	}
	if p.peek() == '.' {
		p.pos++
		frac := p.pos
		for !p.eof() && isDigit(p.peek()) {
			p.pos++
		}
		if p.pos == frac {
			p.fail("expected digits after the decimal point")
		}
	}
	lit := p.src[start:p.pos]
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil {
		p.failAt(start, "number out of range")
	}
	return lit, f
}

// quoted parses a double-quoted string with \" and \\ escapes.
func (p *parser) quoted() string {
	start := p.pos
	p.pos++
	var b strings.Builder
	for {
		if p.eof() {
			p.failAt(start, "expected '\"' to close the string")
		}
		c := p.src[p.pos]
		switch c {
		case '"':
			p.pos++
			return b.String()
		case '\\':
			if p.pos+1 < len(p.src) && (p.src[p.pos+1] == '"' || p.src[p.pos+1] == '\\') {
				b.WriteByte(p.src[p.pos+1])
				p.pos += 2
				continue
			}
			p.fail("expected '\\\"' or '\\\\' after a backslash")
		}
		b.WriteByte(c)
		p.pos++
	}
}

// filters parses one `{{ ... }}` block.
func (p *parser) filters() []Filter {
	open := p.pos
	p.pos += 2
	p.ws()
	domain := byte('D')
	switch c := p.peek(); {
	case c == '+':
		p.unsupported(p.pos, "history supplements ({{ +HISTORY }})")
	case (c == 'D' || c == 'd' || c == 'C' || c == 'c' || c == 'M' || c == 'm') &&
		(p.pos+1 >= len(p.src) || !isAlnum(p.src[p.pos+1])):
		domain = c &^ 0x20
		if domain == 'M' {
			p.unsupported(p.pos, "member filters ({{ M ... }})")
		}
		p.pos++
		p.ws()
	}
	var out []Filter
	for {
		if domain == 'C' {
			out = append(out, p.conceptFilter())
		} else {
			out = append(out, p.descriptionFilter())
		}
		p.ws()
		if p.peek() == ',' {
			p.pos++
			p.ws()
			continue
		}
		if !p.has("}}") {
			p.fail("expected ',' or '}}' to close the filter opened at " + strconv.Itoa(open))
		}
		p.pos += 2
		return out
	}
}

func (p *parser) filterName() (string, int) {
	start := p.pos
	for !p.eof() && isAlnum(p.peek()) {
		p.pos++
	}
	return p.src[start:p.pos], start
}

func (p *parser) descriptionFilter() Filter {
	name, at := p.filterName()
	switch strings.ToLower(name) {
	case "term":
	case "language", "typeid", "type", "dialectid", "dialect", "moduleid", "effectivetime", "active", "id":
		p.unsupported(at, "description filter '"+name+"'")
	case "":
		p.fail("expected a description filter such as 'term'")
	default:
		p.failAt(at, "unknown description filter '"+name+"'")
	}
	f := Filter{Kind: FilterTerm, Pos: at}
	p.ws()
	switch {
	case p.has("!="):
		f.Negate, p.pos = true, p.pos+2
	case p.has("="):
		p.pos++
	default:
		p.fail("expected '=' or '!=' after 'term'")
	}
	p.ws()
	if p.peek() == '(' {
		p.pos++
		p.ws()
		for {
			f.Terms = append(f.Terms, p.searchTerm())
			p.ws()
			if p.peek() == ')' {
				p.pos++
				break
			}
			if p.eof() {
				p.fail("expected ')' to close the list of terms")
			}
		}
		return f
	}
	f.Terms = []SearchTerm{p.searchTerm()}
	return f
}

func (p *parser) searchTerm() SearchTerm {
	var t SearchTerm
	save := p.pos
	if p.keyword("wild") || p.keyword("match") {
		t.Wild = strings.EqualFold(p.src[save:p.pos], "wild")
		p.ws()
		if p.peek() != ':' {
			p.fail("expected ':' after the match type")
		}
		p.pos++
		p.ws()
	}
	if p.peek() != '"' {
		p.fail("expected a quoted search term")
	}
	at := p.pos
	t.Text = p.quoted()
	if strings.TrimSpace(t.Text) == "" {
		p.failAt(at, "a search term cannot be empty")
	}
	return t
}

func (p *parser) conceptFilter() Filter {
	name, at := p.filterName()
	switch strings.ToLower(name) {
	case "active":
	case "definitionstatusid", "definitionstatus", "moduleid", "effectivetime":
		p.unsupported(at, "concept filter '"+name+"'")
	case "":
		p.fail("expected a concept filter such as 'active'")
	default:
		p.failAt(at, "unknown concept filter '"+name+"'")
	}
	f := Filter{Kind: FilterActive, Pos: at}
	p.ws()
	negate := false
	switch {
	case p.has("!="):
		negate, p.pos = true, p.pos+2
	case p.has("="):
		p.pos++
	default:
		p.fail("expected '=' or '!=' after 'active'")
	}
	p.ws()
	switch {
	case p.keyword("true") || p.keyword("1"):
		f.Active = true
	case p.keyword("false") || p.keyword("0"):
	default:
		p.fail("expected true, false, 1 or 0")
	}
	f.Active = f.Active != negate
	return f
}
