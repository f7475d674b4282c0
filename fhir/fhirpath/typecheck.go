package fhirpath

import (
	"fmt"
	"strings"

	"github.com/concord-health/concord/fhir/definitions"
)

// SemanticError reports an expression that parses but cannot be right for the type it is
// compiled against (FHIRPath N1 §"Type safety and strict evaluation"): a path step naming no
// element, a string function on a non-string, a type specifier naming no type, and so on.
type SemanticError struct {
	Expr string
	Pos  int
	Msg  string
}

func (e *SemanticError) Error() string {
	return fmt.Sprintf("fhirpath: %s at offset %d in %q", e.Msg, e.Pos, e.Expr)
}

// sType is one statically known type: a FHIR type code or a "System." name, and the
// definition path its child elements are found under (an element path for backbone elements).
type sType struct {
	name string
	path string
}

// sInfo is what is known statically about a collection. Checks report errors only on known
// types, so that anything the checker cannot follow is accepted.
type sInfo struct {
	unknown bool
	types   []sType
	// unordered marks results of children() and descendants(), whose order is undefined.
	unordered bool
}

var unknownInfo = sInfo{unknown: true}

func systemInfo(name string) sInfo { return sInfo{types: []sType{{name: name}}} }

// scope records which iteration variables an expression may use.
type scope struct {
	index bool // inside an argument evaluated once per item
	total bool // inside aggregate()
}

type checker struct {
	reg *definitions.Registry
	src string
}

func (c *checker) errf(n *ast, format string, args ...any) error {
	return &SemanticError{Expr: c.src, Pos: n.pos, Msg: fmt.Sprintf(format, args...)}
}

// typeCheck walks a compiled expression with the input of type typ, whose children are
// defined under path (typ itself, or an element path for a backbone element).
func typeCheck(src string, root *ast, typ, path string) error {
	c := &checker{reg: definitions.R4(), src: src}
	in := sInfo{types: []sType{{name: typ, path: path}}}
	_, err := c.check(root, in, in, scope{})
	return err
}

// check infers the type of n evaluated with this as $this; ctx is the input of the whole
// expression (%context).
func (c *checker) check(n *ast, this, ctx sInfo, sc scope) (sInfo, error) {
	switch n.kind {
	case nLiteral:
		if len(n.lit) == 0 {
			return unknownInfo, nil
		}
		return systemInfo(n.lit[0].Type), nil
	case nIdent:
		return c.step(n, this, true)
	case nMember:
		left, err := c.check(n.left, this, ctx, sc)
		if err != nil {
			return left, err
		}
		return c.step(n, left, false)
	case nThis:
		return this, nil
	case nIndex:
		if !sc.index {
			return unknownInfo, c.errf(n, "$index is only defined inside a function that iterates")
		}
		return systemInfo(typeInteger), nil
	case nTotal:
		if !sc.total {
			return unknownInfo, c.errf(n, "$total is only defined inside aggregate()")
		}
		return unknownInfo, nil
	case nConst:
		switch n.name {
		case "context":
			return ctx, nil
		case "ucum", "sct", "loinc":
			return systemInfo(typeString), nil
		}
		return unknownInfo, nil
	case nIndexer:
		left, err := c.check(n.left, this, ctx, sc)
		if err != nil {
			return left, err
		}
		if left.unordered {
			return unknownInfo, c.errf(n, "indexer needs an ordered collection; the order of children() and descendants() is undefined")
		}
		if _, err := c.check(n.right, this, ctx, sc); err != nil {
			return unknownInfo, err
		}
		return left, nil
	case nNeg:
		return c.check(n.left, this, ctx, sc)
	case nBinary:
		left, err := c.check(n.left, this, ctx, sc)
		if err != nil {
			return left, err
		}
		right, err := c.check(n.right, this, ctx, sc)
		if err != nil {
			return right, err
		}
		switch n.op {
		case opUnion:
			return unionInfo(left, right), nil
		case opConcat:
			return systemInfo(typeString), nil
		case opPlus, opMinus:
			// A date or time moves by a quantity (7 days), never by a bare number.
			if (isTemporal(left) && isNumber(right)) || (isNumber(left) && isTemporal(right)) {
				return unknownInfo, c.errf(n, "a date or time and a number cannot be added or subtracted; use a quantity such as 7 days")
			}
			return unknownInfo, nil
		case opMul, opDiv, opIntDiv, opMod:
			return unknownInfo, nil
		}
		return systemInfo(typeBoolean), nil
	case nIs, nAs:
		if _, err := c.check(n.left, this, ctx, sc); err != nil {
			return unknownInfo, err
		}
		t, err := c.typeSpec(n)
		if n.kind == nIs {
			return systemInfo(typeBoolean), nil
		}
		return t, err
	case nFunc:
		return c.call(n, this, ctx, sc)
	}
	return unknownInfo, nil
}

// step types a path step. At the root of a path (and of a function argument) a type name
// selects the focus when it is of that type, as the evaluator does.
func (c *checker) step(n *ast, in sInfo, root bool) (sInfo, error) {
	if in.unknown {
		return in, nil
	}
	out := sInfo{unordered: in.unordered}
	upper := n.name != "" && n.name[0] >= 'A' && n.name[0] <= 'Z'
	for _, t := range in.types {
		if root && upper && t.path == t.name {
			if t.name == n.name || c.reg.IsSubtype(t.name, n.name) {
				out.types = append(out.types, t)
				continue
			}
			if c.abstract(t) && c.reg.IsSubtype(n.name, t.name) {
				out.types = append(out.types, sType{name: n.name, path: n.name})
				continue
			}
		}
		found, ok := c.member(t, n.name)
		if !ok {
			continue
		}
		if found.unknown {
			return unknownInfo, nil
		}
		out.types = append(out.types, found.types...)
	}
	if len(out.types) == 0 && len(in.types) > 0 {
		return out, c.errf(n, "%s has no element %q", typeNames(in), n.name)
	}
	return out, nil
}

// member looks up a child element of one type. A choice element is found only by its
// FHIRPath name ("value"), not by a JSON name such as "valueQuantity".
func (c *checker) member(t sType, name string) (sInfo, bool) {
	if strings.HasPrefix(t.name, "System.") {
		return unknownInfo, true
	}
	el := c.reg.Element(t.path + "." + name)
	if el == nil {
		el = c.reg.Element(t.path + "." + name + "[x]")
	}
	if el == nil {
		// An abstract type (Resource in Bundle.entry.resource) may hold any specialisation.
		if t.path == t.name && (c.reg.Type(t.name) == nil || c.abstract(t)) {
			return unknownInfo, true
		}
		return sInfo{}, false
	}
	if el.ContentRef != "" {
		code := "BackboneElement"
		if ref := c.reg.Element(el.ContentRef); ref != nil && len(ref.Types) == 1 {
			code = ref.Types[0].Code
		}
		return sInfo{types: []sType{{name: code, path: el.ContentRef}}}, true
	}
	if len(el.Types) == 0 {
		return unknownInfo, true
	}
	var out sInfo
	for _, tr := range el.Types {
		code := tr.Code
		if s, ok := strings.CutPrefix(code, "http://hl7.org/fhirpath/"); ok {
			out.types = append(out.types, sType{name: s})
			continue
		}
		out.types = append(out.types, sType{name: code, path: c.reg.ChildPath(el, code)})
	}
	return out, true
}

func (c *checker) abstract(t sType) bool {
	d := c.reg.Type(t.name)
	return d != nil && d.Abstract
}

// typeSpec resolves the type named by is, as or ofType. A name that no namespace defines
// ("string1") is an error for as and ofType, whose result would always be empty; is only
// answers false, and the R4 invariants test for types this registry lacks ("$this is
// Citation"). A known name in the other namespace ("System.Patient") matches nothing.
func (c *checker) typeSpec(n *ast) (sInfo, error) {
	bare, ns := n.name, ""
	if b, ok := strings.CutPrefix(bare, "System."); ok {
		bare, ns = b, "System"
	} else if b, ok := strings.CutPrefix(bare, "FHIR."); ok {
		bare, ns = b, "FHIR"
	}
	isSystem := false
	for _, s := range systemNames {
		isSystem = isSystem || s == bare
	}
	_, isKind := fhirKinds[bare] // includes Quantity profiles the registry does not hold
	switch {
	case ns != "System" && c.reg.Type(bare) != nil:
		return sInfo{types: []sType{{name: bare, path: bare}}}, nil
	case ns == "System" && isSystem:
		return systemInfo(n.name), nil
	case isSystem || isKind || c.reg.Type(bare) != nil:
		// an unqualified System name also matches the FHIR primitives mapping to it
		return unknownInfo, nil
	}
	return unknownInfo, c.errf(n, "unknown type %s", n.name)
}

// Function groups by what they return; functions not listed return an unknown type.
var (
	boolFuncs = setOf("empty", "exists", "all", "allTrue", "anyTrue", "allFalse", "anyFalse",
		"subsetOf", "supersetOf", "isDistinct", "is", "not", "hasValue", "startsWith", "endsWith",
		"contains", "matches", "matchesFull", "convertsToBoolean", "convertsToInteger",
		"convertsToDecimal", "convertsToString", "convertsToDate", "convertsToDateTime",
		"convertsToTime", "convertsToQuantity", "memberOf", "conformsTo", "htmlChecks")
	stringFuncs = setOf("toString", "upper", "lower", "trim", "replace", "replaceMatches",
		"substring", "split", "toChars", "join")
	sameFuncs = setOf("where", "first", "last", "tail", "skip", "take", "single", "distinct",
		"intersect", "exclude", "trace", "sort")
	// stringInput lists functions defined on a String input (FHIRPath N1 §5.6).
	stringInput = setOf("indexOf", "substring", "startsWith", "endsWith", "contains", "upper",
		"lower", "replace", "matches", "matchesFull", "replaceMatches", "length", "toChars",
		"split", "trim")
	// orderedInput lists functions whose result depends on the order of their input.
	orderedInput = setOf("first", "last", "tail", "skip", "take")
	// lambdas lists functions evaluating their arguments once per input item.
	lambdas  = setOf("where", "select", "exists", "all", "repeat", "aggregate", "sort", "trace")
	resultOf = map[string]string{
		"count": typeInteger, "length": typeInteger, "indexOf": typeInteger, "toInteger": typeInteger,
		"toDecimal": typeDecimal, "toBoolean": typeBoolean, "toDate": typeDate,
		"toDateTime": typeDateTime, "toTime": typeTime, "toQuantity": typeQuantity,
		"now": typeDateTime, "today": typeDate, "timeOfDay": typeTime,
	}
)

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

func (c *checker) call(n *ast, this, ctx sInfo, sc scope) (sInfo, error) {
	in := this
	if n.left != nil {
		var err error
		if in, err = c.check(n.left, this, ctx, sc); err != nil {
			return in, err
		}
	}
	name := n.fn.name
	if orderedInput[name] && in.unordered {
		return unknownInfo, c.errf(n, "%s() needs an ordered collection; the order of children() and descendants() is undefined", name)
	}
	if stringInput[name] && !in.unknown && len(in.types) > 0 && !c.anyStringLike(in) {
		return unknownInfo, c.errf(n, "%s() expects a String input, not %s", name, typeNames(in))
	}
	// Arguments: lambdas see each input item as $this; iif sees its receiver; the rest
	// are evaluated against the caller's focus.
	args := make([]sInfo, len(n.args))
	for i, a := range n.args {
		var err error
		switch {
		case lambdas[name] && !(name == "aggregate" && i == 1) && !(name == "trace" && i == 0):
			item := in
			item.unordered = false
			args[i], err = c.check(a, item, ctx, scope{index: true, total: name == "aggregate" || sc.total})
		case name == "iif" && n.left != nil:
			args[i], err = c.check(a, sInfo{types: in.types, unknown: in.unknown}, ctx, sc)
		default:
			args[i], err = c.check(a, this, ctx, sc)
		}
		if err != nil {
			return unknownInfo, err
		}
	}
	switch {
	case name == "iif":
		if !args[0].unknown && len(args[0].types) > 0 && !c.anyBoolean(args[0]) {
			return unknownInfo, c.errf(n.args[0], "iif() criterion must be Boolean, not %s", typeNames(args[0]))
		}
		if len(args) == 3 {
			return unionInfo(args[1], args[2]), nil
		}
		return args[1], nil
	case n.fn.typeArg:
		t, err := c.typeSpec(n)
		if name == "is" {
			return systemInfo(typeBoolean), nil
		}
		t.unordered = in.unordered
		return t, err
	case boolFuncs[name]:
		return systemInfo(typeBoolean), nil
	case stringFuncs[name]:
		return systemInfo(typeString), nil
	case resultOf[name] != "":
		return systemInfo(resultOf[name]), nil
	case sameFuncs[name]:
		out := in
		if name == "sort" {
			out.unordered = false
		}
		return out, nil
	case name == "union" || name == "combine":
		return unionInfo(in, args[0]), nil
	case name == "select":
		out := args[0]
		out.unordered = out.unordered || in.unordered
		return out, nil
	case name == "extension":
		return sInfo{types: []sType{{name: "Extension", path: "Extension"}}}, nil
	case name == "children" || name == "descendants":
		return sInfo{unknown: true, unordered: true}, nil
	}
	return unknownInfo, nil
}

// anyStringLike reports whether some type may be a string at run time. FHIR primitives are
// accepted whatever their type, as the evaluator converts them to text.
func (c *checker) anyStringLike(in sInfo) bool {
	for _, t := range in.types {
		if t.name == typeString || !strings.HasPrefix(t.name, "System.") && (c.reg.IsPrimitive(t.name) || c.reg.Type(t.name) == nil) {
			return true
		}
	}
	return false
}

func (c *checker) anyBoolean(in sInfo) bool {
	for _, t := range in.types {
		if t.name == typeBoolean || t.name == "boolean" {
			return true
		}
	}
	return false
}

func unionInfo(a, b sInfo) sInfo {
	if a.unknown || b.unknown {
		return sInfo{unknown: true, unordered: a.unordered || b.unordered}
	}
	out := sInfo{unordered: a.unordered || b.unordered}
	out.types = append(append(out.types, a.types...), b.types...)
	return out
}

func typeNames(in sInfo) string {
	var names []string
	seen := map[string]bool{}
	for _, t := range in.types {
		label := t.name
		if t.path != t.name && t.path != "" {
			label = t.path
		}
		if !seen[label] {
			seen[label] = true
			names = append(names, label)
		}
	}
	return strings.Join(names, " | ")
}

// only reports whether info is known to hold values of the given System types alone.
func only(info sInfo, names ...string) bool {
	if info.unknown || len(info.types) == 0 {
		return false
	}
	for _, t := range info.types {
		found := false
		for _, n := range names {
			found = found || t.name == n
		}
		if !found {
			return false
		}
	}
	return true
}

func isTemporal(info sInfo) bool { return only(info, typeDate, typeDateTime, typeTime) }
func isNumber(info sInfo) bool   { return only(info, typeInteger, typeDecimal) }
