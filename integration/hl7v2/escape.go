package hl7v2

import (
	"strings"
)

// Delimiters are a message's encoding characters, read from MSH-1 and MSH-2.
// Truncation is the v2.7+ truncation character, 0 when MSH-2 has only four characters.
type Delimiters struct {
	Field, Component, Repetition, Escape, Subcomponent, Truncation byte
}

// DefaultDelimiters are |^~\& without a truncation character.
var DefaultDelimiters = Delimiters{Field: '|', Component: '^', Repetition: '~', Escape: '\\', Subcomponent: '&'}

// EncodingCharacters is the MSH-2 value for d.
func (d Delimiters) EncodingCharacters() string {
	b := []byte{d.Component, d.Repetition, d.Escape, d.Subcomponent}
	if d.Truncation != 0 {
		b = append(b, d.Truncation)
	}
	return string(b)
}

// isDelimiter reports whether c is one of the structural characters, which
// are never part of a value as sent.
func (d Delimiters) isDelimiter(c byte) bool {
	return c == d.Field || c == d.Component || c == d.Repetition || c == d.Subcomponent || c == d.Escape ||
		(d.Truncation != 0 && c == d.Truncation)
}

// Unescape decodes the escape sequences of an encoded value written with d:
//
//	\F\ \S\ \T\ \R\ \E\   the field, component, subcomponent, repetition and escape characters
//	\P\                   the truncation character (when the message declares one)
//	\Xhh…\                the bytes given in hexadecimal
//	\.br\                 a line break, "\n"
//	\H\ \N\               highlighting on/off: dropped, since a plain string cannot carry it
//
// Anything else (\Zxx\ local escapes, \Cxxyy\ and \Mxxyyzz\ character-set
// switches, other formatting commands, odd-length hex, an unterminated
// sequence) is left exactly as written, escape characters included, so no
// information is lost.
func Unescape(s string, d Delimiters) string {
	e := d.Escape
	if e == 0 || strings.IndexByte(s, e) < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != e {
			b.WriteByte(c)
			i++
			continue
		}
		j := strings.IndexByte(s[i+1:], e)
		if j < 0 {
			b.WriteString(s[i:])
			break
		}
		seq := s[i+1 : i+1+j]
		next := i + j + 2
		switch {
		case seq == "F":
			b.WriteByte(d.Field)
		case seq == "S":
			b.WriteByte(d.Component)
		case seq == "T":
			b.WriteByte(d.Subcomponent)
		case seq == "R":
			b.WriteByte(d.Repetition)
		case seq == "E":
			b.WriteByte(e)
		case seq == "P" && d.Truncation != 0:
			b.WriteByte(d.Truncation)
		case seq == "H" || seq == "N":
		case seq == ".br":
			b.WriteByte('\n')
		case len(seq) > 1 && seq[0] == 'X' && decodeHex(&b, seq[1:]):
		default:
			b.WriteString(s[i:next])
		}
		i = next
	}
	return b.String()
}

func decodeHex(b *strings.Builder, h string) bool {
	if len(h)%2 != 0 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if unhex(h[i]) < 0 {
			return false
		}
	}
	for i := 0; i < len(h); i += 2 {
		b.WriteByte(byte(unhex(h[i])<<4 | unhex(h[i+1])))
	}
	return true
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// Escape encodes a value so that it can be placed in a field written with d: delimiters become
// \F\ \S\ \T\ \R\ \E\ (\P\ for the truncation character), "\n" becomes \.br\
// and "\r" becomes \X0D\ (a bare CR would end the segment).
// Unescape(Escape(s, d), d) == s.
func Escape(s string, d Delimiters) string {
	need := false
	for i := 0; i < len(s); i++ {
		if c := s[i]; d.isDelimiter(c) || c == '\n' || c == '\r' {
			need = true
			break
		}
	}
	if !need {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	esc := func(code string) {
		b.WriteByte(d.Escape)
		b.WriteString(code)
		b.WriteByte(d.Escape)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == d.Escape:
			esc("E")
		case c == d.Field:
			esc("F")
		case c == d.Component:
			esc("S")
		case c == d.Subcomponent:
			esc("T")
		case c == d.Repetition:
			esc("R")
		case d.Truncation != 0 && c == d.Truncation:
			esc("P")
		case c == '\n' && d.isDelimiter('.'):
			esc("X0A") // \.br\ would split at a '.' delimiter
		case c == '\n':
			esc(".br")
		case c == '\r':
			esc("X0D")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
