package fhirpath

import (
	"testing"
)

// stringCase is an expression and its expected single result as text; "{}" is an empty
// result and "error" an evaluation error.
type stringCase struct {
	expr, want string
}

func runStringCases(t *testing.T, cases []stringCase) {
	t.Helper()
	for _, c := range cases {
		e, err := Compile(c.expr)
		if err != nil {
			t.Errorf("%s: compile: %v", c.expr, err)
			continue
		}
		out, err := e.Evaluate(nil)
		got := ""
		switch {
		case err != nil:
			got = "error"
		case len(out) == 0:
			got = "{}"
		case len(out) > 1:
			got = "several items"
		default:
			s, ok := toText(out[0])
			if !ok {
				s = "non-text " + out[0].Type
			}
			got = s
		}
		if got != c.want {
			t.Errorf("%s = %q (err %v), want %q", c.expr, got, err, c.want)
		}
	}
}

func TestEncodeDecode(t *testing.T) {
	runStringCases(t, []stringCase{
		{`'test'.encode('hex')`, "74657374"},
		{`'test'.encode('base64')`, "dGVzdA=="},
		{`'subjects?_d'.encode('base64')`, "c3ViamVjdHM/X2Q="},
		{`'subjects?_d'.encode('urlbase64')`, "c3ViamVjdHM_X2Q="},
		{`'é'.encode('hex')`, "c3a9"},
		{`''.encode('base64')`, ""},
		{`{}.encode('hex')`, "{}"},
		{`'test'.encode({})`, "{}"},
		{`'test'.encode('rot13')`, "error"},
		{`('a' | 'b').encode('hex')`, "error"},
		{`1.encode('hex')`, "error"},

		{`'74657374'.decode('hex')`, "test"},
		{`'C3A9'.decode('hex')`, "é"},
		{`'dGVzdA=='.decode('base64')`, "test"},
		{`'dGVzdA'.decode('base64')`, "test"},
		{`'c3ViamVjdHM/X2Q='.decode('base64')`, "subjects?_d"},
		{`'c3ViamVjdHM_X2Q='.decode('urlbase64')`, "subjects?_d"},
		{`'c3ViamVjdHM_X2Q='.decode('base64')`, "error"},
		{`'dGVzdA=!'.decode('base64')`, "error"},
		{`'7465737'.decode('hex')`, "error"},
		{`'zz'.decode('hex')`, "error"},
		{`'ff'.decode('hex')`, "error"},
		{`'dGVzdA=='.decode('base32')`, "error"},
		{`{}.decode('hex')`, "{}"},
		{`'74'.decode({})`, "{}"},
		{`'Hello, wörld'.encode('urlbase64').decode('urlbase64')`, "Hello, wörld"},
	})
}

func TestEscapeUnescape(t *testing.T) {
	runStringCases(t, []stringCase{
		{`'"1<2"'.escape('html')`, "&quot;1&lt;2&quot;"},
		{`'a & b > c \'d\''.escape('html')`, "a &amp; b &gt; c &#39;d&#39;"},
		{`'café'.escape('html')`, "caf&#233;"},
		{`'"1<2"'.escape('json')`, `\"1<2\"`},
		{`'a\\b\nc\td'.escape('json')`, `a\\b\nc\td`},
		{`'é'.escape('json')`, "é"},
		{`{}.escape('html')`, "{}"},
		{`'x'.escape({})`, "{}"},
		{`'x'.escape('xml')`, "error"},

		{`'&quot;1&lt;2&quot;'.unescape('html')`, `"1<2"`},
		{`'caf&#233; &amp; caf&eacute;'.unescape('html')`, "café & café"},
		{`'\\"1<2\\"'.unescape('json')`, `"1<2"`},
		{`'a\\\\b\\nc\\u00e9\\/'.unescape('json')`, "a\\b\nc\u00e9/"},
		{`'\\ud83d\\udd25'.unescape('json')`, "\U0001F525"},
		{`'plain'.unescape('json')`, "plain"},
		{`'bad\\x'.unescape('json')`, "error"},
		{`'bad\\u12'.unescape('json')`, "error"},
		{`'bad\\'.unescape('json')`, "error"},
		{`{}.unescape('json')`, "{}"},
		{`'x'.unescape('url')`, "error"},
		{`'<tag a="1">&</tag>'.escape('html').unescape('html')`, `<tag a="1">&</tag>`},
		{`'line\n"q"\\'.escape('json').unescape('json')`, "line\n\"q\"\\"},
	})
}

func TestRegexFunctions(t *testing.T) {
	const url = `'http://fhir.org/guides/cqf/common/Library/FHIR-ModelInfo|4.0.1'`
	runStringCases(t, []stringCase{
		{url + `.matches('Library')`, "true"},
		{url + `.matches('^Library$')`, "false"},
		{url + `.matches('library')`, "false"},
		{url + `.matchesFull('Library')`, "false"},
		{url + `.matchesFull('.*Library.*')`, "true"},
		{url + `.matchesFull('^Library$')`, "false"},
		{`'N8000123123'.matchesFull('N[0-9]{10}')`, "true"},
		{`'ab'.matchesFull('a|ab')`, "true"},
		{`'A\nB'.matches('A.B')`, "true"},
		{`'A\nB'.matchesFull('A.*B')`, "true"},
		{`'abc'.matches('')`, "true"},
		{`{}.matchesFull('a')`, "{}"},
		{`'a'.matchesFull({})`, "{}"},
		{`'a'.matchesFull('(')`, "error"},
		{`'ab'.matchesFull('a)|(b')`, "error"},

		{`'abc'.replaceMatches('', 'x')`, "abc"},
		{`'abc123'.replaceMatches('[0-9]', '-')`, "abc---"},
		{`'11/30/1972'.replaceMatches('\\b(?<month>\\d{1,2})/(?<day>\\d{1,2})/(?<year>\\d{2,4})\\b', '${day}-${month}-${year}')`, "30-11-1972"},
	})
}
