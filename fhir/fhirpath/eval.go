package fhirpath

import (
	"encoding/json"
	"math"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
)

type evaluator struct {
	env                             *Env
	reg                             *definitions.Registry
	focus                           *fhir.Node
	resource, rootResource, context *fhir.Node
	index                           int
	total                           []*fhir.Node
	now                             time.Time
	depth                           int
	focusBuf                        [1]*fhir.Node
}

const maxDepth = 512

// Evaluators are pooled: one is needed per evaluation, and search indexing evaluates dozens
// of expressions per resource.
var evaluators = sync.Pool{New: func() any { return new(evaluator) }}

var emptyEnv = &Env{}

func newEvaluator(focus *fhir.Node, env *Env) *evaluator {
	if env == nil {
		env = emptyEnv
	}
	ev := evaluators.Get().(*evaluator)
	*ev = evaluator{env: env, reg: definitions.R4(), focus: focus, resource: env.Resource,
		rootResource: env.RootResource, context: env.Context, index: -1}
	if ev.resource == nil {
		ev.resource = focus
	}
	if ev.rootResource == nil {
		ev.rootResource = ev.resource
	}
	if ev.context == nil {
		ev.context = focus
	}
	return ev
}

// release returns an evaluator to the pool without keeping the trees it saw alive.
func (ev *evaluator) release() {
	*ev = evaluator{}
	evaluators.Put(ev)
}

func (ev *evaluator) eval(n *ast, this []*fhir.Node) ([]*fhir.Node, error) {
	switch n.kind {
	case nLiteral:
		return n.lit, nil
	case nIdent:
		return ev.step(this, n.name, true), nil
	case nMember:
		in, err := ev.eval(n.left, this)
		if err != nil || len(in) == 0 {
			return nil, err
		}
		return ev.step(in, n.name, false), nil
	case nThis:
		return this, nil
	case nIndex:
		if ev.index < 0 {
			return nil, nil
		}
		return []*fhir.Node{newInt(int64(ev.index))}, nil
	case nTotal:
		return ev.total, nil
	case nConst:
		return ev.constant(n.name)
	case nIndexer:
		in, err := ev.eval(n.left, this)
		if err != nil {
			return nil, err
		}
		idx, err := ev.eval(n.right, this)
		if err != nil {
			return nil, err
		}
		i, ok, err := integerArg(idx, "indexer")
		if err != nil || !ok || i < 0 || i >= int64(len(in)) {
			return nil, err
		}
		return in[i : i+1], nil
	case nNeg:
		in, err := ev.eval(n.left, this)
		if err != nil {
			return nil, err
		}
		v, err := singleton(in, "unary -")
		if err != nil || v == nil {
			return nil, err
		}
		neg, ok := negate(v)
		if !ok {
			return nil, errf("cannot negate %s", typeLabel(v))
		}
		return []*fhir.Node{neg}, nil
	case nBinary:
		return ev.binary(n, this)
	case nIs:
		if n.left.kind == nFunc && n.left.fn.name == "resolve" && ev.env.Resolve == nil {
			return ev.resolveIs(n, this)
		}
		in, err := ev.eval(n.left, this)
		if err != nil {
			return nil, err
		}
		v, err := singleton(in, "is")
		if err != nil || v == nil {
			return nil, err
		}
		return boolColl(ev.isType(v, n.name)), nil
	case nAs:
		in, err := ev.eval(n.left, this)
		if err != nil {
			return nil, err
		}
		return ev.ofType(in, n.name), nil
	case nFunc:
		in := this
		if n.left != nil {
			var err error
			if in, err = ev.eval(n.left, this); err != nil {
				return nil, err
			}
		}
		ev.depth++
		if ev.depth > maxDepth {
			return nil, errf("expression nests too deeply")
		}
		out, err := n.fn.impl(ev, n, in, this)
		ev.depth--
		return out, err
	}
	return nil, errf("unsupported expression node")
}

// step navigates to the children called name. At the root of a path a type name selects the
// focus itself when it is of that type ("Observation.subject", "Resource.meta").
func (ev *evaluator) step(in []*fhir.Node, name string, root bool) []*fhir.Node {
	var out []*fhir.Node
	upper := name != "" && name[0] >= 'A' && name[0] <= 'Z'
	for _, item := range in {
		if root && upper && item.Type != "" && (item.Type == name || ev.reg.IsSubtype(item.Type, name)) {
			out = append(out, item)
			continue
		}
		for i, c := range item.Children {
			if c.Name != name {
				continue
			}
			if out == nil {
				// children of one name are adjacent: size the result from the run
				j := i + 1
				for j < len(item.Children) && item.Children[j].Name == name {
					j++
				}
				if len(in) == 1 {
					return item.Children[i:j:j]
				}
				out = make([]*fhir.Node, 0, j-i)
			}
			out = append(out, c)
		}
	}
	return out
}

// constant resolves %name.
func (ev *evaluator) constant(name string) ([]*fhir.Node, error) {
	if c, ok := ev.env.Collections[name]; ok {
		return c, nil
	}
	if v, ok := ev.env.Vars[name]; ok {
		if v == nil {
			return nil, nil
		}
		return []*fhir.Node{v}, nil
	}
	one := func(n *fhir.Node) ([]*fhir.Node, error) {
		if n == nil {
			return nil, nil
		}
		return []*fhir.Node{n}, nil
	}
	switch name {
	case "resource":
		return one(ev.resource)
	case "rootResource":
		return one(ev.rootResource)
	case "context":
		return one(ev.context)
	case "ucum":
		return []*fhir.Node{newString("http://unitsofmeasure.org")}, nil
	case "sct":
		return []*fhir.Node{newString("http://snomed.info/sct")}, nil
	case "loinc":
		return []*fhir.Node{newString("http://loinc.org")}, nil
	}
	if v, ok := strings.CutPrefix(name, "vs-"); ok {
		return []*fhir.Node{newString("http://hl7.org/fhir/ValueSet/" + v)}, nil
	}
	if v, ok := strings.CutPrefix(name, "ext-"); ok {
		return []*fhir.Node{newString("http://hl7.org/fhir/StructureDefinition/" + v)}, nil
	}
	return nil, errf("unknown constant %%%s", name)
}

// isType reports whether a node is of the named type or a subtype of it.
func (ev *evaluator) isType(n *fhir.Node, name string) bool {
	ns, bare := "", name
	if b, ok := strings.CutPrefix(name, "System."); ok {
		ns, bare = "System", b
	} else if b, ok := strings.CutPrefix(name, "FHIR."); ok {
		ns, bare = "FHIR", b
	}
	if isSystem(n) {
		return ns != "FHIR" && n.Type[len("System."):] == bare
	}
	if ns == "System" || n.Type == "" {
		return false
	}
	if ev.reg.IsPrimitive(n.Type) {
		// primitives match exactly: a code is not a string to FHIRPath, although its
		// StructureDefinition specialises string
		if n.Type == bare {
			return true
		}
		return ns == "" && ev.reg.Type(bare) == nil && systemNames[fhirKinds[n.Type]] == bare
	}
	return n.Type == bare || ev.reg.IsSubtype(n.Type, bare)
}

func (ev *evaluator) ofType(in []*fhir.Node, name string) []*fhir.Node {
	var out []*fhir.Node
	for _, v := range in {
		if ev.isType(v, name) {
			out = append(out, v)
		}
	}
	return out
}

func singleton(in []*fhir.Node, what string) (*fhir.Node, error) {
	switch len(in) {
	case 0:
		return nil, nil
	case 1:
		return in[0], nil
	}
	return nil, errf("%s expects a single item, got %d", what, len(in))
}

// truth converts a collection to a boolean by singleton evaluation (FHIRPath §4.5): empty is
// unknown, one Boolean is itself, any other single item is true.
func truth(in []*fhir.Node, what string) (val, known bool, err error) {
	v, err := singleton(in, what)
	if err != nil || v == nil {
		return false, false, err
	}
	if b, ok := v.Value.(bool); ok {
		return b, true, nil
	}
	return true, true, nil
}

func integerArg(in []*fhir.Node, what string) (int64, bool, error) {
	v, err := singleton(in, what)
	if err != nil || v == nil {
		return 0, false, err
	}
	if kindOf(v) != kInteger {
		return 0, false, errf("%s expects an integer, got %s", what, typeLabel(v))
	}
	i, ok := intVal(v)
	return i, ok, nil
}

func negate(v *fhir.Node) (*fhir.Node, bool) {
	switch kindOf(v) {
	case kInteger, kDecimal:
		s := negNumber(string(v.Value.(json.Number)))
		return &fhir.Node{Type: map[kind]string{kInteger: typeInteger, kDecimal: typeDecimal}[kindOf(v)], Value: json.Number(s)}, true
	case kQuantity:
		x, unit, ok := quantityNum(v)
		if !ok {
			return nil, false
		}
		return newQuantity(json.Number(negNumber(string(x))), unit), true
	}
	return nil, false
}

func negNumber(s string) string {
	if strings.HasPrefix(s, "-") {
		return s[1:]
	}
	if strings.Trim(s, "+0.") == "" { // zero has no sign to flip
		return s
	}
	return "-" + strings.TrimPrefix(s, "+")
}

func (ev *evaluator) binary(n *ast, this []*fhir.Node) ([]*fhir.Node, error) {
	switch n.op {
	case opAnd, opOr, opImplies, opXor:
		return ev.logic(n, this)
	}
	l, err := ev.eval(n.left, this)
	if err != nil {
		return nil, err
	}
	r, err := ev.eval(n.right, this)
	if err != nil {
		return nil, err
	}
	switch n.op {
	case opUnion:
		return union(l, r), nil
	case opEq, opNe:
		if len(l) == 0 || len(r) == 0 {
			return nil, nil
		}
		eq := len(l) == len(r)
		for i := 0; eq && i < len(l); i++ {
			e, ok := equal(l[i], r[i])
			if !ok {
				return nil, nil
			}
			eq = e
		}
		return boolColl(eq == (n.op == opEq)), nil
	case opEquiv, opNotEquiv:
		eq := len(l) == len(r)
		for i := 0; eq && i < len(l); i++ {
			found := false
			for _, x := range r {
				if equiv(l[i], x) {
					found = true
					break
				}
			}
			eq = found
		}
		return boolColl(eq == (n.op == opEquiv)), nil
	case opLt, opGt, opLe, opGe:
		a, err := singleton(l, n.name)
		if err != nil {
			return nil, err
		}
		b, err := singleton(r, n.name)
		if err != nil || a == nil || b == nil {
			return nil, err
		}
		c, ok, err := compare(a, b)
		if err != nil || !ok {
			return nil, err
		}
		switch n.op {
		case opLt:
			return boolColl(c < 0), nil
		case opGt:
			return boolColl(c > 0), nil
		case opLe:
			return boolColl(c <= 0), nil
		}
		return boolColl(c >= 0), nil
	case opIn, opContains:
		item, coll := l, r
		if n.op == opContains {
			item, coll = r, l
		}
		v, err := singleton(item, n.name)
		if err != nil || v == nil {
			return nil, err
		}
		return boolColl(memberOf(v, coll)), nil
	case opConcat:
		a, err := singleton(l, "&")
		if err != nil {
			return nil, err
		}
		b, err := singleton(r, "&")
		if err != nil {
			return nil, err
		}
		return []*fhir.Node{newString(a.String() + b.String())}, nil
	}
	return arithmetic(n, l, r)
}

func memberOf(v *fhir.Node, coll []*fhir.Node) bool {
	for _, x := range coll {
		if x == v {
			return true
		}
		if eq, ok := equal(v, x); ok && eq {
			return true
		}
	}
	return false
}

// union merges two collections without duplicates (by equality), keeping first occurrences.
func union(l, r []*fhir.Node) []*fhir.Node {
	if len(r) == 0 && len(l) <= 1 {
		return l
	}
	out := make([]*fhir.Node, 0, len(l)+len(r))
	for _, s := range [2][]*fhir.Node{l, r} {
		for _, v := range s {
			if !memberOf(v, out) {
				out = append(out, v)
			}
		}
	}
	return out
}

func (ev *evaluator) logic(n *ast, this []*fhir.Node) ([]*fhir.Node, error) {
	l, err := ev.eval(n.left, this)
	if err != nil {
		return nil, err
	}
	a, aok, err := truth(l, n.name)
	if err != nil {
		return nil, err
	}
	// short-circuit where the left side decides
	switch {
	case n.op == opAnd && aok && !a:
		return falseColl, nil
	case n.op == opOr && aok && a:
		return trueColl, nil
	case n.op == opImplies && aok && !a:
		return trueColl, nil
	}
	r, err := ev.eval(n.right, this)
	if err != nil {
		return nil, err
	}
	b, bok, err := truth(r, n.name)
	if err != nil {
		return nil, err
	}
	switch n.op {
	case opAnd:
		switch {
		case bok && !b:
			return falseColl, nil
		case aok && bok:
			return trueColl, nil
		}
	case opOr:
		switch {
		case bok && b:
			return trueColl, nil
		case aok && bok:
			return falseColl, nil
		}
	case opXor:
		if aok && bok {
			return boolColl(a != b), nil
		}
	case opImplies:
		switch {
		case bok && b:
			return trueColl, nil
		case aok && bok:
			return falseColl, nil
		}
	}
	return nil, nil
}

func arithmetic(n *ast, l, r []*fhir.Node) ([]*fhir.Node, error) {
	a, err := singleton(l, n.name)
	if err != nil {
		return nil, err
	}
	b, err := singleton(r, n.name)
	if err != nil || a == nil || b == nil {
		return nil, err
	}
	ka, kb := kindOf(a), kindOf(b)
	switch {
	case n.op == opPlus && ka == kString && kb == kString:
		return []*fhir.Node{newString(a.String() + b.String())}, nil
	case (ka == kDate || ka == kDateTime || ka == kTime) && kb == kQuantity && (n.op == opPlus || n.op == opMinus):
		out, err := addDuration(a, ka, b, n.op == opMinus)
		if err != nil || out == nil {
			return nil, err
		}
		return []*fhir.Node{out}, nil
	case ka == kQuantity && kb == kQuantity && (n.op == opPlus || n.op == opMinus):
		if out := addQuantities(a, b, n.op == opMinus); out != nil {
			return []*fhir.Node{out}, nil
		}
		return nil, nil
	case (ka == kQuantity || kb == kQuantity) && (n.op == opMul || n.op == opDiv):
		qa, qb := a, b
		if ka == kInteger || ka == kDecimal {
			qa = toQuantity(a)
		}
		if kb == kInteger || kb == kDecimal {
			qb = toQuantity(b)
		}
		if kindOf(qa) != kQuantity || kindOf(qb) != kQuantity {
			return nil, errf("operator %s is not defined for %s and %s", n.name, typeLabel(a), typeLabel(b))
		}
		if out := mulQuantities(qa, qb, n.op == opDiv); out != nil {
			return []*fhir.Node{out}, nil
		}
		return nil, nil
	}
	if !(ka == kInteger || ka == kDecimal) || !(kb == kInteger || kb == kDecimal) {
		return nil, errf("operator %s is not defined for %s and %s", n.name, typeLabel(a), typeLabel(b))
	}
	if ka == kInteger && kb == kInteger && n.op != opDiv {
		x, _ := intVal(a)
		y, _ := intVal(b)
		var v int64
		switch n.op {
		case opPlus:
			v = x + y
		case opMinus:
			v = x - y
		case opMul:
			v = x * y
		case opIntDiv, opMod:
			if y == 0 {
				return nil, nil
			}
			if n.op == opIntDiv {
				v = x / y
			} else {
				v = x % y
			}
		}
		return []*fhir.Node{newInt(v)}, nil
	}
	if n.op == opPlus || n.op == opMinus || n.op == opMul {
		// exact decimal arithmetic: 1.2 * 1.8 is 2.16, not the nearest float64
		x, sa, ok1 := decimalRat(a.Value.(json.Number))
		y, sb, ok2 := decimalRat(b.Value.(json.Number))
		if ok1 && ok2 {
			r, scale := new(big.Rat), max(sa, sb)
			switch n.op {
			case opPlus:
				r.Add(x, y)
			case opMinus:
				r.Sub(x, y)
			default:
				r.Mul(x, y)
				scale = sa + sb
			}
			return []*fhir.Node{newDecimal(json.Number(formatRat(r, scale)))}, nil
		}
	}
	x, _ := num(a)
	y, _ := num(b)
	var v float64
	switch n.op {
	case opPlus:
		v = x + y
	case opMinus:
		v = x - y
	case opMul:
		v = x * y
	case opDiv, opIntDiv, opMod:
		if y == 0 {
			return nil, nil
		}
		switch n.op {
		case opDiv:
			v = x / y
		case opIntDiv:
			return []*fhir.Node{newInt(int64(math.Trunc(x / y)))}, nil
		default:
			v = math.Mod(x, y)
		}
	}
	// keep the scale of the operands so that 1.5 + 1.5 prints as 3.0, not 3
	s := formatFloat(v)
	if sc := max(decimals(a), decimals(b)); n.op != opDiv && sc > 0 {
		s = strconv.FormatFloat(v, 'f', sc, 64)
	}
	return []*fhir.Node{newDecimal(json.Number(s))}, nil
}

// addQuantities adds or subtracts quantities, giving the result in the left unit (nil when
// the units cannot be converted to each other).
func addQuantities(a, b *fhir.Node, subtract bool) *fhir.Node {
	va, ua, ok1 := quantityNum(a)
	vb, ub, ok2 := quantityNum(b)
	if !ok1 || !ok2 {
		return nil
	}
	fa, fb, ok := unitFactors(ua, ub, false)
	if !ok {
		return nil
	}
	x, sa, ok1 := decimalRat(va)
	y, sb, ok2 := decimalRat(vb)
	if !ok1 || !ok2 {
		return nil
	}
	y.Mul(y, new(big.Rat).Quo(fb, fa))
	if subtract {
		y.Neg(y)
	}
	return newQuantity(json.Number(formatRat(x.Add(x, y), max(sa, sb))), ua)
}

// mulQuantities multiplies or divides quantities, combining their units (nil when a unit
// has no fixed size, or on division by zero).
func mulQuantities(a, b *fhir.Node, divide bool) *fhir.Node {
	va, ua, ok1 := quantityNum(a)
	vb, ub, ok2 := quantityNum(b)
	if !ok1 || !ok2 {
		return nil
	}
	unit, ok := unitProduct(ua, ub, divide)
	if !ok {
		return nil
	}
	x, sa, ok1 := decimalRat(va)
	y, sb, ok2 := decimalRat(vb)
	if !ok1 || !ok2 {
		return nil
	}
	if divide {
		if y.Sign() == 0 {
			return nil
		}
		return newQuantity(json.Number(formatRat(x.Quo(x, y), 0)), unit)
	}
	return newQuantity(json.Number(formatRat(x.Mul(x, y), sa+sb)), unit)
}

func timeOf(d dt) time.Time {
	mo := max(d.f[1], 1)
	day := max(d.f[2], 1)
	return time.Date(d.f[0], time.Month(mo), day, d.f[3], d.f[4], d.f[5], d.f[6]*1e6, time.UTC)
}

func timeDuration(minutes int) time.Duration { return time.Duration(minutes) * time.Minute }

// addDuration adds a time-valued quantity to a date, dateTime or time, keeping its precision.
func addDuration(a *fhir.Node, k kind, q *fhir.Node, subtract bool) (*fhir.Node, error) {
	d, ok := nodeDT(a, k)
	if !ok {
		return nil, nil
	}
	v, unit, ok := quantity(q)
	if !ok {
		return nil, nil
	}
	if subtract {
		v = -v
	}
	// UCUM 'a' and 'mo' are definite durations, not calendar ones: adding them is an error
	// (FHIRPath §6.6.1); the UCUM units of a week and below equal their calendar keywords
	if u, ok := map[string]string{"wk": "week", "d": "day", "h": "hour", "min": "minute", "s": "second", "ms": "millisecond"}[unit]; ok {
		unit = u
	}
	t := timeOf(d)
	n := int(v)
	switch unit {
	case "year":
		t = addMonths(t, 12*n)
	case "month":
		t = addMonths(t, n)
	case "week":
		t = t.AddDate(0, 0, 7*n)
	case "day":
		t = t.AddDate(0, 0, n)
	case "hour":
		t = t.Add(time.Duration(n) * time.Hour)
	case "minute":
		t = t.Add(time.Duration(n) * time.Minute)
	case "second":
		t = t.Add(time.Duration(v * float64(time.Second)))
	case "millisecond":
		t = t.Add(time.Duration(v * float64(time.Millisecond)))
	default:
		return nil, errf("cannot add a quantity in %q to a date", unit)
	}
	d.f = [7]int{t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond() / 1e6}
	typ := typeDateTime
	switch k {
	case kDate:
		typ = typeDate
	case kTime:
		typ = typeTime
	}
	return &fhir.Node{Type: typ, Value: formatDT(d, k == kTime)}, nil
}

// addMonths clamps to the last day of the target month (FHIRPath §6.6.1: Jan 31 + 1 month is
// Feb 28 or 29), where time.AddDate would overflow into March.
func addMonths(t time.Time, n int) time.Time {
	first := time.Date(t.Year(), t.Month(), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC).AddDate(0, n, 0)
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(t.Day(), last)-1)
}

func formatDT(d dt, timeOnly bool) string {
	var b strings.Builder
	pad := func(v, n int) {
		s := strconv.Itoa(v)
		for i := len(s); i < n; i++ {
			b.WriteByte('0')
		}
		b.WriteString(s)
	}
	start := 0
	if timeOnly {
		start = 3
	}
	for i := start; i < d.prec; i++ {
		switch i {
		case 0:
			pad(d.f[0], 4)
		case 1, 2:
			b.WriteByte('-')
			pad(d.f[i], 2)
		case 3:
			if !timeOnly {
				b.WriteByte('T')
			}
			pad(d.f[3], 2)
		case 4, 5:
			b.WriteByte(':')
			pad(d.f[i], 2)
		case 6:
			b.WriteByte('.')
			pad(d.f[6], 3)
		}
	}
	if d.hasTZ && d.prec > 3 {
		if d.tz == 0 {
			b.WriteByte('Z')
		} else {
			tz := d.tz
			if tz < 0 {
				b.WriteByte('-')
				tz = -tz
			} else {
				b.WriteByte('+')
			}
			pad(tz/60, 2)
			b.WriteByte(':')
			pad(tz%60, 2)
		}
	}
	return b.String()
}
