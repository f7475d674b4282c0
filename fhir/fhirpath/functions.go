package fhirpath

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/concord-health/concord/fhir"
)

// funcDef describes one function: its argument count and implementation. in is the input
// collection (the receiver, or $this when called without one); this is the focus the
// arguments are evaluated against.
type funcDef struct {
	name     string
	min, max int
	typeArg  bool // the argument is a type specifier, resolved at compile time
	impl     func(ev *evaluator, n *ast, in, this []*fhir.Node) ([]*fhir.Node, error)
}

func (f *funcDef) arity() string {
	switch {
	case f.min == f.max && f.min == 0:
		return "no arguments"
	case f.min == f.max:
		return fmt.Sprintf("%d argument(s)", f.min)
	}
	return fmt.Sprintf("%d to %d arguments", f.min, f.max)
}

type implFunc = func(ev *evaluator, n *ast, in, this []*fhir.Node) ([]*fhir.Node, error)

var functions = map[string]*funcDef{}

func def(name string, min, max int, impl implFunc) {
	functions[name] = &funcDef{name: name, min: min, max: max, impl: impl}
}

func init() {
	// existence (§5.1)
	def("empty", 0, 0, func(_ *evaluator, _ *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
		return boolColl(len(in) == 0), nil
	})
	def("exists", 0, 1, func(ev *evaluator, n *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
		if len(n.args) == 0 {
			return boolColl(len(in) > 0), nil
		}
		found := false
		err := ev.each(n.args[0], in, "exists", func(_ int, ok bool) bool { found = ok; return !ok })
		return boolColl(found), err
	})
	def("all", 1, 1, func(ev *evaluator, n *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
		all := true
		err := ev.each(n.args[0], in, "all", func(_ int, ok bool) bool { all = ok; return ok })
		return boolColl(all), err
	})
	boolAgg := func(name string, want bool, anyOf bool) {
		def(name, 0, 0, func(_ *evaluator, _ *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
			for _, v := range in {
				b, ok := v.Value.(bool)
				if !ok {
					return nil, errf("%s() expects booleans", name)
				}
				if anyOf && b == want {
					return trueColl, nil
				}
				if !anyOf && b != want {
					return falseColl, nil
				}
			}
			return boolColl(!anyOf), nil
		})
	}
	boolAgg("allTrue", true, false)
	boolAgg("anyTrue", true, true)
	boolAgg("allFalse", false, false)
	boolAgg("anyFalse", false, true)
	def("subsetOf", 1, 1, func(ev *evaluator, n *ast, in, this []*fhir.Node) ([]*fhir.Node, error) {
		other, err := ev.eval(n.args[0], this)
		if err != nil {
			return nil, err
		}
		return boolColl(subset(in, other)), nil
	})
	def("supersetOf", 1, 1, func(ev *evaluator, n *ast, in, this []*fhir.Node) ([]*fhir.Node, error) {
		other, err := ev.eval(n.args[0], this)
		if err != nil {
			return nil, err
		}
		return boolColl(subset(other, in)), nil
	})
	def("count", 0, 0, func(_ *evaluator, _ *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
		return []*fhir.Node{newInt(int64(len(in)))}, nil
	})
	def("distinct", 0, 0, func(_ *evaluator, _ *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
		return union(in, nil), nil
	})
	def("isDistinct", 0, 0, func(_ *evaluator, _ *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
		return boolColl(len(union(in, nil)) == len(in)), nil
	})

	// filtering and projection (§5.2)
	def("where", 1, 1, func(ev *evaluator, n *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
		var out []*fhir.Node
		err := ev.each(n.args[0], in, "where", func(i int, ok bool) bool {
			if ok {
				out = append(out, in[i])
			}
			return true
		})
		return out, err
	})
	def("select", 1, 1, func(ev *evaluator, n *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
		var out []*fhir.Node
		for i, v := range in {
			r, err := ev.lambda(n.args[0], v, i)
			if err != nil {
				return nil, err
			}
			out = append(out, r...)
		}
		return out, nil
	})
	def("repeat", 1, 1, func(ev *evaluator, n *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
		var out []*fhir.Node
		queue := append([]*fhir.Node(nil), in...)
		for len(queue) > 0 {
			v := queue[0]
			queue = queue[1:]
			r, err := ev.lambda(n.args[0], v, -1)
			if err != nil {
				return nil, err
			}
			for _, x := range r {
				if !memberOf(x, out) {
					out = append(out, x)
					queue = append(queue, x)
				}
			}
		}
		return out, nil
	})
	typeFn := func(name string, impl implFunc) {
		functions[name] = &funcDef{name: name, min: 1, max: 1, typeArg: true, impl: impl}
	}
	typeFn("ofType", func(ev *evaluator, n *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
		return ev.ofType(in, n.name), nil
	})
	typeFn("as", func(ev *evaluator, n *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
		return ev.ofType(in, n.name), nil
	})
	typeFn("is", func(ev *evaluator, n *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
		v, err := singleton(in, "is()")
		if err != nil || v == nil {
			return nil, err
		}
		return boolColl(ev.isType(v, n.name)), nil
	})

	// subsetting (§5.3)
	def("single", 0, 0, func(_ *evaluator, _ *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
		if len(in) > 1 {
			return nil, errf("single() on %d items", len(in))
		}
		return in, nil
	})
	def("first", 0, 0, func(_ *evaluator, _ *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
		if len(in) == 0 {
			return nil, nil
		}
		return in[:1:1], nil
	})
	def("last", 0, 0, func(_ *evaluator, _ *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
		if len(in) == 0 {
			return nil, nil
		}
		return in[len(in)-1:], nil
	})
	def("tail", 0, 0, func(_ *evaluator, _ *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
		if len(in) <= 1 {
			return nil, nil
		}
		return in[1:], nil
	})
	def("skip", 1, 1, func(ev *evaluator, n *ast, in, this []*fhir.Node) ([]*fhir.Node, error) {
		k, ok, err := ev.intArg(n, 0, this)
		if err != nil || !ok {
			return nil, err
		}
		if k >= int64(len(in)) {
			return nil, nil
		}
		return in[max(k, 0):], nil
	})
	def("take", 1, 1, func(ev *evaluator, n *ast, in, this []*fhir.Node) ([]*fhir.Node, error) {
		k, ok, err := ev.intArg(n, 0, this)
		if err != nil || !ok || k <= 0 {
			return nil, err
		}
		return in[:min(k, int64(len(in))):min(k, int64(len(in)))], nil
	})
	def("intersect", 1, 1, func(ev *evaluator, n *ast, in, this []*fhir.Node) ([]*fhir.Node, error) {
		other, err := ev.eval(n.args[0], this)
		if err != nil {
			return nil, err
		}
		var out []*fhir.Node
		for _, v := range in {
			if memberOf(v, other) && !memberOf(v, out) {
				out = append(out, v)
			}
		}
		return out, nil
	})
	def("exclude", 1, 1, func(ev *evaluator, n *ast, in, this []*fhir.Node) ([]*fhir.Node, error) {
		other, err := ev.eval(n.args[0], this)
		if err != nil {
			return nil, err
		}
		var out []*fhir.Node
		for _, v := range in {
			if !memberOf(v, other) {
				out = append(out, v)
			}
		}
		return out, nil
	})

	// combining (§5.4)
	def("union", 1, 1, func(ev *evaluator, n *ast, in, this []*fhir.Node) ([]*fhir.Node, error) {
		other, err := ev.eval(n.args[0], this)
		if err != nil {
			return nil, err
		}
		return union(in, other), nil
	})
	def("combine", 1, 1, func(ev *evaluator, n *ast, in, this []*fhir.Node) ([]*fhir.Node, error) {
		other, err := ev.eval(n.args[0], this)
		if err != nil {
			return nil, err
		}
		return append(append([]*fhir.Node(nil), in...), other...), nil
	})

	// conversion (§5.5)
	def("iif", 2, 3, func(ev *evaluator, n *ast, in, this []*fhir.Node) ([]*fhir.Node, error) {
		ctx := this
		if n.left != nil {
			if len(in) > 1 {
				return nil, errf("iif() on %d items", len(in))
			}
			ctx = in
		}
		c, err := ev.eval(n.args[0], ctx)
		if err != nil {
			return nil, err
		}
		b, ok, err := truth(c, "iif")
		if err != nil {
			return nil, err
		}
		if ok && b {
			return ev.eval(n.args[1], ctx)
		}
		if len(n.args) == 3 {
			return ev.eval(n.args[2], ctx)
		}
		return nil, nil
	})
	conv := func(name string, f func(v *fhir.Node) *fhir.Node) {
		def("to"+name, 0, 0, func(_ *evaluator, _ *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
			v, err := singleton(in, "to"+name+"()")
			if err != nil || v == nil {
				return nil, err
			}
			if r := f(v); r != nil {
				return []*fhir.Node{r}, nil
			}
			return nil, nil
		})
		def("convertsTo"+name, 0, 0, func(_ *evaluator, _ *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
			v, err := singleton(in, "convertsTo"+name+"()")
			if err != nil || v == nil {
				return nil, err
			}
			return boolColl(f(v) != nil), nil
		})
	}
	conv("Boolean", toBoolean)
	conv("Integer", toInteger)
	conv("Decimal", toDecimal)
	conv("String", func(v *fhir.Node) *fhir.Node {
		s, ok := toText(v)
		if !ok {
			return nil
		}
		return newString(s)
	})
	conv("Date", func(v *fhir.Node) *fhir.Node { return toTemporal(v, kDate) })
	conv("DateTime", func(v *fhir.Node) *fhir.Node { return toTemporal(v, kDateTime) })
	conv("Time", func(v *fhir.Node) *fhir.Node { return toTemporal(v, kTime) })
	conv("Quantity", toQuantity)
	// comparable(other): whether two quantities' units can be converted to each other
	def("comparable", 1, 1, func(ev *evaluator, n *ast, in, this []*fhir.Node) ([]*fhir.Node, error) {
		v, err := singleton(in, "comparable()")
		if err != nil || v == nil {
			return nil, err
		}
		r, err := ev.eval(n.args[0], this)
		if err != nil {
			return nil, err
		}
		w, err := singleton(r, "comparable() argument")
		if err != nil || w == nil {
			return nil, err
		}
		a, b := toQuantity(v), toQuantity(w)
		if kindOf(v) == kString || kindOf(w) == kString || a == nil || b == nil {
			return nil, nil
		}
		_, ua, ok1 := quantityNum(a)
		_, ub, ok2 := quantityNum(b)
		return boolColl(ok1 && ok2 && unitsComparable(ua, ub)), nil
	})
	// toQuantity(unit) converts to the unit given, empty when it cannot
	for _, name := range []string{"toQuantity", "convertsToQuantity"} {
		converts := name == "convertsToQuantity"
		def(name, 0, 1, func(ev *evaluator, n *ast, in, this []*fhir.Node) ([]*fhir.Node, error) {
			v, err := singleton(in, n.name+"()")
			if err != nil || v == nil {
				return nil, err
			}
			q := toQuantity(v)
			if q != nil && len(n.args) == 1 {
				unit, ok, err := ev.strArg(n, 0, this)
				if err != nil || !ok {
					return nil, err
				}
				q = convertQuantity(q, unit)
			}
			if converts {
				return boolColl(q != nil), nil
			}
			if q == nil {
				return nil, nil
			}
			return []*fhir.Node{q}, nil
		})
	}

	// strings (§5.6)
	strFn := func(name string, min, max int, f func(ev *evaluator, s string, n *ast, this []*fhir.Node) ([]*fhir.Node, error)) {
		def(name, min, max, func(ev *evaluator, n *ast, in, this []*fhir.Node) ([]*fhir.Node, error) {
			v, err := singleton(in, name+"()")
			if err != nil || v == nil {
				return nil, err
			}
			s, ok := toText(v)
			if !ok || kindOf(v) != kString && isSystem(v) {
				return nil, errf("%s() expects a string, got %s", name, typeLabel(v))
			}
			return f(ev, s, n, this)
		})
	}
	strFn("indexOf", 1, 1, func(ev *evaluator, s string, n *ast, this []*fhir.Node) ([]*fhir.Node, error) {
		sub, ok, err := ev.strArg(n, 0, this)
		if err != nil || !ok {
			return nil, err
		}
		i := strings.Index(s, sub)
		if i > 0 {
			i = utf8.RuneCountInString(s[:i])
		}
		return []*fhir.Node{newInt(int64(i))}, nil
	})
	strFn("substring", 1, 2, func(ev *evaluator, s string, n *ast, this []*fhir.Node) ([]*fhir.Node, error) {
		start, ok, err := ev.intArg(n, 0, this)
		if err != nil || !ok {
			return nil, err
		}
		r := []rune(s)
		if start < 0 || start >= int64(len(r)) {
			return nil, nil
		}
		end := int64(len(r))
		if len(n.args) == 2 {
			l, ok, err := ev.intArg(n, 1, this)
			if err != nil {
				return nil, err
			}
			if ok {
				end = min(end, start+max(l, 0))
			}
		}
		return []*fhir.Node{newString(string(r[start:end]))}, nil
	})
	strPred := func(name string, f func(s, arg string) bool) {
		strFn(name, 1, 1, func(ev *evaluator, s string, n *ast, this []*fhir.Node) ([]*fhir.Node, error) {
			arg, ok, err := ev.strArg(n, 0, this)
			if err != nil || !ok {
				return nil, err
			}
			return boolColl(f(s, arg)), nil
		})
	}
	strPred("startsWith", strings.HasPrefix)
	strPred("endsWith", strings.HasSuffix)
	strPred("contains", strings.Contains)
	strMap := func(name string, f func(string) string) {
		strFn(name, 0, 0, func(_ *evaluator, s string, _ *ast, _ []*fhir.Node) ([]*fhir.Node, error) {
			return []*fhir.Node{newString(f(s))}, nil
		})
	}
	strMap("upper", strings.ToUpper)
	strMap("lower", strings.ToLower)
	strMap("trim", strings.TrimSpace)
	strFn("length", 0, 0, func(_ *evaluator, s string, _ *ast, _ []*fhir.Node) ([]*fhir.Node, error) {
		return []*fhir.Node{newInt(int64(utf8.RuneCountInString(s)))}, nil
	})
	strFn("toChars", 0, 0, func(_ *evaluator, s string, _ *ast, _ []*fhir.Node) ([]*fhir.Node, error) {
		var out []*fhir.Node
		for _, r := range s {
			out = append(out, newString(string(r)))
		}
		return out, nil
	})
	strFn("replace", 2, 2, func(ev *evaluator, s string, n *ast, this []*fhir.Node) ([]*fhir.Node, error) {
		pat, ok1, err := ev.strArg(n, 0, this)
		if err != nil {
			return nil, err
		}
		rep, ok2, err := ev.strArg(n, 1, this)
		if err != nil || !ok1 || !ok2 {
			return nil, err
		}
		return []*fhir.Node{newString(strings.ReplaceAll(s, pat, rep))}, nil
	})
	// matches() finds the pattern anywhere (^ and $ anchor it explicitly); matchesFull()
	// requires the whole string to match. Both use single-line mode ('.' matches newlines)
	// as the specification requires.
	strFn("matches", 1, 1, func(ev *evaluator, s string, n *ast, this []*fhir.Node) ([]*fhir.Node, error) {
		re, ok, err := ev.regexArg(n, 0, this, "(?s:%s)")
		if err != nil || !ok {
			return nil, err
		}
		return boolColl(re.MatchString(s)), nil
	})
	strFn("matchesFull", 1, 1, func(ev *evaluator, s string, n *ast, this []*fhir.Node) ([]*fhir.Node, error) {
		re, ok, err := ev.regexArg(n, 0, this, "^(?s:%s)$")
		if err != nil || !ok {
			return nil, err
		}
		return boolColl(re.MatchString(s)), nil
	})
	strFn("replaceMatches", 2, 2, func(ev *evaluator, s string, n *ast, this []*fhir.Node) ([]*fhir.Node, error) {
		re, ok1, err := ev.regexArg(n, 0, this, "%s")
		if err != nil {
			return nil, err
		}
		rep, ok2, err := ev.strArg(n, 1, this)
		if err != nil || !ok1 || !ok2 {
			return nil, err
		}
		// An empty pattern matches only between characters; there is nothing to replace.
		if re.String() == "" {
			return []*fhir.Node{newString(s)}, nil
		}
		return []*fhir.Node{newString(re.ReplaceAllString(s, rep))}, nil
	})
	strFn("split", 1, 1, func(ev *evaluator, s string, n *ast, this []*fhir.Node) ([]*fhir.Node, error) {
		sep, ok, err := ev.strArg(n, 0, this)
		if err != nil || !ok {
			return nil, err
		}
		var out []*fhir.Node
		for _, p := range strings.Split(s, sep) {
			out = append(out, newString(p))
		}
		return out, nil
	})
	def("join", 0, 1, func(ev *evaluator, n *ast, in, this []*fhir.Node) ([]*fhir.Node, error) {
		sep := ""
		if len(n.args) == 1 {
			s, _, err := ev.strArg(n, 0, this)
			if err != nil {
				return nil, err
			}
			sep = s
		}
		parts := make([]string, len(in))
		for i, v := range in {
			parts[i] = v.String()
		}
		return []*fhir.Node{newString(strings.Join(parts, sep))}, nil
	})

	// math (§5.7)
	mathFn := func(name string, f func(x float64) float64, keepInt bool) {
		def(name, 0, 0, func(_ *evaluator, _ *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
			v, err := singleton(in, name+"()")
			if err != nil || v == nil {
				return nil, err
			}
			k := kindOf(v)
			if k == kQuantity && name == "abs" {
				x, u, ok := quantityNum(v)
				if !ok {
					return nil, nil
				}
				return []*fhir.Node{newQuantity(json.Number(strings.TrimLeft(string(x), "+-")), u)}, nil
			}
			if k != kInteger && k != kDecimal {
				return nil, errf("%s() expects a number, got %s", name, typeLabel(v))
			}
			x, _ := num(v)
			r := f(x)
			if math.IsNaN(r) || math.IsInf(r, 0) {
				return nil, nil
			}
			if keepInt && k == kInteger {
				return []*fhir.Node{newInt(int64(r))}, nil
			}
			return []*fhir.Node{newFloat(r)}, nil
		})
	}
	mathFn("abs", math.Abs, true)
	mathFn("ceiling", math.Ceil, true)
	mathFn("floor", math.Floor, true)
	mathFn("truncate", math.Trunc, true)
	mathFn("exp", math.Exp, false)
	mathFn("ln", math.Log, false)
	mathFn("sqrt", math.Sqrt, false)
	for _, name := range []string{"ceiling", "floor", "truncate"} {
		f := functions[name].impl
		functions[name].impl = func(ev *evaluator, n *ast, in, this []*fhir.Node) ([]*fhir.Node, error) {
			out, err := f(ev, n, in, this)
			if len(out) == 1 && out[0].Type == typeDecimal {
				x, _ := num(out[0])
				out = []*fhir.Node{newInt(int64(x))}
			}
			return out, err
		}
	}
	def("log", 1, 1, func(ev *evaluator, n *ast, in, this []*fhir.Node) ([]*fhir.Node, error) {
		return ev.binaryMath(n, in, this, func(x, b float64) float64 { return math.Log(x) / math.Log(b) })
	})
	def("power", 1, 1, func(ev *evaluator, n *ast, in, this []*fhir.Node) ([]*fhir.Node, error) {
		return ev.binaryMath(n, in, this, math.Pow)
	})
	def("round", 0, 1, func(ev *evaluator, n *ast, in, this []*fhir.Node) ([]*fhir.Node, error) {
		v, err := singleton(in, "round()")
		if err != nil || v == nil {
			return nil, err
		}
		x, ok := num(v)
		if !ok {
			return nil, errf("round() expects a number")
		}
		p := int64(0)
		if len(n.args) == 1 {
			if p, _, err = ev.intArg(n, 0, this); err != nil {
				return nil, err
			}
		}
		s := math.Pow10(int(p))
		return []*fhir.Node{newDecimal(json.Number(strconv.FormatFloat(math.Round(x*s)/s, 'f', int(p), 64)))}, nil
	})

	// tree navigation (§5.8)
	def("children", 0, 0, func(_ *evaluator, _ *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
		var out []*fhir.Node
		for _, v := range in {
			out = append(out, v.Children...)
		}
		return out, nil
	})
	def("descendants", 0, 0, func(_ *evaluator, _ *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
		var out []*fhir.Node
		for _, v := range in {
			for _, c := range v.Children {
				c.Walk(func(d *fhir.Node) bool { out = append(out, d); return true })
			}
		}
		return out, nil
	})

	// utility (§5.9)
	def("trace", 1, 2, func(ev *evaluator, n *ast, in, this []*fhir.Node) ([]*fhir.Node, error) {
		name, _, err := ev.strArg(n, 0, this)
		if err != nil {
			return nil, err
		}
		if ev.env.Trace != nil {
			items := in
			if len(n.args) == 2 {
				items = nil
				for i, v := range in {
					r, err := ev.lambda(n.args[1], v, i)
					if err != nil {
						return nil, err
					}
					items = append(items, r...)
				}
			}
			ev.env.Trace(name, items)
		}
		return in, nil
	})
	def("now", 0, 0, func(ev *evaluator, _ *ast, _, _ []*fhir.Node) ([]*fhir.Node, error) {
		return []*fhir.Node{{Type: typeDateTime, Value: ev.clock().Format("2006-01-02T15:04:05.000Z07:00")}}, nil
	})
	def("today", 0, 0, func(ev *evaluator, _ *ast, _, _ []*fhir.Node) ([]*fhir.Node, error) {
		return []*fhir.Node{{Type: typeDate, Value: ev.clock().Format("2006-01-02")}}, nil
	})
	def("timeOfDay", 0, 0, func(ev *evaluator, _ *ast, _, _ []*fhir.Node) ([]*fhir.Node, error) {
		return []*fhir.Node{{Type: typeTime, Value: ev.clock().Format("15:04:05.000")}}, nil
	})
	def("aggregate", 1, 2, func(ev *evaluator, n *ast, in, this []*fhir.Node) ([]*fhir.Node, error) {
		saved := ev.total
		defer func() { ev.total = saved }()
		ev.total = nil
		if len(n.args) == 2 {
			init, err := ev.eval(n.args[1], this)
			if err != nil {
				return nil, err
			}
			ev.total = init
		}
		for i, v := range in {
			r, err := ev.lambda(n.args[0], v, i)
			if err != nil {
				return nil, err
			}
			ev.total = r
		}
		return ev.total, nil
	})

	// boolean (§6.5)
	def("not", 0, 0, func(_ *evaluator, _ *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
		b, ok, err := truth(in, "not()")
		if err != nil || !ok {
			return nil, err
		}
		return boolColl(!b), nil
	})

	// FHIR additions (FHIR R4 §2.1.9.1)
	def("extension", 1, 1, func(ev *evaluator, n *ast, in, this []*fhir.Node) ([]*fhir.Node, error) {
		url, ok, err := ev.strArg(n, 0, this)
		if err != nil || !ok {
			return nil, err
		}
		var out []*fhir.Node
		for _, v := range in {
			for _, c := range v.Children {
				if c.Name == "extension" && c.Text("url") == url {
					out = append(out, c)
				}
			}
		}
		return out, nil
	})
	def("hasValue", 0, 0, func(_ *evaluator, _ *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
		return boolColl(len(in) == 1 && in[0].Value != nil && !isSystem(in[0])), nil
	})
	def("getValue", 0, 0, func(_ *evaluator, _ *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
		if len(in) != 1 || in[0].Value == nil {
			return nil, nil
		}
		v := in[0]
		if isSystem(v) {
			return in, nil
		}
		k := kindOf(v)
		if k == kNone || k == kQuantity {
			return nil, nil
		}
		return []*fhir.Node{{Type: "System." + systemNames[k], Value: v.Value}}, nil
	})
	def("resolve", 0, 0, func(ev *evaluator, _ *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
		var out []*fhir.Node
		for _, v := range in {
			if r := ev.resolve(v); r != nil {
				out = append(out, r)
			}
		}
		return out, nil
	})
}

func (ev *evaluator) clock() time.Time {
	if ev.now.IsZero() {
		ev.now = ev.env.Now
		if ev.now.IsZero() {
			ev.now = time.Now()
		}
	}
	return ev.now
}

// lambda evaluates an argument with $this bound to one item and $index to its position.
func (ev *evaluator) lambda(arg *ast, item *fhir.Node, index int) ([]*fhir.Node, error) {
	saved := ev.index
	ev.index = index
	var one [1]*fhir.Node
	one[0] = item
	r, err := ev.eval(arg, one[:])
	ev.index = saved
	return r, err
}

// each evaluates a criteria argument for every item, reporting its truth until visit
// returns false.
func (ev *evaluator) each(arg *ast, in []*fhir.Node, what string, visit func(i int, ok bool) bool) error {
	for i, v := range in {
		r, err := ev.lambda(arg, v, i)
		if err != nil {
			return err
		}
		b, known, err := truth(r, what)
		if err != nil {
			return err
		}
		if !visit(i, known && b) {
			return nil
		}
	}
	return nil
}

func (ev *evaluator) strArg(n *ast, i int, this []*fhir.Node) (string, bool, error) {
	r, err := ev.eval(n.args[i], this)
	if err != nil {
		return "", false, err
	}
	v, err := singleton(r, n.name+"() argument")
	if err != nil || v == nil {
		return "", false, err
	}
	s, ok := toText(v)
	if !ok {
		return "", false, errf("%s() expects a string argument, got %s", n.name, typeLabel(v))
	}
	return s, true, nil
}

func (ev *evaluator) intArg(n *ast, i int, this []*fhir.Node) (int64, bool, error) {
	r, err := ev.eval(n.args[i], this)
	if err != nil {
		return 0, false, err
	}
	return integerArg(r, n.name+"() argument")
}

// regexArg compiles a pattern argument, placed into wrap (a format with one %s) so callers
// can anchor it or set flags. Patterns that are literals are compiled on every call; a cache
// keyed by pattern would need locking and is not worth it for the rare uses.
func (ev *evaluator) regexArg(n *ast, i int, this []*fhir.Node, wrap string) (*regexp.Regexp, bool, error) {
	pat, ok, err := ev.strArg(n, i, this)
	if err != nil || !ok {
		return nil, false, err
	}
	re, err := regexp.Compile(pat)
	if err == nil && wrap != "%s" {
		// The pattern is checked alone first so one such as "a)|(b" cannot escape the wrap.
		re, err = regexp.Compile(fmt.Sprintf(wrap, pat))
	}
	if err != nil {
		return nil, false, errf("%s(): invalid regular expression: %v", n.name, err)
	}
	return re, true, nil
}

func (ev *evaluator) binaryMath(n *ast, in, this []*fhir.Node, f func(x, y float64) float64) ([]*fhir.Node, error) {
	v, err := singleton(in, n.name+"()")
	if err != nil || v == nil {
		return nil, err
	}
	r, err := ev.eval(n.args[0], this)
	if err != nil {
		return nil, err
	}
	a, err := singleton(r, n.name+"() argument")
	if err != nil || a == nil {
		return nil, err
	}
	x, ok1 := num(v)
	y, ok2 := num(a)
	if !ok1 || !ok2 {
		return nil, errf("%s() expects numbers", n.name)
	}
	res := f(x, y)
	if math.IsNaN(res) || math.IsInf(res, 0) {
		return nil, nil
	}
	if n.name == "power" && kindOf(v) == kInteger && kindOf(a) == kInteger && res == math.Trunc(res) {
		return []*fhir.Node{newInt(int64(res))}, nil
	}
	return []*fhir.Node{newFloat(res)}, nil
}

func subset(a, b []*fhir.Node) bool {
	for _, v := range a {
		if !memberOf(v, b) {
			return false
		}
	}
	return true
}

// toText is the string form of a primitive or quantity (toString()).
func toText(v *fhir.Node) (string, bool) {
	switch kindOf(v) {
	case kString, kBool, kInteger, kDecimal, kDate, kDateTime, kTime:
		return v.String(), true
	case kQuantity:
		// the value as written keeps its precision; calendar keywords are not quoted
		x, u, ok := quantityNum(v)
		if !ok {
			return "", false
		}
		if isCalendar(u) {
			return string(x) + " " + u, true
		}
		return string(x) + " '" + u + "'", true
	}
	return "", false
}

func toBoolean(v *fhir.Node) *fhir.Node {
	switch kindOf(v) {
	case kBool:
		return newBool(v.Value.(bool))
	case kString:
		switch strings.ToLower(v.String()) {
		case "true", "t", "yes", "y", "1", "1.0":
			return trueNode
		case "false", "f", "no", "n", "0", "0.0":
			return falseNode
		}
	case kInteger, kDecimal:
		switch x, _ := num(v); x {
		case 1:
			return trueNode
		case 0:
			return falseNode
		}
	}
	return nil
}

var reInteger = regexp.MustCompile(`^[+-]?[0-9]+$`)
var reDecimal = regexp.MustCompile(`^[+-]?[0-9]+(\.[0-9]+)?$`)

func toInteger(v *fhir.Node) *fhir.Node {
	switch kindOf(v) {
	case kInteger:
		return &fhir.Node{Type: typeInteger, Value: v.Value}
	case kBool:
		if v.Value.(bool) {
			return newInt(1)
		}
		return newInt(0)
	case kString:
		s := v.String()
		if reInteger.MatchString(s) {
			if i, err := strconv.ParseInt(s, 10, 32); err == nil {
				return newInt(i)
			}
		}
	}
	return nil
}

func toDecimal(v *fhir.Node) *fhir.Node {
	switch kindOf(v) {
	case kInteger, kDecimal:
		return newDecimal(v.Value.(json.Number))
	case kBool:
		if v.Value.(bool) {
			return newDecimal("1.0")
		}
		return newDecimal("0.0")
	case kString:
		if s := v.String(); reDecimal.MatchString(s) {
			return newDecimal(json.Number(strings.TrimPrefix(s, "+")))
		}
	}
	return nil
}

func toTemporal(v *fhir.Node, want kind) *fhir.Node {
	k := kindOf(v)
	s := v.String()
	switch {
	case k == kString:
		if _, ok := parseDT(s, want == kTime); !ok {
			return nil
		}
	case k == want, want == kDateTime && k == kDate:
	case want == kDate && k == kDateTime:
		d, ok := parseDT(s, false)
		if !ok {
			return nil
		}
		d.prec, d.hasTZ = min(d.prec, 3), false
		s = formatDT(d, false)
	default:
		return nil
	}
	d, _ := parseDT(s, want == kTime)
	if want == kDate && d.prec > 3 {
		return nil
	}
	typ := map[kind]string{kDate: typeDate, kDateTime: typeDateTime, kTime: typeTime}[want]
	return &fhir.Node{Type: typ, Value: s}
}

var reQuantity = regexp.MustCompile(`^\s*([+-]?[0-9]+(?:\.[0-9]+)?)\s*(?:'([^']+)'|([a-z]+))?\s*$`)

func toQuantity(v *fhir.Node) *fhir.Node {
	switch kindOf(v) {
	case kQuantity:
		x, u, ok := quantityNum(v)
		if !ok {
			return nil
		}
		return newQuantity(x, u)
	case kInteger, kDecimal:
		return newQuantity(v.Value.(json.Number), "1")
	case kBool:
		if v.Value.(bool) {
			return newQuantity("1.0", "1")
		}
		return newQuantity("0.0", "1")
	case kString:
		m := reQuantity.FindStringSubmatch(v.String())
		if m == nil {
			return nil
		}
		unit := m[2]
		if m[3] != "" {
			if unit = calendarUnits[m[3]]; unit == "" {
				return nil
			}
		}
		if unit == "" {
			unit = "1"
		}
		return newQuantity(json.Number(m[1]), unit)
	}
	return nil
}

// convertQuantity expresses q in unit, or returns nil when the units are not convertible.
func convertQuantity(q *fhir.Node, unit string) *fhir.Node {
	v, u, ok := quantityNum(q)
	if !ok {
		return nil
	}
	if u == unit {
		return q
	}
	fa, fb, ok := unitFactors(u, unit, false)
	x, scale, ok2 := decimalRat(v)
	if !ok || !ok2 {
		return nil
	}
	x.Mul(x, fa).Quo(x, fb)
	return newQuantity(json.Number(formatRat(x, scale)), unit)
}

// resolve finds the resource a Reference (or a reference string) points to; see the package
// documentation for what is found without a database.
func (ev *evaluator) resolve(v *fhir.Node) *fhir.Node {
	ref := referenceString(v)
	if ref == "" {
		return nil
	}
	if ev.env.Resolve != nil {
		if r := ev.env.Resolve(ref); r != nil {
			return r
		}
	}
	if r := ev.resolveLocal(ref); r != nil {
		return r
	}
	typ, id := referenceTarget(ref, ev)
	if typ == "" {
		return nil
	}
	return &fhir.Node{Name: typ, Type: typ, Children: []*fhir.Node{{Name: "id", Type: "id", Value: id}}}
}

// resolveIs evaluates "x.resolve() is Type" without building the resolved nodes.
func (ev *evaluator) resolveIs(n *ast, this []*fhir.Node) ([]*fhir.Node, error) {
	in := this
	if n.left.left != nil {
		var err error
		if in, err = ev.eval(n.left.left, this); err != nil {
			return nil, err
		}
	}
	var hit *fhir.Node
	for _, v := range in {
		ref := referenceString(v)
		if ref == "" {
			continue
		}
		var typ string
		if r := ev.resolveLocal(ref); r != nil {
			typ = r.Type
		} else if typ, _ = referenceTarget(ref, ev); typ == "" {
			continue
		}
		if hit != nil {
			return nil, errf("is expects a single item, got several resolved references")
		}
		hit = &fhir.Node{Type: typ}
	}
	if hit == nil {
		return nil, nil
	}
	return boolColl(ev.isType(hit, n.name)), nil
}

func referenceString(v *fhir.Node) string {
	if s, ok := v.Value.(string); ok {
		return s
	}
	return v.Text("reference")
}

// resolveLocal finds contained resources ("#id") and Bundle entries by fullUrl.
func (ev *evaluator) resolveLocal(ref string) *fhir.Node {
	if id, ok := strings.CutPrefix(ref, "#"); ok {
		if ev.resource == nil {
			return nil
		}
		// A contained resource refers to its container with "#", and to the resources
		// contained beside it with "#id": they are the container's.
		container := ev.resource
		if ev.resource.Name == "contained" && ev.rootResource != nil && ev.rootResource != ev.resource {
			container = ev.rootResource
		}
		if id == "" {
			return container
		}
		for _, c := range container.Children {
			if c.Name == "contained" && c.Text("id") == id {
				return c
			}
		}
		return nil
	}
	if b := ev.rootResource; b != nil && b.Type == "Bundle" {
		for _, e := range b.Children {
			if e.Name == "entry" && e.Text("fullUrl") == ref {
				return e.First("resource")
			}
		}
	}
	return nil
}

// referenceTarget reads the type and id of a literal reference: "Type/id", an absolute URL
// ending in Type/id, either with "/_history/v".
func referenceTarget(ref string, ev *evaluator) (typ, id string) {
	if i := strings.IndexAny(ref, "?#"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	j := strings.LastIndexByte(ref, '/')
	if j <= 0 || j == len(ref)-1 {
		return "", ""
	}
	id = ref[j+1:]
	rest := ref[:j]
	typ = rest[strings.LastIndexByte(rest, '/')+1:]
	if !ev.reg.IsResource(typ) {
		return "", ""
	}
	return typ, id
}
