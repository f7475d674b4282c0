// Package hl7v2 parses and encodes HL7 version 2 messages in the ER7 (pipe and
// hat) encoding, versions 2.3 to 2.8.
//
// A parsed message keeps every segment's text exactly as received, with the
// terminator that followed it, and splits fields only when asked; so Encode
// gives back the input byte for byte (byte-order mark, CR/LF/CRLF endings and
// trailing blank lines included), and parsing costs little more than finding
// the segment ends. Values are read and written through terser-style paths
// (Get, Set), batches through ParseBatch, acknowledgements through NewACK.
package hl7v2

import (
	"bytes"
	"strings"
)

const bom = "\xef\xbb\xbf"

// Message is one HL7 v2 message. Its methods are not safe for concurrent use
// when one of them modifies the message.
type Message struct {
	delims Delimiters
	bom    bool
	lead   string // blank lines before MSH, kept for Encode
	segs   []*Segment
	term   string // terminator for segments added later: the input's first one, else CR
}

// Segment is one segment. Its text is kept encoded; accessors split it on demand.
type Segment struct {
	d    *Delimiters
	name string
	raw  string // the segment without its terminator
	term string // what followed it in the input: CR, LF, CRLF, blank lines, or nothing
	off  int    // byte offset in the input, for errors
}

// Parse reads one message. The data must start with MSH (after an optional
// UTF-8 byte-order mark and blank lines); segments may end in CR, LF or CRLF; blank lines
// between and after segments are kept as part of the terminator. Errors are
// *ParseError.
func Parse(data []byte) (*Message, error) {
	s, hasBOM, lead, base := prepare(data)
	if err := checkStart(s, base); err != nil {
		return nil, err
	}
	segs := splitSegments(s, base)
	m, err := buildMessage(segs)
	if err != nil {
		return nil, err
	}
	if len(segs) > len(m.segs) {
		r := segs[len(m.segs)]
		msg := "a second MSH: use ParseBatch for several messages"
		if !strings.HasPrefix(r.raw, "MSH") {
			msg = "a batch segment inside a message: use ParseBatch for batches"
		}
		return nil, &ParseError{Segment: r.raw[:3], SegmentIndex: len(m.segs) + 1, Offset: r.off,
			Code: CodeSegmentSequence, Msg: msg}
	}
	m.bom, m.lead = hasBOM, lead
	return m, nil
}

// ParseHeader reads only the first line (the MSH segment) of data, for
// acknowledging a message that Parse rejects.
func ParseHeader(data []byte) (*Message, error) {
	s, hasBOM, lead, base := prepare(data)
	if err := checkStart(s, base); err != nil {
		return nil, err
	}
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	m, err := buildMessage([]Segment{{raw: s, off: base}})
	if err != nil {
		return nil, err
	}
	m.bom, m.lead = hasBOM, lead
	return m, nil
}

// prepare splits off a byte-order mark and leading blank lines; base is the
// offset of s in data.
func prepare(data []byte) (s string, hasBOM bool, lead string, base int) {
	if bytes.HasPrefix(data, []byte(bom)) {
		data, hasBOM, base = data[len(bom):], true, len(bom)
	}
	s = string(data)
	i := 0
	for i < len(s) && (s[i] == '\r' || s[i] == '\n' || s[i] == ' ' || s[i] == '\t') {
		i++
	}
	if i == len(s) {
		i = 0 // all blank: reported as empty, not skipped
	}
	return s[i:], hasBOM, s[:i], base + i
}

func checkStart(s string, base int) error {
	if strings.TrimSpace(s) == "" {
		return &ParseError{Offset: base, Code: CodeSegmentSequence, Msg: "empty message"}
	}
	if !strings.HasPrefix(s, "MSH") {
		msg := "message does not start with MSH"
		if strings.HasPrefix(s, "FHS") || strings.HasPrefix(s, "BHS") {
			msg = "data starts with a batch header; use ParseBatch"
		}
		return &ParseError{Segment: firstName(s), SegmentIndex: 1, Offset: base, Code: CodeSegmentSequence, Msg: msg}
	}
	return nil
}

func firstName(s string) string {
	n := min(len(s), 3)
	for i := 0; i < n; i++ {
		if !isNameChar(s[i]) {
			return ""
		}
	}
	return s[:n]
}

// splitSegments cuts s at CR, LF and CRLF. Each segment's terminator is the
// whole run of line breaks after it, and trailing whitespace-only lines join
// the last terminator, so concatenating raw+term gives s back.
func splitSegments(s string, base int) []Segment {
	n := strings.Count(s, "\r") + strings.Count(s, "\n") + 1
	out := make([]Segment, 0, n)
	cr, lf := -2, -2 // next CR and LF at or after i; -2 means not searched yet
	for i := 0; i < len(s); {
		if cr != -1 && cr < i {
			if cr = strings.IndexByte(s[i:], '\r'); cr >= 0 {
				cr += i
			}
		}
		if lf != -1 && lf < i {
			if lf = strings.IndexByte(s[i:], '\n'); lf >= 0 {
				lf += i
			}
		}
		j := cr
		if j < 0 || (lf >= 0 && lf < j) {
			j = lf
		}
		if j < 0 {
			out = append(out, Segment{raw: s[i:], off: base + i})
			break
		}
		k := j
		for k < len(s) && (s[k] == '\r' || s[k] == '\n') {
			k++
		}
		if blank(s[k:]) {
			k = len(s)
		}
		out = append(out, Segment{raw: s[i:j], term: s[j:k], off: base + i})
		i = k
	}
	return out
}

func blank(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\r', '\n':
		default:
			return false
		}
	}
	return true
}

func isNameChar(c byte) bool { return c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }

func segName(raw string, fs byte) string {
	if i := strings.IndexByte(raw, fs); i >= 0 {
		return raw[:i]
	}
	return raw
}

// readDelims reads the delimiters of a header segment (MSH, FHS, BHS) from
// its fields 1 and 2.
func readDelims(raw string, idx, off int) (Delimiters, error) {
	name := raw[:min(3, len(raw))]
	bad := func(field int, msg string) error {
		return &ParseError{Segment: name, SegmentIndex: idx, Field: field, Offset: off, Code: CodeDataType, Msg: msg}
	}
	if len(raw) < 4 {
		return Delimiters{}, bad(1, "no field separator")
	}
	fs := raw[3]
	if !delimChar(fs) {
		return Delimiters{}, bad(1, "invalid field separator")
	}
	enc := raw[4:]
	if i := strings.IndexByte(enc, fs); i >= 0 {
		enc = enc[:i]
	}
	if len(enc) != 4 && len(enc) != 5 {
		return Delimiters{}, bad(2, "encoding characters must be 4 characters (5 with a truncation character)")
	}
	seen := []byte{fs}
	for i := 0; i < len(enc); i++ {
		c := enc[i]
		if !delimChar(c) || bytes.IndexByte(seen, c) >= 0 {
			return Delimiters{}, bad(2, "encoding characters must be distinct punctuation")
		}
		seen = append(seen, c)
	}
	d := Delimiters{Field: fs, Component: enc[0], Repetition: enc[1], Escape: enc[2], Subcomponent: enc[3]}
	if len(enc) == 5 {
		d.Truncation = enc[4]
	}
	return d, nil
}

func delimChar(c byte) bool {
	return c > ' ' && c < 0x7f && !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9')
}

// buildMessage makes a message of segs[0] (an MSH) and the segments after it,
// stopping before the next header or batch segment.
func buildMessage(segs []Segment) (*Message, error) {
	d, err := readDelims(segs[0].raw, 1, segs[0].off)
	if err != nil {
		return nil, err
	}
	m := &Message{delims: d, term: "\r"}
	if t := segs[0].term; t != "" {
		if strings.HasPrefix(t, "\r\n") {
			m.term = "\r\n"
		} else {
			m.term = t[:1]
		}
	}
	n := len(segs)
	for i := 1; i < len(segs); i++ {
		if startsHeader(segs[i].raw) {
			n = i
			break
		}
	}
	m.segs = make([]*Segment, n)
	for i := range n {
		r := &segs[i]
		name := segName(r.raw, d.Field)
		if len(name) != 3 || !isNameChar(name[0]) || !isNameChar(name[1]) || !isNameChar(name[2]) {
			msg := "segment name must be 3 upper-case letters or digits"
			if name == "" && r.raw == "" {
				msg = "empty segment"
			}
			return nil, &ParseError{Segment: name, SegmentIndex: i + 1, Offset: r.off, Code: CodeSegmentSequence, Msg: msg}
		}
		// The segments stay in the caller's array: one allocation for all.
		r.d, r.name = &m.delims, name
		m.segs[i] = r
	}
	return m, nil
}

// isHeaderName reports whether a segment starts a new message or batch
// element, which ends the current message.
func isHeaderName(n string) bool {
	switch n {
	case "MSH", "FHS", "BHS", "BTS", "FTS":
		return true
	}
	return false
}

// startsHeader reports whether a segment is a header or batch segment,
// whatever delimiters it uses.
func startsHeader(raw string) bool {
	return len(raw) >= 3 && isHeaderName(raw[:3]) && (len(raw) == 3 || !isNameChar(raw[3]))
}

// headerLike segments have the field separator as field 1 and the encoding
// characters as field 2.
func headerLike(n string) bool { return n == "MSH" || n == "FHS" || n == "BHS" }

// NewMessage starts a message holding only an MSH segment with the given
// delimiters and version (MSH-12). Segments added to it end in CR.
func NewMessage(d Delimiters, version string) (*Message, error) {
	raw := "MSH" + string(d.Field) + d.EncodingCharacters()
	if _, err := readDelims(raw, 1, 0); err != nil {
		return nil, err
	}
	m := &Message{delims: d, term: "\r"}
	m.segs = []*Segment{{d: &m.delims, name: "MSH", raw: raw, term: "\r"}}
	if version != "" {
		if err := m.Set("MSH-12", version); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Encode returns the message as ER7 text. For a parsed message that has not
// been modified this is exactly the input.
func (m *Message) Encode() []byte {
	n := 0
	if m.bom {
		n += len(bom)
	}
	for _, s := range m.segs {
		n += len(s.raw) + len(s.term)
	}
	n += len(m.lead)
	b := make([]byte, 0, n)
	if m.bom {
		b = append(b, bom...)
	}
	b = append(b, m.lead...)
	for _, s := range m.segs {
		b = append(b, s.raw...)
		b = append(b, s.term...)
	}
	return b
}

// String is Encode as a string.
func (m *Message) String() string { return string(m.Encode()) }

// Delimiters are the message's encoding characters.
func (m *Message) Delimiters() Delimiters { return m.delims }

// Segments are the message's segments in order. The slice is the message's
// own: read it, do not modify it.
func (m *Message) Segments() []*Segment { return m.segs }

// Segment is the first segment with the given name, or nil.
func (m *Message) Segment(name string) *Segment {
	for _, s := range m.segs {
		if s.name == name {
			return s
		}
	}
	return nil
}

// SegmentsNamed are the segments with the given name, in order.
func (m *Message) SegmentsNamed(name string) []*Segment {
	var out []*Segment
	for _, s := range m.segs {
		if s.name == name {
			out = append(out, s)
		}
	}
	return out
}

// AddSegment appends an empty segment with the given name.
func (m *Message) AddSegment(name string) (*Segment, error) {
	if len(name) != 3 || !isNameChar(name[0]) || !isNameChar(name[1]) || !isNameChar(name[2]) {
		return nil, &ParseError{Segment: name, Code: CodeSegmentSequence, Msg: "segment name must be 3 upper-case letters or digits"}
	}
	if isHeaderName(name) {
		return nil, &ParseError{Segment: name, Code: CodeSegmentSequence, Msg: "a message has one MSH and no batch segments"}
	}
	// The last segment may end in nothing or in blank lines with spaces,
	// which would run into the new segment.
	last := m.segs[len(m.segs)-1]
	last.term = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return r
		}
		return -1
	}, last.term)
	if last.term == "" {
		last.term = m.term
	}
	s := &Segment{d: &m.delims, name: name, raw: name, term: m.term}
	m.segs = append(m.segs, s)
	return s, nil
}

// Name is the segment's three-character name.
func (s *Segment) Name() string { return s.name }

// String is the segment's encoded text, without terminator.
func (s *Segment) String() string { return s.raw }

// NumFields is the number of the segment's last field present (trailing
// empty fields included when their separators were written).
func (s *Segment) NumFields() int {
	n := strings.Count(s.raw, string(s.d.Field))
	if headerLike(s.name) {
		n++
	}
	return n
}

// Field is the encoded text of field n (1-based), "" when absent. For MSH,
// FHS and BHS, field 1 is the field separator and field 2 the encoding characters.
func (s *Segment) Field(n int) string {
	f, _ := s.field(n)
	return f
}

func (s *Segment) field(n int) (string, bool) {
	if n < 1 {
		return "", false
	}
	fs := s.d.Field
	if headerLike(s.name) {
		if n == 1 {
			return string(fs), true
		}
		n--
	}
	raw := s.raw
	idx := 0
	for k := 0; k < n; k++ {
		p := strings.IndexByte(raw[idx:], fs)
		if p < 0 {
			return "", false
		}
		idx += p + 1
	}
	end := strings.IndexByte(raw[idx:], fs)
	if end < 0 {
		return raw[idx:], true
	}
	return raw[idx : idx+end], true
}
