package fhirpath

import (
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/concord-health/concord/fhir"
)

const (
	// defaultDecimalBoundary is the precision of a decimal boundary when none is given
	// (FHIRPath 2.0 asks for at least 8).
	defaultDecimalBoundary = 8
	// maxDecimalPrecision is the most digits after the point a boundary may ask for.
	maxDecimalPrecision = 28
)

func init() {
	boundary := func(name string, high bool) {
		def(name, 0, 1, func(ev *evaluator, n *ast, in, this []*fhir.Node) ([]*fhir.Node, error) {
			v, err := singleton(in, name+"()")
			if err != nil || v == nil {
				return nil, err
			}
			p := int64(-1) // -1: the type's default
			if len(n.args) == 1 {
				var ok bool
				if p, ok, err = ev.intArg(n, 0, this); err != nil || !ok {
					return nil, err
				}
				if p < 0 {
					return nil, nil
				}
			}
			out, err := boundaryOf(v, p, high)
			if err != nil || out == nil {
				return nil, err
			}
			return []*fhir.Node{out}, nil
		})
	}
	boundary("lowBoundary", false)
	boundary("highBoundary", true)
	def("precision", 0, 0, func(_ *evaluator, _ *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
		v, err := singleton(in, "precision()")
		if err != nil || v == nil {
			return nil, err
		}
		switch k := kindOf(v); k {
		case kInteger, kDecimal:
			_, scale, ok := parseDecimal(string(v.Value.(json.Number)))
			if !ok {
				return nil, nil
			}
			return []*fhir.Node{newInt(int64(scale))}, nil
		case kDate, kDateTime, kTime:
			d, ok := nodeDT(v, k)
			if !ok {
				return nil, nil
			}
			if k == kTime {
				return []*fhir.Node{newInt(int64(timeDigits[d.prec]))}, nil
			}
			return []*fhir.Node{newInt(int64(dtDigits[d.prec]))}, nil
		}
		return nil, errf("precision() is not defined for %s", typeLabel(v))
	})
}

// dtDigits maps the number of date/time fields present to the precision FHIRPath reports
// (digits of the value written out: 2014-01-05T10:30:00.000 has 17).
var (
	dtDigits   = [8]int{0, 4, 6, 8, 10, 12, 14, 17}
	timeDigits = [8]int{0, 0, 0, 0, 2, 4, 6, 9}
)

func boundaryOf(v *fhir.Node, p int64, high bool) (*fhir.Node, error) {
	switch k := kindOf(v); k {
	case kInteger, kDecimal:
		s, ok := decimalBoundary(string(v.Value.(json.Number)), p, high)
		if !ok {
			return nil, nil
		}
		return newDecimal(json.Number(s)), nil
	case kQuantity:
		var val *fhir.Node
		for _, c := range v.Children {
			if c.Name == "value" {
				val = c
			}
		}
		if val == nil {
			return nil, nil
		}
		num, _ := val.Value.(json.Number)
		s, ok := decimalBoundary(string(num), p, high)
		if !ok {
			return nil, nil
		}
		_, unit, _ := quantity(v)
		return newQuantity(json.Number(s), unit), nil
	case kDate, kDateTime, kTime:
		d, ok := nodeDT(v, k)
		if !ok {
			return nil, nil
		}
		out, ok := dateBoundary(d, k, p, high)
		if !ok {
			return nil, nil
		}
		typ := map[kind]string{kDate: typeDate, kDateTime: typeDateTime, kTime: typeTime}[k]
		return &fhir.Node{Type: typ, Value: formatDT(out, k == kTime)}, nil
	}
	return nil, errf("boundary functions are not defined for %s", typeLabel(v))
}

// parseDecimal reads a decimal as an unscaled integer and the number of digits after the
// point, keeping trailing zeros since they carry precision.
func parseDecimal(s string) (*big.Int, int, bool) {
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		// exponent form (possible in FHIR JSON): keep the mantissa's digits after the point
		r, ok := new(big.Rat).SetString(s)
		exp, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		if !ok || err != nil {
			return nil, 0, false
		}
		ms := 0
		if j := strings.IndexByte(s[:i], '.'); j >= 0 {
			ms = i - j - 1
		}
		s = r.FloatString(max(0, ms-exp))
	}
	scale := 0
	if i := strings.IndexByte(s, '.'); i >= 0 {
		scale = len(s) - i - 1
		s = s[:i] + s[i+1:]
	}
	u, ok := new(big.Int).SetString(strings.TrimPrefix(s, "+"), 10)
	return u, scale, ok
}

// decimalBoundary computes the boundary of a decimal from the precision it was written with:
// the value is uncertain by half a unit in its last digit. The magnitude is widened and
// brought to p digits (truncating towards zero for the low side, rounding half up for the
// high side), and the sign applied afterwards, so low(-x) = -high(x).
func decimalBoundary(s string, p int64, high bool) (string, bool) {
	if p < 0 {
		p = defaultDecimalBoundary
	}
	if p > maxDecimalPrecision {
		return "", false
	}
	u, scale, ok := parseDecimal(s)
	if !ok {
		return "", false
	}
	neg := u.Sign() < 0
	m := new(big.Int).Abs(u)
	// the magnitude's side is the opposite one for a negative value; zero's low boundary
	// is the negated high one
	up := high != neg
	if m.Sign() == 0 && !high {
		neg, up = true, true
	}
	w := new(big.Int).Mul(m, big.NewInt(10)) // scale+1 digits
	if up {
		w.Add(w, big.NewInt(5))
	} else {
		w.Sub(w, big.NewInt(5))
	}
	ws := int64(scale + 1)
	if p >= ws {
		w.Mul(w, new(big.Int).Exp(big.NewInt(10), big.NewInt(p-ws), nil))
	} else {
		div := new(big.Int).Exp(big.NewInt(10), big.NewInt(ws-p), nil)
		q, r := new(big.Int).QuoRem(w, div, new(big.Int))
		if up && r.Mul(r, big.NewInt(2)).Cmp(div) >= 0 {
			q.Add(q, big.NewInt(1))
		}
		w = q
	}
	digits := w.String()
	if int64(len(digits)) <= p {
		digits = strings.Repeat("0", int(p)-len(digits)+1) + digits
	}
	out := digits
	if p > 0 {
		out = digits[:int64(len(digits))-p] + "." + digits[int64(len(digits))-p:]
	}
	if neg {
		out = "-" + out
	}
	return out, true
}

// dateBoundary fills the fields below a date/time's precision with their least or greatest
// values, up to the precision asked for (in digits: 4 year … 17 millisecond; for times 2
// hour … 9 millisecond). A dateTime without a zone takes the widest offset on that side
// (+14:00 low, -12:00 high).
func dateBoundary(d dt, k kind, p int64, high bool) (dt, bool) {
	digits := dtDigits[:]
	first, last := 1, 7
	switch k {
	case kDate:
		last = 3
	case kTime:
		first = 4
		digits = timeDigits[:]
	}
	if p < 0 {
		p = int64(digits[last])
	}
	prec := 0
	for i := first; i <= last; i++ {
		if int64(digits[i]) == p {
			prec = i
		}
	}
	if prec == 0 {
		return dt{}, false
	}
	if k == kDateTime && d.prec == 4 {
		// an hour alone is not a FHIR dateTime; it stands for the hour's first minute
		d.prec = 5
	}
	min0 := [7]int{0, 1, 1, 0, 0, 0, 0}
	for i := d.prec; i < 7; i++ {
		if !high {
			d.f[i] = min0[i]
			continue
		}
		switch i {
		case 1:
			d.f[i] = 12
		case 2:
			d.f[i] = time.Date(d.f[0], time.Month(d.f[1])+1, 0, 0, 0, 0, 0, time.UTC).Day()
		case 3:
			d.f[i] = 23
		case 4, 5:
			d.f[i] = 59
		case 6:
			d.f[i] = 999
		}
	}
	d.prec = prec
	if k == kDateTime && prec > 3 && !d.hasTZ {
		d.hasTZ, d.tz = true, 14*60
		if high {
			d.tz = -12 * 60
		}
	}
	return d, true
}
