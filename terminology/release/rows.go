package release

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// RowError is a malformed row (or header) of a release file.
type RowError struct {
	File string
	Line int
	Msg  string
}

func (e *RowError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// MaxRowErrors is how many malformed rows a loader reports before giving up.
const MaxRowErrors = 20

// Rows reads a tab-delimited file line by line. Lines end in LF or CRLF; blank lines are
// skipped; a byte-order mark before the first line is dropped. Text that is not valid UTF-8
// is read as Windows-1252, the encoding older NHS classification files use.
type Rows struct {
	r    *bufio.Reader
	file string
	line int
	errs []error
	n    int // malformed rows seen
}

// NewRows reads r, naming it file in errors.
func NewRows(r io.Reader, file string) *Rows {
	return &Rows{r: bufio.NewReaderSize(r, 1<<16), file: file}
}

// Line is the number of the line last returned.
func (rs *Rows) Line() int { return rs.line }

// Next returns the fields of the next non-blank line, or io.EOF.
func (rs *Rows) Next() ([]string, error) {
	for {
		b, err := rs.r.ReadBytes('\n')
		if len(b) == 0 && err != nil {
			if err == io.EOF {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("%s: %w", rs.file, err)
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s: %w", rs.file, err)
		}
		rs.line++
		b = bytes.TrimSuffix(b, []byte{'\n'})
		b = bytes.TrimSuffix(b, []byte{'\r'})
		if rs.line == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		s := Text(b)
		return strings.Split(s, "\t"), nil
	}
}

// Reject records a malformed row at the current line. It reports whether the loader should
// stop reading (too many errors).
func (rs *Rows) Reject(format string, args ...any) (stop bool) {
	rs.n++
	if len(rs.errs) < MaxRowErrors {
		rs.errs = append(rs.errs, &RowError{File: rs.file, Line: rs.line, Msg: fmt.Sprintf(format, args...)})
	}
	return rs.n >= MaxRowErrors
}

// Err returns the malformed rows recorded, joined (each a *RowError), or nil.
func (rs *Rows) Err() error {
	if len(rs.errs) == 0 {
		return nil
	}
	if rs.n > len(rs.errs) {
		return errors.Join(append(rs.errs, fmt.Errorf("%s: %d more malformed rows", rs.file, rs.n-len(rs.errs)))...)
	}
	return errors.Join(rs.errs...)
}

// Concepts reads the rows left, a concept a row: concept makes one of a row, or says what
// is wrong with it (saying nothing of a nil concept skips the row). Malformed rows and codes
// seen before are rejected, and returned as Err does once all are read; ctx is checked now
// and then, its error returned as it is.
func (rs *Rows) Concepts(ctx context.Context, concept func(row []string) (c *Concept, msg string)) ([]*Concept, error) {
	var list []*Concept
	lines := map[string]int{}
	for n := 0; ; n++ {
		if n&0xfff == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		row, err := rs.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		c, msg := concept(row)
		if c == nil && msg == "" {
			continue
		}
		if msg == "" {
			if line, dup := lines[c.Code]; dup {
				msg = fmt.Sprintf("duplicate code %s (first at line %d)", c.Code, line)
			}
		}
		if msg != "" {
			if rs.Reject("%s", msg) {
				break
			}
			continue
		}
		lines[c.Code] = rs.line
		list = append(list, c)
	}
	if err := rs.Err(); err != nil {
		return nil, err
	}
	return list, nil
}

// Text returns b as a string: as it is when it is valid UTF-8, else decoded from
// Windows-1252.
func Text(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return decode1252(b)
}

func decode1252(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b) + len(b)/8)
	for _, c := range b {
		switch {
		case c < 0x80:
			sb.WriteByte(c)
		case c < 0xa0:
			sb.WriteRune(cp1252[c-0x80])
		default:
			sb.WriteRune(rune(c))
		}
	}
	return sb.String()
}

// cp1252 maps the bytes 0x80-0x9f of Windows-1252; the rest agree with Latin-1. Bytes the
// code page leaves undefined map to U+FFFD.
var cp1252 = [32]rune{
	'€', '\ufffd', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\ufffd', 'Ž', '\ufffd',
	'\ufffd', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\ufffd', 'ž', 'Ÿ',
}

// CharsetReader decodes Windows-1252 and ISO-8859-1 for encoding/xml (Decoder.CharsetReader);
// other charsets are an error.
func CharsetReader(charset string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "windows-1252", "cp1252", "iso-8859-1", "iso8859-1", "latin1", "latin-1":
		b, err := io.ReadAll(input)
		if err != nil {
			return nil, err
		}
		return strings.NewReader(decode1252(b)), nil
	}
	return nil, fmt.Errorf("unsupported XML encoding %q", charset)
}
