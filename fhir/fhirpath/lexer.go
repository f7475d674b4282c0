package fhirpath

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tDelimIdent // `...`: never a keyword
	tString
	tNumber
	tLongNumber
	tDate
	tDateTime
	tTime
	tExtConst // %name
	tSpecial  // $this, $index, $total
	tOp       // punctuation and symbolic operators
)

type token struct {
	kind tokKind
	text string // identifier, decoded string, literal text or operator
	pos  int
}

// SyntaxError reports an expression that does not follow the FHIRPath grammar or calls a
// function the engine does not know.
type SyntaxError struct {
	Expr string
	Pos  int
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("fhirpath: %s at offset %d in %q", e.Msg, e.Pos, e.Expr)
}

type lexer struct {
	src  string
	pos  int
	toks []token
}

func lex(src string) ([]token, error) {
	l := &lexer{src: src}
	for {
		t, err := l.next()
		if err != nil {
			return nil, err
		}
		l.toks = append(l.toks, t)
		if t.kind == tEOF {
			return l.toks, nil
		}
	}
}

func (l *lexer) errf(pos int, format string, args ...any) error {
	return &SyntaxError{Expr: l.src, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentPart(c byte) bool  { return isIdentStart(c) || isDigit(c) }

func (l *lexer) peekByte(off int) byte {
	if l.pos+off < len(l.src) {
		return l.src[l.pos+off]
	}
	return 0
}

func (l *lexer) skipSpaceAndComments() error {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f':
			l.pos++
		case c == '/' && l.peekByte(1) == '/':
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.pos++
			}
		case c == '/' && l.peekByte(1) == '*':
			end := strings.Index(l.src[l.pos+2:], "*/")
			if end < 0 {
				return l.errf(l.pos, "unterminated comment")
			}
			l.pos += end + 4
		default:
			return nil
		}
	}
	return nil
}

func (l *lexer) next() (token, error) {
	if err := l.skipSpaceAndComments(); err != nil {
		return token{}, err
	}
	start := l.pos
	if l.pos >= len(l.src) {
		return token{kind: tEOF, pos: start}, nil
	}
	c := l.src[l.pos]
	switch {
	case isIdentStart(c):
		for l.pos < len(l.src) && isIdentPart(l.src[l.pos]) {
			l.pos++
		}
		return token{kind: tIdent, text: l.src[start:l.pos], pos: start}, nil
	case c == '`':
		s, err := l.quoted('`')
		return token{kind: tDelimIdent, text: s, pos: start}, err
	case c == '\'':
		s, err := l.quoted('\'')
		return token{kind: tString, text: s, pos: start}, err
	case isDigit(c):
		for l.pos < len(l.src) && isDigit(l.src[l.pos]) {
			l.pos++
		}
		if l.peekByte(0) == '.' && isDigit(l.peekByte(1)) {
			l.pos++
			for l.pos < len(l.src) && isDigit(l.src[l.pos]) {
				l.pos++
			}
		} else if l.peekByte(0) == 'L' && !isIdentPart(l.peekByte(1)) {
			l.pos++
			return token{kind: tLongNumber, text: l.src[start : l.pos-1], pos: start}, nil
		}
		return token{kind: tNumber, text: l.src[start:l.pos], pos: start}, nil
	case c == '@':
		return l.dateTime()
	case c == '%':
		l.pos++
		switch {
		case l.peekByte(0) == '`':
			s, err := l.quoted('`')
			return token{kind: tExtConst, text: s, pos: start}, err
		case l.peekByte(0) == '\'':
			s, err := l.quoted('\'')
			return token{kind: tExtConst, text: s, pos: start}, err
		case isIdentStart(l.peekByte(0)):
			b := l.pos
			for l.pos < len(l.src) && isIdentPart(l.src[l.pos]) {
				l.pos++
			}
			return token{kind: tExtConst, text: l.src[b:l.pos], pos: start}, nil
		}
		return token{}, l.errf(start, "expected a constant name after %%")
	case c == '$':
		l.pos++
		b := l.pos
		for l.pos < len(l.src) && isIdentPart(l.src[l.pos]) {
			l.pos++
		}
		name := l.src[b:l.pos]
		if name != "this" && name != "index" && name != "total" {
			return token{}, l.errf(start, "unknown special variable $%s", name)
		}
		return token{kind: tSpecial, text: name, pos: start}, nil
	}
	for _, op := range [...]string{"<=", ">=", "!=", "!~", "=", "~", "<", ">", "|", "&", "+", "-", "*", "/", ".", ",", "(", ")", "[", "]", "{", "}"} {
		if strings.HasPrefix(l.src[l.pos:], op) {
			l.pos += len(op)
			return token{kind: tOp, text: op, pos: start}, nil
		}
	}
	r, _ := utf8.DecodeRuneInString(l.src[l.pos:])
	return token{}, l.errf(start, "unexpected character %q", r)
}

// quoted reads a string or delimited identifier, decoding the escapes the grammar allows.
func (l *lexer) quoted(q byte) (string, error) {
	start := l.pos
	l.pos++
	var b strings.Builder
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch c {
		case q:
			l.pos++
			return b.String(), nil
		case '\\':
			if l.pos+1 >= len(l.src) {
				return "", l.errf(l.pos, "unterminated escape")
			}
			e := l.src[l.pos+1]
			l.pos += 2
			switch e {
			case '\'', '"', '`', '\\', '/':
				b.WriteByte(e)
			case 'r':
				b.WriteByte('\r')
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'f':
				b.WriteByte('\f')
			case 'u':
				if l.pos+4 > len(l.src) {
					return "", l.errf(l.pos, "invalid unicode escape")
				}
				v, err := strconv.ParseUint(l.src[l.pos:l.pos+4], 16, 32)
				if err != nil {
					return "", l.errf(l.pos, "invalid unicode escape")
				}
				b.WriteRune(rune(v))
				l.pos += 4
			default:
				return "", l.errf(l.pos-2, "invalid escape \\%c", e)
			}
		default:
			b.WriteByte(c)
			l.pos++
		}
	}
	return "", l.errf(start, "unterminated %c", q)
}

func (l *lexer) digits(n int) bool {
	for i := 0; i < n; i++ {
		if !isDigit(l.peekByte(i)) {
			return false
		}
	}
	l.pos += n
	return true
}

// dateTime reads @date, @dateTime and @Ttime literals. A '.' or '-' is taken only where the
// literal grammar allows it, so "@2015.is(Date)" and "@2015-02-04 - 1 day" lex as intended.
func (l *lexer) dateTime() (token, error) {
	start := l.pos
	l.pos++
	if l.peekByte(0) == 'T' {
		l.pos++
		b := l.pos
		if !l.time() {
			return token{}, l.errf(start, "invalid time literal")
		}
		return token{kind: tTime, text: l.src[b:l.pos], pos: start}, nil
	}
	b := l.pos
	if !l.digits(4) {
		return token{}, l.errf(start, "invalid date literal")
	}
	if l.peekByte(0) == '-' && isDigit(l.peekByte(1)) {
		l.pos++
		if !l.digits(2) {
			return token{}, l.errf(start, "invalid date literal")
		}
		if l.peekByte(0) == '-' && isDigit(l.peekByte(1)) {
			l.pos++
			if !l.digits(2) {
				return token{}, l.errf(start, "invalid date literal")
			}
		}
	}
	if l.peekByte(0) != 'T' {
		return token{kind: tDate, text: l.src[b:l.pos], pos: start}, nil
	}
	date := l.src[b:l.pos]
	l.pos++
	tb := l.pos
	if !isDigit(l.peekByte(0)) {
		return token{kind: tDateTime, text: date, pos: start}, nil
	}
	if !l.time() {
		return token{}, l.errf(start, "invalid dateTime literal")
	}
	if l.peekByte(0) == 'Z' {
		l.pos++
	} else if (l.peekByte(0) == '+' || l.peekByte(0) == '-') && isDigit(l.peekByte(1)) && isDigit(l.peekByte(2)) && l.peekByte(3) == ':' {
		l.pos++
		l.digits(2)
		l.pos++
		if !l.digits(2) {
			return token{}, l.errf(start, "invalid time zone")
		}
	}
	return token{kind: tDateTime, text: date + "T" + l.src[tb:l.pos], pos: start}, nil
}

func (l *lexer) time() bool {
	if !l.digits(2) {
		return false
	}
	if l.peekByte(0) == ':' && isDigit(l.peekByte(1)) {
		l.pos++
		if !l.digits(2) {
			return false
		}
		if l.peekByte(0) == ':' && isDigit(l.peekByte(1)) {
			l.pos++
			if !l.digits(2) {
				return false
			}
			if l.peekByte(0) == '.' && isDigit(l.peekByte(1)) {
				l.pos++
				for isDigit(l.peekByte(0)) {
					l.pos++
				}
			}
		}
	}
	return true
}
