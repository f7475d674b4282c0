package fhirpath

import (
	"encoding/base64"
	"encoding/hex"
	"html"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/concord-health/concord/fhir"
)

// Additional string functions (FHIRPath 2.0 §5.7, STU): encode, decode, escape, unescape.
//
// The specification leaves unknown formats and malformed input open; both are reported as
// errors, because an empty result would hide a typo or corrupt data behind "no value".

func init() {
	codec("encode", func(format, s string) (string, error) {
		switch format {
		case "hex":
			return hex.EncodeToString([]byte(s)), nil
		case "base64":
			return base64.StdEncoding.EncodeToString([]byte(s)), nil
		case "urlbase64":
			return base64.URLEncoding.EncodeToString([]byte(s)), nil
		}
		return "", errf("encode(): unknown format %q (expected hex, base64 or urlbase64)", format)
	})
	codec("decode", func(format, s string) (string, error) {
		var b []byte
		var err error
		switch format {
		case "hex":
			b, err = hex.DecodeString(s)
		case "base64":
			b, err = decodeBase64(base64.StdEncoding, s)
		case "urlbase64":
			b, err = decodeBase64(base64.URLEncoding, s)
		default:
			return "", errf("decode(): unknown format %q (expected hex, base64 or urlbase64)", format)
		}
		if err != nil {
			return "", errf("decode(): input is not valid %s: %v", format, err)
		}
		// A FHIRPath String is Unicode text; arbitrary binary has no String form.
		if !utf8.Valid(b) {
			return "", errf("decode(): decoded %s data is not UTF-8 text", format)
		}
		return string(b), nil
	})
	codec("escape", func(target, s string) (string, error) {
		switch target {
		case "html":
			return escapeHTML(s), nil
		case "json":
			return escapeJSON(s), nil
		}
		return "", errf("escape(): unknown target %q (expected html or json)", target)
	})
	codec("unescape", func(target, s string) (string, error) {
		switch target {
		case "html":
			return html.UnescapeString(s), nil
		case "json":
			return unescapeJSON(s)
		}
		return "", errf("unescape(): unknown target %q (expected html or json)", target)
	})
}

// codec registers a function of one string input and one string argument (a format or
// target). An empty input or an empty argument gives empty, as the specification says.
func codec(name string, f func(arg, s string) (string, error)) {
	def(name, 1, 1, func(ev *evaluator, n *ast, in, this []*fhir.Node) ([]*fhir.Node, error) {
		v, err := singleton(in, name+"()")
		if err != nil || v == nil {
			return nil, err
		}
		s, ok := toText(v)
		if !ok || kindOf(v) != kString && isSystem(v) {
			return nil, errf("%s() expects a string, got %s", name, typeLabel(v))
		}
		arg, ok, err := ev.strArg(n, 0, this)
		if err != nil || !ok {
			return nil, err
		}
		out, err := f(arg, s)
		if err != nil {
			return nil, err
		}
		return []*fhir.Node{newString(out)}, nil
	})
}

// decodeBase64 accepts the padded form the specification produces and, leniently, the
// unpadded form many producers emit.
func decodeBase64(enc *base64.Encoding, s string) ([]byte, error) {
	if len(s)%4 != 0 && !strings.HasSuffix(s, "=") {
		return enc.WithPadding(base64.NoPadding).Strict().DecodeString(s)
	}
	return enc.Strict().DecodeString(s)
}

// escapeHTML escapes the markup characters with the usual entities, and everything above
// ASCII as a numeric reference so the text survives any page encoding.
func escapeHTML(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '"':
			b.WriteString("&quot;")
		case r == '\'':
			b.WriteString("&#39;")
		case r > 127:
			b.WriteString("&#")
			b.WriteString(strconv.Itoa(int(r)))
			b.WriteByte(';')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// escapeJSON escapes s for use inside a JSON string literal, as fhir.Marshal does (without
// the HTML escaping of encoding/json: <, > and & need none in JSON).
func escapeJSON(s string) string {
	q := fhir.AppendJSONString(make([]byte, 0, len(s)+2), s)
	return string(q[1 : len(q)-1])
}

// unescapeJSON reverses the escapes of a JSON string literal. Characters that JSON would
// have required escaping are accepted as they are; a malformed escape is an error.
func unescapeJSON(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			return "", errf("unescape(): trailing backslash")
		}
		i++
		switch s[i] {
		case '"', '\\', '/':
			b.WriteByte(s[i])
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, ok := hex4(s, i+1)
			if !ok {
				return "", errf("unescape(): malformed \\u escape")
			}
			i += 4
			if utf16.IsSurrogate(r) {
				// A surrogate pair spells one character beyond the BMP.
				if lo, ok := hex4(s, i+3); ok && s[i+1] == '\\' && s[i+2] == 'u' {
					if dec := utf16.DecodeRune(r, lo); dec != utf8.RuneError {
						r = dec
						i += 6
					}
				}
			}
			b.WriteRune(r) // a lone surrogate becomes U+FFFD
		default:
			return "", errf("unescape(): unknown escape \\%c", s[i])
		}
	}
	return b.String(), nil
}

// hex4 reads four hex digits at s[i:].
func hex4(s string, i int) (rune, bool) {
	if i < 0 || i+4 > len(s) {
		return 0, false
	}
	v, err := strconv.ParseUint(s[i:i+4], 16, 32)
	if err != nil {
		return 0, false
	}
	return rune(v), true
}
