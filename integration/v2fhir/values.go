package v2fhir

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/concord-health/concord/integration/hl7v2"
)

// val is an encoded piece of a field (a repetition, component or
// subcomponent) with the message's delimiters, read level by level.
type val struct {
	raw string
	d   hl7v2.Delimiters
}

// reps splits field n of s into its repetitions (none when empty).
func reps(s *hl7v2.Segment, d hl7v2.Delimiters, n int) []val {
	if s == nil {
		return nil
	}
	f := s.Field(n)
	if f == "" {
		return nil
	}
	var out []val
	for _, r := range strings.Split(f, string(d.Repetition)) {
		if r != "" {
			out = append(out, val{r, d})
		}
	}
	return out
}

// field is the first repetition of field n.
func field(s *hl7v2.Segment, d hl7v2.Delimiters, n int) val {
	if r := reps(s, d, n); len(r) > 0 {
		return r[0]
	}
	return val{"", d}
}

func nthPart(s string, sep byte, n int) string {
	for ; n > 1; n-- {
		i := strings.IndexByte(s, sep)
		if i < 0 {
			return ""
		}
		s = s[i+1:]
	}
	if i := strings.IndexByte(s, sep); i >= 0 {
		return s[:i]
	}
	return s
}

// c is component i (1-based).
func (v val) c(i int) val { return val{nthPart(v.raw, v.d.Component, i), v.d} }

// sc is subcomponent j (1-based) of a component.
func (v val) sc(j int) val { return val{nthPart(v.raw, v.d.Subcomponent, j), v.d} }

// s is the unescaped, trimmed text of the value's first subcomponent; the
// HL7 null ("") counts as empty.
func (v val) s() string {
	r := v.raw
	if i := strings.IndexByte(r, v.d.Component); i >= 0 {
		r = r[:i]
	}
	if i := strings.IndexByte(r, v.d.Subcomponent); i >= 0 {
		r = r[:i]
	}
	return clean(hl7v2.Unescape(r, v.d))
}

// text is the whole value unescaped, delimiters below it kept as written
// (free text that happens to hold a ^).
func (v val) text() string { return clean(hl7v2.Unescape(v.raw, v.d)) }

func clean(s string) string {
	s = strings.TrimSpace(s)
	if s == `""` {
		return ""
	}
	return s
}

// ---- dates ----

// dtm is a parsed HL7 DTM: the digits give the precision.
type dtm struct {
	t      time.Time
	digits int // 4 year, 6 month, 8 day, 10+ time
	frac   string
}

// parseDTM reads YYYY[MM[DD[HH[MM[SS[.S…]]]]]][+/-ZZZZ]; a time without an
// offset is local time in tz.
func parseDTM(v string, tz *time.Location) (dtm, bool) {
	s := strings.TrimSpace(v)
	var d dtm
	off, hasOff := 0, false
	if i := strings.IndexAny(s, "+-"); i >= 0 {
		z := s[i+1:]
		if len(z) != 4 || !allDigits(z) {
			return d, false
		}
		h, _ := strconv.Atoi(z[:2])
		m, _ := strconv.Atoi(z[2:])
		if h > 14 || m > 59 {
			return d, false
		}
		off, hasOff = (h*60+m)*60, true
		if s[i] == '-' {
			off = -off
		}
		s = s[:i]
	}
	if i := strings.IndexByte(s, '.'); i >= 0 {
		d.frac = s[i+1:]
		if i != 14 || d.frac == "" || len(d.frac) > 4 || !allDigits(d.frac) {
			return d, false
		}
		s = s[:i]
	}
	switch len(s) {
	case 4, 6, 8, 10, 12, 14:
	default:
		return d, false
	}
	if !allDigits(s) {
		return d, false
	}
	d.digits = len(s)
	n := func(a, b int) int {
		if b > len(s) {
			return -1
		}
		x, _ := strconv.Atoi(s[a:b])
		return x
	}
	y, mo, dd, h, mi, se := n(0, 4), max(n(4, 6), 1), max(n(6, 8), 1), max(n(8, 10), 0), max(n(10, 12), 0), max(n(12, 14), 0)
	loc := tz
	if hasOff {
		loc = time.FixedZone("", off)
	}
	if mo > 12 || dd > 31 || h > 23 || mi > 59 || se > 59 {
		return d, false
	}
	t := time.Date(y, time.Month(mo), dd, h, mi, se, 0, loc)
	if t.Year() != y || int(t.Month()) != mo || t.Day() != dd {
		return d, false // a 31st of April
	}
	// A local time skipped by a clock change normalises to the next valid
	// time; only dates that do not exist are errors.
	d.t = t
	return d, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// dateTime is the FHIR dateTime of the DTM's precision; a time gets seconds
// and an offset, which FHIR requires of every time.
func (d dtm) dateTime() string {
	switch d.digits {
	case 4:
		return d.t.Format("2006")
	case 6:
		return d.t.Format("2006-01")
	case 8:
		return d.t.Format("2006-01-02")
	}
	s := d.t.Format("2006-01-02T15:04:05")
	if d.frac != "" {
		s += "." + d.frac
	}
	return s + d.t.Format("-07:00")
}

func (d dtm) date() string {
	switch d.digits {
	case 4, 6:
		return d.dateTime()
	}
	return d.t.Format("2006-01-02")
}

// ---- mapper-level readers reporting bad values ----

// dateTimeAt reads a DTM at loc; a malformed one is a data type error.
func (m *mapper) dateTimeAt(v, loc string) (string, error) {
	d, ok, err := m.dtmAt(v, loc)
	if !ok {
		return "", err
	}
	return d.dateTime(), nil
}

func (m *mapper) dtmAt(v, loc string) (dtm, bool, error) {
	v = clean(v)
	if v == "" {
		return dtm{}, false, nil
	}
	d, ok := parseDTM(v, m.o.TimeZone)
	if !ok {
		return dtm{}, false, errorf(hl7v2.CodeDataType, loc, "%q is not a valid HL7 date/time (YYYY[MM[DD[HHMM[SS[.S]]]]][+/-ZZZZ])", v)
	}
	return d, true, nil
}

// instantAt is a FHIR instant (a time to the second); a DTM of a day or less
// is not an instant, and gives "".
func (m *mapper) instantAt(v, loc string) (string, error) {
	d, ok, err := m.dtmAt(v, loc)
	if !ok || d.digits < 10 {
		return "", err
	}
	return d.dateTime(), nil
}

// segLoc names a segment for error locations: "OBX(2)" for the second OBX.
func (m *mapper) segLoc(s *hl7v2.Segment, fieldNo int) string {
	return fmt.Sprintf("%s-%d", m.segRef(s), fieldNo)
}

// segRef names a segment: "OBX(2)" for the second OBX, "PID" for the first.
func (m *mapper) segRef(s *hl7v2.Segment) string {
	if n := m.occ[s]; n > 1 {
		return fmt.Sprintf("%s(%d)", s.Name(), n)
	}
	return s.Name()
}

// dt reads field n of s as a FHIR dateTime.
func (m *mapper) dt(s *hl7v2.Segment, n int) (string, error) {
	if s == nil {
		return "", nil
	}
	return m.dateTimeAt(field(s, m.d, n).s(), m.segLoc(s, n))
}
