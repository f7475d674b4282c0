package hl7v2

import (
	"errors"
	"fmt"
	"strings"
)

// Path addresses a value in a message, written as in
//
//	PID-3[2].1.2   segment PID, field 3, repetition 2, component 1, subcomponent 2
//	OBX(2)-5       field 5 of the second OBX segment
//	PID.5.1        "." may stand for "-" after the segment name
//	3[2].1         relative to a segment (Segment.Get)
//
// All numbers are 1-based; 0 means "not given".
type Path struct {
	Segment      string
	Occurrence   int // which segment of that name
	Field        int
	Repetition   int
	Component    int
	Subcomponent int
}

func (p Path) String() string {
	var b strings.Builder
	if p.Segment != "" {
		b.WriteString(p.Segment)
		if p.Occurrence > 0 {
			fmt.Fprintf(&b, "(%d)", p.Occurrence)
		}
		b.WriteByte('-')
	}
	fmt.Fprintf(&b, "%d", p.Field)
	if p.Repetition > 0 {
		fmt.Fprintf(&b, "[%d]", p.Repetition)
	}
	if p.Component > 0 {
		fmt.Fprintf(&b, ".%d", p.Component)
		if p.Subcomponent > 0 {
			fmt.Fprintf(&b, ".%d", p.Subcomponent)
		}
	}
	return b.String()
}

// ParsePath reads a path (see Path).
func ParsePath(s string) (Path, error) {
	var p Path
	orig := s
	bad := func(why string) (Path, error) { return Path{}, fmt.Errorf("hl7v2: path %q: %s", orig, why) }
	if len(s) >= 3 && isNameChar(s[0]) && !(s[0] >= '0' && s[0] <= '9') {
		if !isNameChar(s[1]) || !isNameChar(s[2]) {
			return bad("segment name must be 3 upper-case letters or digits")
		}
		p.Segment, s = s[:3], s[3:]
		if strings.HasPrefix(s, "(") {
			n, rest, ok := number(s[1:])
			if !ok || !strings.HasPrefix(rest, ")") {
				return bad("bad segment occurrence")
			}
			p.Occurrence, s = n, rest[1:]
		}
		if s == "" || (s[0] != '-' && s[0] != '.') {
			return bad("expected - and a field number after the segment name")
		}
		s = s[1:]
	}
	n, s, ok := number(s)
	if !ok {
		return bad("expected a field number")
	}
	p.Field = n
	if strings.HasPrefix(s, "[") {
		n, rest, ok := number(s[1:])
		if !ok || !strings.HasPrefix(rest, "]") {
			return bad("bad repetition")
		}
		p.Repetition, s = n, rest[1:]
	}
	if strings.HasPrefix(s, ".") {
		if p.Component, s, ok = number(s[1:]); !ok {
			return bad("bad component")
		}
		if strings.HasPrefix(s, ".") {
			if p.Subcomponent, s, ok = number(s[1:]); !ok {
				return bad("bad subcomponent")
			}
		}
	}
	if s != "" {
		return bad("unexpected " + s)
	}
	return p, nil
}

// number reads a positive decimal number.
func number(s string) (int, string, bool) {
	i, n := 0, 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' && i < 6 {
		n = n*10 + int(s[i]-'0')
		i++
	}
	if i == 0 || n == 0 || (i < len(s) && s[i] >= '0' && s[i] <= '9') {
		return 0, s, false
	}
	return n, s[i:], true
}

// nth is the n-th (1-based) piece of s split at sep.
func nth(s string, sep byte, n int) (string, bool) {
	for ; n > 1; n-- {
		i := strings.IndexByte(s, sep)
		if i < 0 {
			return "", false
		}
		s = s[i+1:]
	}
	if i := strings.IndexByte(s, sep); i >= 0 {
		return s[:i], true
	}
	return s, true
}

// Get returns the unescaped value at path, "" when it is absent or the path
// is malformed. Levels the path leaves out default to the first, as in a
// terser: "PID-5" is the first component of the first repetition of PID-5.
// MSH-1 and MSH-2 return the delimiters themselves.
func (m *Message) Get(path string) string {
	if s, p := m.at(path); s != nil {
		return s.get(p)
	}
	return ""
}

// Raw returns the encoded text at exactly the level path names: a whole
// field with all its repetitions, one repetition, a component or a
// subcomponent ("" when absent).
func (m *Message) Raw(path string) string {
	if s, p := m.at(path); s != nil {
		return s.rawAt(p)
	}
	return ""
}

// at finds the segment a message-level path names; nil when the path is malformed, names
// no segment, or the segment is absent.
func (m *Message) at(path string) (*Segment, Path) {
	p, err := ParsePath(path)
	if err != nil || p.Segment == "" {
		return nil, p
	}
	return m.occurrence(p.Segment, p.Occurrence), p
}

func (m *Message) occurrence(name string, occ int) *Segment {
	if occ == 0 {
		occ = 1
	}
	for _, s := range m.segs {
		if s.name == name {
			if occ--; occ == 0 {
				return s
			}
		}
	}
	return nil
}

// Get is Message.Get for this segment; the path may leave out the segment
// name ("3[2].1") or give this segment's ("PID-3[2].1").
func (s *Segment) Get(path string) string {
	p, err := ParsePath(path)
	if err != nil || (p.Segment != "" && p.Segment != s.name) {
		return ""
	}
	return s.get(p)
}

// Raw is Message.Raw for this segment.
func (s *Segment) Raw(path string) string {
	p, err := ParsePath(path)
	if err != nil || (p.Segment != "" && p.Segment != s.name) {
		return ""
	}
	return s.rawAt(p)
}

func (s *Segment) get(p Path) string {
	if headerLike(s.name) && p.Field <= 2 {
		return s.Field(p.Field)
	}
	p.Repetition = max(p.Repetition, 1)
	p.Component = max(p.Component, 1)
	p.Subcomponent = max(p.Subcomponent, 1)
	return Unescape(s.rawAt(p), *s.d)
}

func (s *Segment) rawAt(p Path) string {
	f, ok := s.field(p.Field)
	if !ok || (headerLike(s.name) && p.Field <= 2) {
		return f
	}
	d := s.d
	if p.Repetition == 0 && p.Component == 0 {
		return f
	}
	if f, ok = nth(f, d.Repetition, max(p.Repetition, 1)); !ok || p.Component == 0 {
		return f
	}
	if f, ok = nth(f, d.Component, p.Component); !ok || p.Subcomponent == 0 {
		return f
	}
	f, _ = nth(f, d.Subcomponent, p.Subcomponent)
	return f
}

// Set stores value, escaped, at path: levels left out default to the first,
// as in Get, so Get(path) returns value afterwards. Missing fields,
// repetitions and components are added empty; a segment that does not exist
// is appended when it would be the next occurrence of its name.
func (m *Message) Set(path, value string) error {
	p, err := ParsePath(path)
	if err != nil {
		return err
	}
	p.Repetition = max(p.Repetition, 1)
	p.Component = max(p.Component, 1)
	p.Subcomponent = max(p.Subcomponent, 1)
	return m.setRaw(p, Escape(value, m.delims))
}

// SetRaw stores already encoded text at exactly the level path names (a whole
// field, a repetition, a component or a subcomponent). The text may hold the
// delimiters of the levels below that one, not those at or above it.
func (m *Message) SetRaw(path, encoded string) error {
	p, err := ParsePath(path)
	if err != nil {
		return err
	}
	return m.setRaw(p, encoded)
}

func (m *Message) setRaw(p Path, v string) error {
	if p.Segment == "" {
		return fmt.Errorf("hl7v2: path %s: no segment name", p)
	}
	s := m.occurrence(p.Segment, p.Occurrence)
	if s == nil {
		if max(p.Occurrence, 1) != len(m.SegmentsNamed(p.Segment))+1 {
			return fmt.Errorf("hl7v2: path %s: no such segment to set, and it would not be the next one", p)
		}
		var err error
		if s, err = m.AddSegment(p.Segment); err != nil {
			return err
		}
	}
	return s.setRaw(p, v)
}

// Set is Message.Set for this segment; the path leaves out the segment name
// or gives this segment's.
func (s *Segment) Set(path, value string) error {
	p, err := ParsePath(path)
	if err != nil {
		return err
	}
	if p.Segment != "" && p.Segment != s.name {
		return fmt.Errorf("hl7v2: path %s is not in segment %s", p, s.name)
	}
	p.Repetition = max(p.Repetition, 1)
	p.Component = max(p.Component, 1)
	p.Subcomponent = max(p.Subcomponent, 1)
	return s.setRaw(p, Escape(value, *s.d))
}

var errDelimiterField = errors.New("hl7v2: the delimiter fields (1 and 2 of MSH, FHS, BHS) cannot be set")

func (s *Segment) setRaw(p Path, v string) error {
	d := s.d
	forbidden := []byte{'\r', '\n', d.Field}
	switch {
	case p.Subcomponent > 0:
		forbidden = append(forbidden, d.Repetition, d.Component, d.Subcomponent)
	case p.Component > 0:
		forbidden = append(forbidden, d.Repetition, d.Component)
	case p.Repetition > 0:
		forbidden = append(forbidden, d.Repetition)
	}
	if i := strings.IndexAny(v, string(forbidden)); i >= 0 {
		return fmt.Errorf("hl7v2: path %s: value holds a delimiter or line break (%q) not allowed at this level", p, v[i])
	}
	idx := p.Field
	if headerLike(s.name) {
		if p.Field <= 2 {
			return errDelimiterField
		}
		idx--
	}
	fields := strings.Split(s.raw, string(d.Field))
	fields = pad(fields, idx+1)
	f := fields[idx]
	if p.Repetition == 0 && p.Component == 0 {
		f = v
	} else {
		f = replace(f, d.Repetition, max(p.Repetition, 1), func(r string) string {
			if p.Component == 0 {
				return v
			}
			return replace(r, d.Component, p.Component, func(c string) string {
				if p.Subcomponent == 0 {
					return v
				}
				return replace(c, d.Subcomponent, p.Subcomponent, func(string) string { return v })
			})
		})
	}
	fields[idx] = f
	s.raw = strings.Join(fields, string(d.Field))
	return nil
}

func pad(parts []string, n int) []string {
	for len(parts) < n {
		parts = append(parts, "")
	}
	return parts
}

// replace applies fn to the n-th piece of s split at sep, adding empty
// pieces as needed.
func replace(s string, sep byte, n int, fn func(string) string) string {
	parts := pad(strings.Split(s, string(sep)), n)
	parts[n-1] = fn(parts[n-1])
	return strings.Join(parts, string(sep))
}
