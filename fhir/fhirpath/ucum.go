package fhirpath

import (
	"math/big"
	"strconv"
	"strings"
)

// A small subset of UCUM (https://ucum.org/ucum): enough to convert the units common in
// clinical data and to multiply and divide quantities. A unit string is parsed into a factor
// and a vector of exponents over the base dimensions; two units are comparable when their
// vectors are equal. Units outside the table are comparable only with the same string.

// dimension indexes: the UCUM base units, with mol kept apart so that amounts of substance
// do not mix with plain counts.
const (
	dimM = iota
	dimG
	dimS
	dimRad
	dimK
	dimC
	dimCd
	dimMol
	nDims
)

type dims [nDims]int8

// ucumUnit is a parsed unit: one of it is factor times the product of the base dimensions.
type ucumUnit struct {
	factor *big.Rat
	dim    dims
}

type ucumAtom struct {
	factor string // exact decimal or fraction, in terms of the unit below
	unit   string // definition; "" for a base unit
	base   int    // base dimension when unit is ""
	metric bool   // takes prefixes
}

var ucumAtoms = map[string]ucumAtom{
	"m": {base: dimM, metric: true}, "g": {base: dimG, metric: true}, "s": {base: dimS, metric: true},
	"rad": {base: dimRad, metric: true}, "K": {base: dimK, metric: true}, "C": {base: dimC, metric: true},
	"cd": {base: dimCd, metric: true}, "mol": {base: dimMol, metric: true},
	"1": {factor: "1", unit: "1"}, "%": {factor: "1/100", unit: "1"},
	"L": {factor: "1", unit: "dm3", metric: true}, "l": {factor: "1", unit: "dm3", metric: true},
	"min": {factor: "60", unit: "s"}, "h": {factor: "3600", unit: "s"}, "d": {factor: "86400", unit: "s"},
	"wk": {factor: "604800", unit: "s"}, "a": {factor: "31557600", unit: "s"}, "mo": {factor: "2629800", unit: "s"},
	"Hz": {factor: "1", unit: "s-1", metric: true}, "N": {factor: "1", unit: "kg.m/s2", metric: true},
	"Pa": {factor: "1", unit: "N/m2", metric: true}, "J": {factor: "1", unit: "N.m", metric: true},
	"W": {factor: "1", unit: "J/s", metric: true}, "A": {factor: "1", unit: "C/s", metric: true},
	"V": {factor: "1", unit: "J/C", metric: true}, "bar": {factor: "100000", unit: "Pa", metric: true},
	"m[Hg]": {factor: "133322", unit: "Pa", metric: true}, "m[H2O]": {factor: "9806.65", unit: "Pa", metric: true},
	"U": {factor: "1", unit: "umol/min", metric: true}, "kat": {factor: "1", unit: "mol/s", metric: true},
	"cal": {factor: "4.184", unit: "J", metric: true}, "t": {factor: "1000", unit: "kg", metric: true},
	"[in_i]": {factor: "2.54", unit: "cm"}, "[ft_i]": {factor: "12", unit: "[in_i]"},
	"[yd_i]": {factor: "3", unit: "[ft_i]"}, "[mi_i]": {factor: "5280", unit: "[ft_i]"},
	"[lb_av]": {factor: "453.59237", unit: "g"}, "[oz_av]": {factor: "1/16", unit: "[lb_av]"},
	"[gal_us]": {factor: "231", unit: "[in_i]3"}, "[foz_us]": {factor: "1/128", unit: "[gal_us]"},
	"[pt_us]": {factor: "1/8", unit: "[gal_us]"}, "[qt_us]": {factor: "1/4", unit: "[gal_us]"},
	"[tsp_us]": {factor: "1/6", unit: "[foz_us]"}, "[tbs_us]": {factor: "1/2", unit: "[foz_us]"},
	"[cup_us]": {factor: "8", unit: "[foz_us]"}, "deg": {factor: "1/180", unit: "[pi].rad"},
	"[pi]": {factor: "3.1415926535897932384626433832795028841971693993751", unit: "1"},
}

// ucumPrefixes are the metric prefixes, as powers of ten.
var ucumPrefixes = map[string]int{
	"Y": 24, "Z": 21, "E": 18, "P": 15, "T": 12, "G": 9, "M": 6, "k": 3, "h": 2, "da": 1,
	"d": -1, "c": -2, "m": -3, "u": -6, "n": -9, "p": -12, "f": -15, "a": -18, "z": -21, "y": -24,
}

// calendarUCUM gives the UCUM unit a calendar duration keyword equals. Years and months have
// no fixed length and convert to nothing for '=' and ordering.
var calendarUCUM = map[string]string{
	"week": "wk", "day": "d", "hour": "h", "minute": "min", "second": "s", "millisecond": "ms",
}

// parseUnit parses a UCUM unit expression or a calendar duration keyword; ok is false for
// anything outside the supported subset.
func parseUnit(s string) (ucumUnit, bool) {
	if u, ok := calendarUCUM[s]; ok {
		s = u
	}
	switch s {
	case "":
		s = "1"
	case "year", "month":
		// no fixed length; comparable only with the same keyword
		return ucumUnit{}, false
	}
	p := unitParser{s: s}
	u, ok := p.term(0)
	return u, ok && p.i == len(s)
}

// unitParser reads UCUM's grammar: terms of components joined by '.' and '/', evaluated
// left to right, components being annotated atoms with exponents, numbers or parenthesised
// terms.
type unitParser struct {
	s string
	i int
}

func (p *unitParser) term(depth int) (ucumUnit, bool) {
	if depth > 10 {
		return ucumUnit{}, false
	}
	u := ucumUnit{factor: big.NewRat(1, 1)}
	op := byte('.')
	if p.i < len(p.s) && p.s[p.i] == '/' {
		op = '/'
		p.i++
	}
	for {
		c, ok := p.component(depth)
		if !ok {
			return ucumUnit{}, false
		}
		u = combineUnits(u, c, op == '/')
		if p.i == len(p.s) || p.s[p.i] != '.' && p.s[p.i] != '/' {
			return u, true
		}
		op = p.s[p.i]
		p.i++
	}
}

func (p *unitParser) component(depth int) (ucumUnit, bool) {
	if p.i < len(p.s) && p.s[p.i] == '(' {
		p.i++
		u, ok := p.term(depth + 1)
		if !ok || p.i >= len(p.s) || p.s[p.i] != ')' {
			return ucumUnit{}, false
		}
		p.i++
		return u, true
	}
	if p.i < len(p.s) && p.s[p.i] == '{' {
		// an annotation alone stands for the unit 1
		if !p.annotation() {
			return ucumUnit{}, false
		}
		return ucumUnit{factor: big.NewRat(1, 1)}, true
	}
	start := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	var u ucumUnit
	switch {
	case p.i > start && p.i < len(p.s) && (p.s[p.i] == '*' || p.s[p.i] == '^'):
		// 10* and 10^ are the atom "ten", for powers such as 10*3
		if p.s[start:p.i] != "10" {
			return ucumUnit{}, false
		}
		p.i++
		u = ucumUnit{factor: big.NewRat(10, 1)}
	case p.i > start:
		f, _ := new(big.Rat).SetString(p.s[start:p.i])
		return ucumUnit{factor: f}, p.annotationOpt()
	default:
		// the atom runs up to an exponent, an operator, a parenthesis or an annotation;
		// a bracketed part may hold any of those characters
		for p.i < len(p.s) {
			c := p.s[p.i]
			if c == '[' {
				j := strings.IndexByte(p.s[p.i:], ']')
				if j < 0 {
					return ucumUnit{}, false
				}
				p.i += j + 1
				continue
			}
			if strings.IndexByte("./(){}+-0123456789", c) >= 0 {
				break
			}
			p.i++
		}
		var ok bool
		if u, ok = p.atom(p.s[start:p.i], depth); !ok {
			return ucumUnit{}, false
		}
	}
	// exponent
	es := p.i
	if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
		p.i++
	}
	ds := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	if p.i > ds {
		e, err := strconv.Atoi(p.s[es:p.i])
		if err != nil || e > 24 || e < -24 {
			return ucumUnit{}, false
		}
		u = powUnit(u, e)
	} else if p.i != es {
		return ucumUnit{}, false
	}
	return u, p.annotationOpt()
}

func (p *unitParser) annotation() bool {
	j := strings.IndexByte(p.s[p.i:], '}')
	if j < 0 {
		return false
	}
	p.i += j + 1
	return true
}

func (p *unitParser) annotationOpt() bool {
	if p.i < len(p.s) && p.s[p.i] == '{' {
		return p.annotation()
	}
	return true
}

// atom resolves a unit symbol, with or without a metric prefix.
func (p *unitParser) atom(name string, depth int) (ucumUnit, bool) {
	if a, ok := ucumAtoms[name]; ok {
		return atomUnit(a, depth)
	}
	for pre, exp := range ucumPrefixes {
		rest, ok := strings.CutPrefix(name, pre)
		if !ok || rest == "" {
			continue
		}
		if a, ok := ucumAtoms[rest]; ok && a.metric {
			u, ok := atomUnit(a, depth)
			if !ok {
				return ucumUnit{}, false
			}
			u.factor = new(big.Rat).Mul(u.factor, pow10(exp))
			return u, true
		}
	}
	return ucumUnit{}, false
}

func atomUnit(a ucumAtom, depth int) (ucumUnit, bool) {
	if a.unit == "" {
		var d dims
		d[a.base] = 1
		return ucumUnit{factor: big.NewRat(1, 1), dim: d}, true
	}
	f, ok := new(big.Rat).SetString(a.factor)
	if !ok {
		return ucumUnit{}, false
	}
	sub := unitParser{s: a.unit}
	u, ok := sub.term(depth + 1)
	if !ok || sub.i != len(a.unit) {
		return ucumUnit{}, false
	}
	u.factor = new(big.Rat).Mul(u.factor, f)
	return u, true
}

func pow10(e int) *big.Rat {
	p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(e))), nil)
	if e < 0 {
		return new(big.Rat).SetFrac(big.NewInt(1), p)
	}
	return new(big.Rat).SetInt(p)
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

func powUnit(u ucumUnit, e int) ucumUnit {
	out := ucumUnit{factor: big.NewRat(1, 1)}
	for i := 0; i < abs(e); i++ {
		out = combineUnits(out, u, e < 0)
	}
	return out
}

func combineUnits(a, b ucumUnit, divide bool) ucumUnit {
	out := ucumUnit{factor: new(big.Rat)}
	if divide {
		out.factor.Quo(a.factor, b.factor)
	} else {
		out.factor.Mul(a.factor, b.factor)
	}
	for i := range out.dim {
		if divide {
			out.dim[i] = a.dim[i] - b.dim[i]
		} else {
			out.dim[i] = a.dim[i] + b.dim[i]
		}
	}
	return out
}

// unitFactors returns the factors that bring values in units a and b to a common unit, or
// ok false when the units cannot be compared. Calendar years and months compare with UCUM
// 'a' and 'mo' only when loose is set (equivalence); for equality and ordering they are
// distinct (FHIRPath §6.1.1, "Quantity Equality").
func unitFactors(a, b string, loose bool) (fa, fb *big.Rat, ok bool) {
	one := big.NewRat(1, 1)
	if a == b {
		return one, one, true
	}
	if loose {
		a, b = looseCalendar(a), looseCalendar(b)
		if a == b {
			return one, one, true
		}
	}
	ua, ok1 := parseUnit(a)
	ub, ok2 := parseUnit(b)
	if !ok1 || !ok2 || ua.dim != ub.dim {
		return nil, nil, false
	}
	return ua.factor, ub.factor, true
}

func looseCalendar(u string) string {
	switch u {
	case "year":
		return "a"
	case "month":
		return "mo"
	}
	return u
}

// unitsComparable reports whether quantities in the two units can be compared.
func unitsComparable(a, b string) bool {
	_, _, ok := unitFactors(a, b, false)
	return ok
}

// unitProduct writes the unit of a product or quotient of quantities in units a and b.
func unitProduct(a, b string, divide bool) (string, bool) {
	// scaling by a number keeps the unit, calendar keywords included
	switch {
	case b == "1" || b == "" && !divide:
		return a, true
	case (a == "1" || a == "") && !divide:
		return b, true
	}
	a, ok1 := arithmeticUnit(a)
	b, ok2 := arithmeticUnit(b)
	if !ok1 || !ok2 {
		return "", false
	}
	switch {
	case divide && a == b:
		return "1", true
	case b == "1":
		return a, true
	case a == "1" && !divide:
		return b, true
	}
	if strings.ContainsAny(b, "./") {
		b = "(" + b + ")"
	}
	if divide {
		return a + "/" + b, true
	}
	return a + "." + b, true
}

// arithmeticUnit maps a unit to the UCUM unit multiplication uses: calendar keywords of a
// week and below become their UCUM units; years and months have no fixed length.
func arithmeticUnit(u string) (string, bool) {
	if c, ok := calendarUCUM[u]; ok {
		return c, true
	}
	if u == "year" || u == "month" {
		return "", false
	}
	if u == "" {
		return "1", true
	}
	return u, true
}
