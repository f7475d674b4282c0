package fhirpath

import (
	"encoding/json"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/concord-health/concord/fhir"
)

// Type names of the values the engine produces.
const (
	typeBoolean  = "System.Boolean"
	typeString   = "System.String"
	typeInteger  = "System.Integer"
	typeDecimal  = "System.Decimal"
	typeDate     = "System.Date"
	typeDateTime = "System.DateTime"
	typeTime     = "System.Time"
	typeQuantity = "System.Quantity"
)

var (
	trueNode  = &fhir.Node{Type: typeBoolean, Value: true}
	falseNode = &fhir.Node{Type: typeBoolean, Value: false}
	trueColl  = []*fhir.Node{trueNode}
	falseColl = []*fhir.Node{falseNode}
)

func newBool(b bool) *fhir.Node {
	if b {
		return trueNode
	}
	return falseNode
}

func boolColl(b bool) []*fhir.Node {
	if b {
		return trueColl
	}
	return falseColl
}

func newString(s string) *fhir.Node { return &fhir.Node{Type: typeString, Value: s} }
func newInteger(n json.Number) *fhir.Node {
	return &fhir.Node{Type: typeInteger, Value: n}
}
func newInt(i int64) *fhir.Node {
	return &fhir.Node{Type: typeInteger, Value: json.Number(strconv.FormatInt(i, 10))}
}
func newDecimal(n json.Number) *fhir.Node { return &fhir.Node{Type: typeDecimal, Value: n} }
func newFloat(f float64) *fhir.Node {
	return &fhir.Node{Type: typeDecimal, Value: json.Number(formatFloat(f))}
}

func formatFloat(f float64) string {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	return s
}

// newQuantity builds a System.Quantity: children "value" (System.Decimal) and "unit"
// (System.String, a UCUM code or a calendar duration keyword), so that the same paths work
// on it as on a FHIR Quantity.
func newQuantity(v json.Number, unit string) *fhir.Node {
	q := &fhir.Node{Type: typeQuantity}
	q.Children = []*fhir.Node{{Name: "value", Type: typeDecimal, Value: v}}
	if unit != "" {
		q.Children = append(q.Children, &fhir.Node{Name: "unit", Type: typeString, Value: unit})
	}
	return q
}

// kind is the System type a node's value takes part in operators as.
type kind uint8

const (
	kNone kind = iota
	kBool
	kString
	kInteger
	kDecimal
	kDate
	kDateTime
	kTime
	kQuantity
)

var fhirKinds = map[string]kind{
	"boolean": kBool, "string": kString, "code": kString, "id": kString, "uri": kString, "url": kString,
	"canonical": kString, "markdown": kString, "oid": kString, "uuid": kString, "base64Binary": kString,
	"xhtml": kString, "integer": kInteger, "positiveInt": kInteger, "unsignedInt": kInteger,
	"integer64": kInteger, "decimal": kDecimal, "date": kDate, "dateTime": kDateTime, "instant": kDateTime,
	"time":      kTime,
	typeBoolean: kBool, typeString: kString, typeInteger: kInteger, typeDecimal: kDecimal,
	typeDate: kDate, typeDateTime: kDateTime, typeTime: kTime, typeQuantity: kQuantity,
	"Quantity": kQuantity, "Age": kQuantity, "Duration": kQuantity, "Count": kQuantity,
	"Distance": kQuantity, "SimpleQuantity": kQuantity, "MoneyQuantity": kQuantity,
}

var systemNames = map[kind]string{
	kBool: "Boolean", kString: "String", kInteger: "Integer", kDecimal: "Decimal", kDate: "Date",
	kDateTime: "DateTime", kTime: "Time", kQuantity: "Quantity",
}

func kindOf(n *fhir.Node) kind {
	k := fhirKinds[n.Type]
	if k != kQuantity && k != kNone && n.Value == nil {
		return kNone // a primitive with only extensions has no value to compare
	}
	return k
}

func isSystem(n *fhir.Node) bool { return strings.HasPrefix(n.Type, "System.") }

// num returns a numeric node's value as float64.
func num(n *fhir.Node) (float64, bool) {
	v, ok := n.Value.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(v), 64)
	return f, err == nil
}

func intVal(n *fhir.Node) (int64, bool) {
	v, ok := n.Value.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(string(v), 10, 64)
	return i, err == nil
}

// quantity returns the value and unit of a Quantity (FHIR or System). The unit is the UCUM
// code when present, else the human unit text.
func quantity(n *fhir.Node) (float64, string, bool) {
	v, unit, ok := quantityNum(n)
	if !ok {
		return 0, unit, false
	}
	f, err := strconv.ParseFloat(string(v), 64)
	return f, unit, err == nil
}

// quantityNum is quantity with the value as written, so that its precision survives.
func quantityNum(n *fhir.Node) (json.Number, string, bool) {
	var v json.Number
	found := false
	unit := ""
	for _, c := range n.Children {
		switch c.Name {
		case "value":
			v, found = c.Value.(json.Number)
		case "code":
			unit = c.String()
		case "unit":
			if unit == "" {
				unit = c.String()
			}
		}
	}
	return v, unit, found
}

// decimalRat reads a decimal exactly, with the number of digits written after the point.
func decimalRat(v json.Number) (*big.Rat, int, bool) {
	u, scale, ok := parseDecimal(string(v))
	if !ok {
		return nil, 0, false
	}
	return new(big.Rat).SetFrac(u, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)), scale, true
}

// formatRat writes r with at least scale digits after the point: exactly when r has a short
// finite decimal expansion, else as the nearest float64 would print.
func formatRat(r *big.Rat, scale int) string {
	d := new(big.Int).Set(r.Denom())
	digits := 0
	for _, f := range []int64{2, 5} {
		n := 0
		for {
			q, m := new(big.Int).QuoRem(d, big.NewInt(f), new(big.Int))
			if m.Sign() != 0 {
				break
			}
			d, n = q, n+1
		}
		digits = max(digits, n)
	}
	if d.IsInt64() && d.Int64() == 1 && digits <= 28 {
		return r.FloatString(max(digits, scale))
	}
	x, _ := r.Float64()
	return formatFloat(x)
}

// compareQuantities orders two quantities after converting them to a common unit; ok is
// false when their units cannot be compared. With loose set the values are compared at the
// precision of the less precise one ('~').
func compareQuantities(a, b *fhir.Node, loose bool) (int, bool) {
	va, ua, ok1 := quantityNum(a)
	vb, ub, ok2 := quantityNum(b)
	if !ok1 || !ok2 {
		return 0, false
	}
	fa, fb, ok := unitFactors(ua, ub, loose)
	if !ok {
		return 0, false
	}
	x, sa, ok1 := decimalRat(va)
	y, sb, ok2 := decimalRat(vb)
	if !ok1 || !ok2 {
		return 0, false
	}
	x.Mul(x, fa)
	y.Mul(y, fb)
	if loose {
		// the step of each value's last digit, in the common unit; both are rounded to the
		// coarser step
		step := new(big.Rat).Mul(pow10(-sa), fa)
		if sb := new(big.Rat).Mul(pow10(-sb), fb); sb.Cmp(step) > 0 {
			step = sb
		}
		return roundRat(new(big.Rat).Quo(x, step)).Cmp(roundRat(new(big.Rat).Quo(y, step))), true
	}
	return x.Cmp(y), true
}

// roundRat rounds half away from zero.
func roundRat(r *big.Rat) *big.Int {
	n := new(big.Int).Abs(r.Num())
	q, m := new(big.Int).QuoRem(n, r.Denom(), new(big.Int))
	if m.Mul(m, big.NewInt(2)).Cmp(r.Denom()) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if r.Sign() < 0 {
		q.Neg(q)
	}
	return q
}

func isCalendar(u string) bool {
	_, ok := calendarUCUM[u]
	return ok || u == "year" || u == "month"
}

// dt is a parsed date, dateTime or time: fields year..millisecond, the number of fields
// given (precision), and the zone offset in minutes when one was written.
type dt struct {
	f     [7]int // year, month, day, hour, minute, second, millisecond
	prec  int    // number of fields present
	tz    int
	hasTZ bool
}

func parseDT(s string, timeOnly bool) (dt, bool) {
	var d dt
	i := 0
	readN := func(n int) (int, bool) {
		if i+n > len(s) {
			return 0, false
		}
		v := 0
		for j := 0; j < n; j++ {
			c := s[i+j]
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		i += n
		return v, true
	}
	field := 0
	if timeOnly {
		field = 3
	} else {
		y, ok := readN(4)
		if !ok {
			return d, false
		}
		d.f[0], d.prec = y, 1
		field = 1
		for field < 3 && i < len(s) && s[i] == '-' {
			i++
			v, ok := readN(2)
			if !ok {
				return d, false
			}
			d.f[field] = v
			field++
			d.prec = field
		}
		if i < len(s) && s[i] == 'T' {
			i++
		}
		if i == len(s) {
			return d, true
		}
		if d.prec < 3 {
			return d, false
		}
	}
	h, ok := readN(2)
	if !ok {
		return d, false
	}
	d.f[3], d.prec = h, 4
	for field = 4; field < 6 && i < len(s) && s[i] == ':'; field++ {
		i++
		v, ok := readN(2)
		if !ok {
			return d, false
		}
		d.f[field], d.prec = v, field+1
	}
	if i < len(s) && s[i] == '.' && d.prec == 6 {
		i++
		b := i
		ms := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if i-b < 3 {
				ms = ms*10 + int(s[i]-'0')
			}
			i++
		}
		for k := i - b; k < 3; k++ {
			ms *= 10
		}
		d.f[6], d.prec = ms, 7
	}
	if i < len(s) {
		switch s[i] {
		case 'Z':
			d.hasTZ = true
			i++
		case '+', '-':
			sign := 1
			if s[i] == '-' {
				sign = -1
			}
			i++
			hh, ok1 := readN(2)
			if i < len(s) && s[i] == ':' {
				i++
			}
			mm, ok2 := readN(2)
			if !ok1 || !ok2 {
				return d, false
			}
			d.tz, d.hasTZ = sign*(hh*60+mm), true
		}
	}
	return d, i == len(s)
}

// utcMinutes shifts a date-time with a zone to UTC (precision of minutes or finer only).
func (d dt) normalized() dt {
	if !d.hasTZ || d.tz == 0 || d.prec < 5 {
		return d
	}
	t := timeOf(d)
	t = t.Add(-timeDuration(d.tz))
	out := d
	out.f[0], out.f[1], out.f[2], out.f[3], out.f[4] = t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute()
	out.tz = 0
	return out
}

// compareDT compares two date/times field by field. ok is false when the result is unknown
// because the values have different precision and agree on the common fields.
func compareDT(a, b dt) (cmp int, ok bool) {
	if a.hasTZ != b.hasTZ && a.prec >= 5 && b.prec >= 5 {
		// a value without an offset may be at any offset from -12:00 to +14:00; the
		// result is known only when it is the same at both ends
		x1, y1, x2, y2 := a, b, a, b
		for _, p := range []struct{ d *dt }{{&x1}, {&y1}} {
			if !p.d.hasTZ {
				p.d.hasTZ, p.d.tz = true, 14*60
			}
		}
		for _, p := range []struct{ d *dt }{{&x2}, {&y2}} {
			if !p.d.hasTZ {
				p.d.hasTZ, p.d.tz = true, -12*60
			}
		}
		c1, ok1 := compareDT(x1, y1)
		c2, ok2 := compareDT(x2, y2)
		if ok1 && ok2 && c1 == c2 && c1 != 0 {
			return c1, true
		}
		return 0, false
	}
	if a.hasTZ && b.hasTZ {
		a, b = a.normalized(), b.normalized()
	}
	n := min(a.prec, b.prec)
	for i := 0; i < n; i++ {
		if a.f[i] != b.f[i] {
			if a.f[i] < b.f[i] {
				return -1, true
			}
			return 1, true
		}
	}
	// seconds and milliseconds are one precision, compared as a decimal number of seconds
	// (FHIRPath §6.1.1: 10:30:31.0 = 10:30:31, 10:30:31.1 != 10:30:31)
	ap, bp := min(a.prec, 6), min(b.prec, 6)
	if ap != bp {
		return 0, false
	}
	if ap == 6 && a.f[6] != b.f[6] {
		return cmpFloat(float64(a.f[6]), float64(b.f[6])), true
	}
	return 0, true
}

func nodeDT(n *fhir.Node, k kind) (dt, bool) {
	s, ok := n.Value.(string)
	if !ok {
		return dt{}, false
	}
	return parseDT(s, k == kTime)
}

// compare orders two singletons; ok is false when they are not comparable or the result is
// empty (different date precisions).
func compare(a, b *fhir.Node) (int, bool, error) {
	if valueless(a) || valueless(b) {
		return 0, false, nil // an element with only extensions has no value to compare
	}
	ka, kb := kindOf(a), kindOf(b)
	switch {
	case (ka == kInteger || ka == kDecimal) && (kb == kInteger || kb == kDecimal):
		x, ok1 := num(a)
		y, ok2 := num(b)
		if !ok1 || !ok2 {
			return 0, false, nil
		}
		return cmpFloat(x, y), true, nil
	case ka == kString && kb == kString:
		return strings.Compare(a.String(), b.String()), true, nil
	case (ka == kDate || ka == kDateTime) && (kb == kDate || kb == kDateTime), ka == kTime && kb == kTime:
		x, ok1 := nodeDT(a, ka)
		y, ok2 := nodeDT(b, kb)
		if !ok1 || !ok2 {
			return 0, false, nil
		}
		c, ok := compareDT(x, y)
		return c, ok, nil
	case ka == kQuantity && kb == kQuantity:
		c, ok := compareQuantities(a, b, false)
		return c, ok, nil
	}
	return 0, false, errf("cannot compare %s with %s", typeLabel(a), typeLabel(b))
}

func cmpFloat(x, y float64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func typeLabel(n *fhir.Node) string {
	if n.Type == "" {
		return "an untyped value"
	}
	return n.Type
}

// equal implements '=' on two singletons; ok is false when the result is empty.
func equal(a, b *fhir.Node) (eq, ok bool) {
	if valueless(a) || valueless(b) {
		return false, false // no value: empty, as for an empty operand
	}
	ka, kb := kindOf(a), kindOf(b)
	if ka != kNone && kb != kNone {
		switch {
		case ka == kBool && kb == kBool:
			return a.Value == b.Value, true
		case ka == kString && kb == kString:
			return a.String() == b.String(), true
		case (ka == kInteger || ka == kDecimal) && (kb == kInteger || kb == kDecimal):
			x, _ := num(a)
			y, _ := num(b)
			return x == y, true
		case (ka == kDate || ka == kDateTime) && (kb == kDate || kb == kDateTime), ka == kTime && kb == kTime:
			x, ok1 := nodeDT(a, ka)
			y, ok2 := nodeDT(b, kb)
			if !ok1 || !ok2 {
				return false, false
			}
			c, ok := compareDT(x, y)
			return ok && c == 0, ok
		case ka == kQuantity && kb == kQuantity:
			// units that cannot be compared give empty (FHIRPath §6.1.1, "Quantity Equality")
			c, ok := compareQuantities(a, b, false)
			return ok && c == 0, ok
		}
		return false, true
	}
	if ka != kNone || kb != kNone || a.Value != nil || b.Value != nil {
		return false, true
	}
	return deepEqual(a, b, false), true
}

// deepEqual compares complex elements child by child (the equality of FHIRPath §6.1.1 for
// types with children); equivalent relaxes primitives to '~'.
func deepEqual(a, b *fhir.Node, equivalent bool) bool {
	if a.Value != nil || b.Value != nil {
		if equivalent {
			return equiv(a, b)
		}
		eq, ok := equal(a, b)
		return ok && eq
	}
	if len(a.Children) != len(b.Children) {
		return false
	}
	for i, c := range a.Children {
		d := b.Children[i]
		if c.Name != d.Name || !deepEqual(c, d, equivalent) {
			return false
		}
	}
	return true
}

// equiv implements '~' on two singletons.
func equiv(a, b *fhir.Node) bool {
	ka, kb := kindOf(a), kindOf(b)
	switch {
	case ka == kString && kb == kString:
		return normSpace(a.String()) == normSpace(b.String())
	case (ka == kInteger || ka == kDecimal) && (kb == kInteger || kb == kDecimal):
		x, _ := num(a)
		y, _ := num(b)
		p := min(decimals(a), decimals(b))
		s := math.Pow10(p)
		return math.Round(x*s) == math.Round(y*s)
	case (ka == kDate || ka == kDateTime) && (kb == kDate || kb == kDateTime), ka == kTime && kb == kTime:
		x, ok1 := nodeDT(a, ka)
		y, ok2 := nodeDT(b, kb)
		c, ok := compareDT(x, y)
		return ok1 && ok2 && ok && c == 0
	case ka == kQuantity && kb == kQuantity:
		c, ok := compareQuantities(a, b, true)
		return ok && c == 0
	case ka == kNone && kb == kNone && a.Value == nil && b.Value == nil:
		return deepEqual(a, b, true)
	}
	eq, ok := equal(a, b)
	return ok && eq
}

func decimals(n *fhir.Node) int {
	s, _ := n.Value.(json.Number)
	if i := strings.IndexByte(string(s), '.'); i >= 0 {
		return len(s) - i - 1
	}
	return 0
}

func normSpace(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }

// valueless reports a FHIR primitive element that carries only an id or extensions (FHIR
// primitive type names start with a lower-case letter).
func valueless(n *fhir.Node) bool {
	return n.Value == nil && n.Type != "" && n.Type[0] >= 'a' && n.Type[0] <= 'z'
}
