package fhirpath

import (
	"encoding/json"
	"strings"

	"github.com/concord-health/concord/fhir"
)

type nodeKind uint8

const (
	nLiteral nodeKind = iota
	nIdent            // a path step on $this: "name" (or a type name at the root)
	nMember           // left.name
	nFunc             // left.fn(args) or fn(args) on $this when left is nil
	nThis
	nIndex
	nTotal
	nConst // %name
	nIndexer
	nNeg
	nBinary
	nIs
	nAs
)

// ast is one node of a compiled expression. It is never modified after Compile.
type ast struct {
	kind  nodeKind
	name  string // identifier, constant, operator or type name
	fn    *funcDef
	op    binOp
	left  *ast
	right *ast
	args  []*ast
	lit   []*fhir.Node
	pos   int
}

type binOp uint8

const (
	opImplies binOp = iota + 1
	opOr
	opXor
	opAnd
	opIn
	opContains
	opEq
	opEquiv
	opNe
	opNotEquiv
	opLt
	opGt
	opLe
	opGe
	opUnion
	opPlus
	opMinus
	opConcat
	opMul
	opDiv
	opIntDiv
	opMod
)

// Binding powers follow the precedence table of the FHIRPath grammar (N1 §9 "Operator
// precedence"), loosest first.
const (
	bpImplies = 1 + iota
	bpOr
	bpAnd
	bpMembership
	bpEquality
	bpInequality
	bpUnion
	bpType
	bpAdditive
	bpMultiplicative
	bpUnary
)

var binOps = map[string]struct {
	op binOp
	bp int
}{
	"implies": {opImplies, bpImplies}, "or": {opOr, bpOr}, "xor": {opXor, bpOr},
	"and": {opAnd, bpAnd}, "in": {opIn, bpMembership}, "contains": {opContains, bpMembership},
	"=": {opEq, bpEquality}, "~": {opEquiv, bpEquality}, "!=": {opNe, bpEquality}, "!~": {opNotEquiv, bpEquality},
	"<": {opLt, bpInequality}, ">": {opGt, bpInequality}, "<=": {opLe, bpInequality}, ">=": {opGe, bpInequality},
	"|": {opUnion, bpUnion}, "+": {opPlus, bpAdditive}, "-": {opMinus, bpAdditive}, "&": {opConcat, bpAdditive},
	"*": {opMul, bpMultiplicative}, "/": {opDiv, bpMultiplicative}, "div": {opIntDiv, bpMultiplicative}, "mod": {opMod, bpMultiplicative},
}

var calendarUnits = map[string]string{
	"year": "year", "years": "year", "month": "month", "months": "month", "week": "week", "weeks": "week",
	"day": "day", "days": "day", "hour": "hour", "hours": "hour", "minute": "minute", "minutes": "minute",
	"second": "second", "seconds": "second", "millisecond": "millisecond", "milliseconds": "millisecond",
}

type parser struct {
	src  string
	toks []token
	i    int
}

func parse(src string) (*ast, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks}
	n, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.errf(t.pos, "unexpected %q", t.text)
	}
	return n, nil
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) advance() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) errf(pos int, msg string, args ...any) error {
	l := lexer{src: p.src}
	return l.errf(pos, msg, args...)
}

func (p *parser) isOp(text string) bool {
	t := p.peek()
	return t.kind == tOp && t.text == text
}

func (p *parser) expect(text string) error {
	if !p.isOp(text) {
		t := p.peek()
		if t.kind == tEOF {
			return p.errf(t.pos, "expected %q, found end of expression", text)
		}
		return p.errf(t.pos, "expected %q, found %q", text, t.text)
	}
	p.advance()
	return nil
}

// expr parses operators binding tighter than minBP (precedence climbing).
func (p *parser) expr(minBP int) (*ast, error) {
	left, err := p.prefix()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		switch {
		case t.kind == tOp && t.text == ".":
			p.advance()
			name := p.advance()
			if name.kind != tIdent && name.kind != tDelimIdent {
				return nil, p.errf(name.pos, "expected a name after '.'")
			}
			if p.isOp("(") && name.kind == tIdent {
				left, err = p.call(left, name)
			} else {
				left = &ast{kind: nMember, name: name.text, left: left, pos: name.pos}
			}
			if err != nil {
				return nil, err
			}
			continue
		case t.kind == tOp && t.text == "[":
			p.advance()
			idx, err := p.expr(0)
			if err != nil {
				return nil, err
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			left = &ast{kind: nIndexer, left: left, right: idx, pos: t.pos}
			continue
		case t.kind == tIdent && (t.text == "is" || t.text == "as"):
			if bpType <= minBP {
				return left, nil
			}
			p.advance()
			typ, err := p.typeSpecifier()
			if err != nil {
				return nil, err
			}
			k := nIs
			if t.text == "as" {
				k = nAs
			}
			left = &ast{kind: k, name: typ, left: left, pos: t.pos}
			continue
		}
		var info struct {
			op binOp
			bp int
		}
		ok := false
		if t.kind == tOp || t.kind == tIdent {
			info, ok = binOps[t.text]
		}
		if !ok || info.bp <= minBP {
			return left, nil
		}
		p.advance()
		right, err := p.expr(info.bp)
		if err != nil {
			return nil, err
		}
		left = &ast{kind: nBinary, op: info.op, name: t.text, left: left, right: right, pos: t.pos}
	}
}

// typeSpecifier reads a type name; only the namespaces System and FHIR may qualify it, so
// that "x as Quantity" followed by further operators is not mistaken for a dotted name.
func (p *parser) typeSpecifier() (string, error) {
	t := p.advance()
	if t.kind != tIdent && t.kind != tDelimIdent {
		return "", p.errf(t.pos, "expected a type name")
	}
	name := t.text
	if (name == "System" || name == "FHIR") && p.isOp(".") {
		p.advance()
		u := p.advance()
		if u.kind != tIdent && u.kind != tDelimIdent {
			return "", p.errf(u.pos, "expected a type name")
		}
		name += "." + u.text
	}
	return name, nil
}

func (p *parser) prefix() (*ast, error) {
	t := p.advance()
	switch t.kind {
	case tEOF:
		return nil, p.errf(t.pos, "unexpected end of expression")
	case tString:
		return literal(newString(t.text), t.pos), nil
	case tNumber, tLongNumber:
		if n := p.peek(); n.kind == tString || n.kind == tIdent && calendarUnits[n.text] != "" {
			p.advance()
			unit := n.text
			if n.kind == tIdent {
				unit = calendarUnits[n.text]
			}
			return literal(newQuantity(json.Number(t.text), unit), t.pos), nil
		}
		if t.kind == tLongNumber || !strings.Contains(t.text, ".") {
			return literal(newInteger(json.Number(t.text)), t.pos), nil
		}
		return literal(newDecimal(json.Number(t.text)), t.pos), nil
	case tDate:
		return literal(&fhir.Node{Type: typeDate, Value: t.text}, t.pos), nil
	case tDateTime:
		return literal(&fhir.Node{Type: typeDateTime, Value: t.text}, t.pos), nil
	case tTime:
		return literal(&fhir.Node{Type: typeTime, Value: t.text}, t.pos), nil
	case tExtConst:
		return &ast{kind: nConst, name: t.text, pos: t.pos}, nil
	case tSpecial:
		switch t.text {
		case "this":
			return &ast{kind: nThis, pos: t.pos}, nil
		case "index":
			return &ast{kind: nIndex, pos: t.pos}, nil
		}
		return &ast{kind: nTotal, pos: t.pos}, nil
	case tDelimIdent:
		return &ast{kind: nIdent, name: t.text, pos: t.pos}, nil
	case tIdent:
		if p.isOp("(") {
			return p.call(nil, t)
		}
		switch t.text {
		case "true":
			return literal(newBool(true), t.pos), nil
		case "false":
			return literal(newBool(false), t.pos), nil
		}
		return &ast{kind: nIdent, name: t.text, pos: t.pos}, nil
	case tOp:
		switch t.text {
		case "(":
			e, err := p.expr(0)
			if err != nil {
				return nil, err
			}
			return e, p.expect(")")
		case "{":
			return &ast{kind: nLiteral, pos: t.pos}, p.expect("}")
		case "+", "-":
			e, err := p.expr(bpUnary)
			if err != nil {
				return nil, err
			}
			if t.text == "+" {
				return e, nil
			}
			if e.kind == nLiteral && len(e.lit) == 1 {
				if neg, ok := negate(e.lit[0]); ok {
					return literal(neg, t.pos), nil
				}
			}
			return &ast{kind: nNeg, left: e, pos: t.pos}, nil
		}
	}
	return nil, p.errf(t.pos, "unexpected %q", t.text)
}

func literal(v *fhir.Node, pos int) *ast {
	return &ast{kind: nLiteral, lit: []*fhir.Node{v}, pos: pos}
}

// call parses a function invocation's arguments and binds the function definition, so that
// unknown functions and wrong argument counts fail at compile time.
func (p *parser) call(recv *ast, name token) (*ast, error) {
	p.advance() // (
	var args []*ast
	if !p.isOp(")") {
		for {
			a, err := p.expr(0)
			if err != nil {
				return nil, err
			}
			args = append(args, a)
			if p.isOp(",") {
				p.advance()
				continue
			}
			break
		}
	}
	if err := p.expect(")"); err != nil {
		return nil, err
	}
	def := functions[name.text]
	if def == nil {
		return nil, p.errf(name.pos, "unknown function %s()", name.text)
	}
	if len(args) < def.min || len(args) > def.max {
		return nil, p.errf(name.pos, "%s() takes %s", name.text, def.arity())
	}
	n := &ast{kind: nFunc, name: name.text, fn: def, left: recv, args: args, pos: name.pos}
	if def.typeArg {
		typ, ok := typeName(args[0])
		if !ok {
			return nil, p.errf(args[0].pos, "%s() expects a type name", name.text)
		}
		n.args = nil
		n.name = typ
	}
	return n, nil
}

// typeName reads a type specifier written as a function argument ("Quantity", "System.String",
// "FHIR.Patient").
func typeName(a *ast) (string, bool) {
	switch a.kind {
	case nIdent:
		return a.name, true
	case nMember:
		if q, ok := typeName(a.left); ok {
			return q + "." + a.name, true
		}
	}
	return "", false
}
