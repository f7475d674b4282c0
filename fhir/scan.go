package fhir

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds the nesting of JSON objects and arrays. The deepest official example nests
// 21 levels; the bound keeps hostile input from exhausting the stack.
const maxDepth = 100

type tokKind uint8

const (
	tokNull tokKind = iota
	tokFalse
	tokTrue
	tokNumber
	tokString
	tokObject
	tokArray
)

// kindName describes a token kind in diagnostics, as the element checks have always worded it.
var kindName = [...]string{
	tokNull:   "null",
	tokFalse:  "a boolean",
	tokTrue:   "a boolean",
	tokNumber: "a number",
	tokString: "a string",
	tokObject: "an object",
	tokArray:  "an array",
}

// token is one JSON value (or object key) of a scanned document. The document is flattened
// into a slice of tokens in source order, so that the tree builder can look at an object's
// members in any order (resourceType may come last, "_x" before "x") without decoding
// anything twice.
type token struct {
	kind tokKind
	esc  bool  // a string that contains escapes and must be decoded
	beg  int32 // strings: first byte after the opening quote; numbers: first byte
	end  int32 // strings: the closing quote; numbers: one past the last byte
	n    int32 // objects: member count; arrays: element count
	next int32 // objects and arrays: index of the first token after the container
}

// scanner validates a JSON document and flattens it into tokens in a single pass.
type scanner struct {
	data []byte
	pos  int
	toks []token
	// valueBytes is the total length of string and number values (not keys), which bounds
	// the memory their decoded text needs.
	valueBytes int
	// values counts the tokens that are values rather than object keys.
	values int
}

type syntaxError struct {
	msg string
	off int
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at offset %d", e.msg, e.off) }

// scan checks that data is exactly one JSON value surrounded by optional whitespace.
func (s *scanner) scan(data []byte) error {
	if len(data) > math.MaxInt32 {
		return &syntaxError{"document too large", 0}
	}
	s.data, s.pos, s.toks, s.valueBytes, s.values = data, 0, s.toks[:0], 0, 0
	s.skipSpace()
	if err := s.value(1); err != nil {
		return err
	}
	s.skipSpace()
	if s.pos < len(s.data) {
		return &syntaxError{"trailing data after the resource", s.pos}
	}
	return nil
}

func (s *scanner) skipSpace() {
	data, i := s.data, s.pos
	for i < len(data) && data[i] <= ' ' {
		switch data[i] {
		case ' ', '\n':
			// Pretty-printed documents indent with long runs of spaces.
			for i += 1; i+8 <= len(data) && binary.LittleEndian.Uint64(data[i:]) == 0x2020202020202020; i += 8 {
			}
		case '\t', '\r':
			i++
		default:
			s.pos = i
			return
		}
	}
	s.pos = i
}

func (s *scanner) errUnexpected(context string) error {
	if s.pos >= len(s.data) {
		return &syntaxError{"unexpected end of input", s.pos}
	}
	return &syntaxError{"invalid character " + quoteChar(s.data[s.pos]) + " " + context, s.pos}
}

func quoteChar(c byte) string {
	switch {
	case c == '\'':
		return `'\''`
	case c == '"':
		return `'"'`
	case c >= 0x20 && c < 0x7f:
		return "'" + string(rune(c)) + "'"
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func (s *scanner) value(depth int) error {
	if s.pos >= len(s.data) {
		return s.errUnexpected("")
	}
	s.values++
	switch c := s.data[s.pos]; {
	case c == '{':
		return s.object(depth)
	case c == '[':
		return s.array(depth)
	case c == '"':
		i := len(s.toks)
		if err := s.str(); err != nil {
			return err
		}
		t := &s.toks[i]
		s.valueBytes += int(t.end - t.beg)
		return nil
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	case c == 't':
		return s.literal("true", tokTrue)
	case c == 'f':
		return s.literal("false", tokFalse)
	case c == 'n':
		return s.literal("null", tokNull)
	}
	return s.errUnexpected("looking for beginning of value")
}

func (s *scanner) literal(lit string, kind tokKind) error {
	for i := 0; i < len(lit); i++ {
		if s.pos >= len(s.data) || s.data[s.pos] != lit[i] {
			return s.errUnexpected("in literal " + lit)
		}
		s.pos++
	}
	s.toks = append(s.toks, token{kind: kind})
	return nil
}

func (s *scanner) object(depth int) error {
	if depth > maxDepth {
		return &syntaxError{fmt.Sprintf("nesting deeper than %d levels", maxDepth), s.pos}
	}
	i := len(s.toks)
	s.toks = append(s.toks, token{kind: tokObject})
	s.pos++
	s.skipSpace()
	n := int32(0)
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
	} else {
		for {
			if s.pos >= len(s.data) || s.data[s.pos] != '"' {
				return s.errUnexpected("looking for beginning of object key string")
			}
			if err := s.str(); err != nil {
				return err
			}
			s.skipSpace()
			if s.pos >= len(s.data) || s.data[s.pos] != ':' {
				return s.errUnexpected("after object key")
			}
			s.pos++
			s.skipSpace()
			if err := s.value(depth + 1); err != nil {
				return err
			}
			n++
			s.skipSpace()
			if s.pos < len(s.data) && s.data[s.pos] == ',' {
				s.pos++
				s.skipSpace()
				continue
			}
			if s.pos < len(s.data) && s.data[s.pos] == '}' {
				s.pos++
				break
			}
			return s.errUnexpected("after object key:value pair")
		}
	}
	s.toks[i].n = n
	s.toks[i].next = int32(len(s.toks))
	return nil
}

func (s *scanner) array(depth int) error {
	if depth > maxDepth {
		return &syntaxError{fmt.Sprintf("nesting deeper than %d levels", maxDepth), s.pos}
	}
	i := len(s.toks)
	s.toks = append(s.toks, token{kind: tokArray})
	s.pos++
	s.skipSpace()
	n := int32(0)
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
	} else {
		for {
			if err := s.value(depth + 1); err != nil {
				return err
			}
			n++
			s.skipSpace()
			if s.pos < len(s.data) && s.data[s.pos] == ',' {
				s.pos++
				s.skipSpace()
				continue
			}
			if s.pos < len(s.data) && s.data[s.pos] == ']' {
				s.pos++
				break
			}
			return s.errUnexpected("after array element")
		}
	}
	s.toks[i].n = n
	s.toks[i].next = int32(len(s.toks))
	return nil
}

// plain marks the bytes a string can contain as they are: not a quote, a backslash, a
// control character or the start of a multi-byte UTF-8 sequence.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str scans a string starting at its opening quote, rejecting control characters, invalid
// escapes and invalid UTF-8 (which encoding/json would silently have replaced).
func (s *scanner) str() error {
	data := s.data
	i := s.pos + 1
	esc := false
	for {
		for i < len(data) && plain[data[i]] {
			i++
		}
		if i >= len(data) {
			s.pos = i
			return &syntaxError{"unexpected end of input in string", i}
		}
		switch c := data[i]; {
		case c == '"':
			s.toks = append(s.toks, token{kind: tokString, esc: esc, beg: int32(s.pos + 1), end: int32(i)})
			s.pos = i + 1
			return nil
		case c == '\\':
			esc = true
			if i+1 >= len(data) {
				return &syntaxError{"unexpected end of input in string escape", i + 1}
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(data)-i < 6 || hex4(data[i+2:i+6]) < 0 {
					return &syntaxError{`invalid \u escape in string`, i}
				}
				i += 6
			default:
				return &syntaxError{"invalid escape " + quoteChar(data[i+1]) + " in string", i}
			}
		case c < 0x20:
			return &syntaxError{"invalid control character " + quoteChar(c) + " in string", i}
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				return &syntaxError{"invalid UTF-8 in string", i}
			}
			i += size
		}
	}
}

// hex4 decodes four hex digits, or returns -1.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

func (s *scanner) number() error {
	data := s.data
	beg := s.pos
	i := beg
	if data[i] == '-' {
		i++
	}
	digits := func() bool {
		start := i
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		return i > start
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
		if i < len(data) && data[i] >= '0' && data[i] <= '9' {
			return &syntaxError{"number with a leading zero", beg}
		}
	case !digits():
		s.pos = i
		return s.errUnexpected("in numeric literal")
	}
	if i < len(data) && data[i] == '.' {
		i++
		if !digits() {
			s.pos = i
			return s.errUnexpected("after decimal point in numeric literal")
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if !digits() {
			s.pos = i
			return s.errUnexpected("in exponent of numeric literal")
		}
	}
	s.toks = append(s.toks, token{kind: tokNumber, beg: int32(beg), end: int32(i)})
	s.valueBytes += i - beg
	s.pos = i
	return nil
}

// skip returns the index of the token after the value at token i.
func skip(toks []token, i int) int {
	if k := toks[i].kind; k == tokObject || k == tokArray {
		return int(toks[i].next)
	}
	return i + 1
}

// unquote appends the decoded contents of a scanned string (without its quotes) to dst.
// Escapes were validated by the scanner. An escaped surrogate that is not part of a pair
// becomes U+FFFD, as encoding/json has it.
func unquote(dst []byte, b []byte) []byte {
	for i := 0; i < len(b); {
		c := b[i]
		if c != '\\' {
			j := i + 1
			for j < len(b) && b[j] != '\\' {
				j++
			}
			dst = append(dst, b[i:j]...)
			i = j
			continue
		}
		switch b[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(b[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				if len(b)-i >= 6 && b[i] == '\\' && b[i+1] == 'u' {
					if dec := utf16.DecodeRune(r, hex4(b[i+2:])); dec != unicode.ReplacementChar {
						r = dec
						i += 6
					} else {
						r = unicode.ReplacementChar
					}
				} else {
					r = unicode.ReplacementChar
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, b[i+1])
		}
		i += 2
	}
	return dst
}

// arena holds the decoded text of one document's string and number values in one
// allocation; the strings handed out stay valid because a strings.Builder never rewrites
// bytes it has already written.
type arena struct{ b strings.Builder }

func (a *arena) add(b []byte, esc bool) string {
	start := a.b.Len()
	if esc {
		var buf [64]byte
		a.b.Write(unquote(buf[:0], b))
	} else {
		a.b.Write(b)
	}
	return a.b.String()[start:]
}
