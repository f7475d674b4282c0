package fhir

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// parseText parses a Patient whose name[0].text is the given JSON string literal (quotes
// included) and returns the decoded text.
func parseText(t *testing.T, lit string) (string, error) {
	t.Helper()
	res, err := Parse([]byte(`{"resourceType":"Patient","name":[{"text":` + lit + `}]}`))
	if err != nil {
		return "", err
	}
	return res.Root.First("name").Text("text"), nil
}

func TestScanStrings(t *testing.T) {
	for _, tc := range []struct {
		name, lit, want, err string
	}{
		{"plain", `"abc"`, "abc", ""},
		{"quote and backslash", `"a\"b\\c"`, `a"b\c`, ""},
		{"short escapes", `"\/\b\f\n\r\t"`, "/\b\f\n\r\t", ""},
		{"unicode escape", `"caf\u00e9 \u20AC \u20ac"`, "café € €", ""},
		{"escaped NUL", `"a\u0000b"`, "a\x00b", ""},
		{"raw multi-byte UTF-8", `"é😀中"`, "é😀中", ""},
		{"surrogate pair", `"\ud83d\ude00"`, "😀", ""},
		{"surrogate pair upper case", `"\uD83D\uDE00!"`, "😀!", ""},
		{"lone high surrogate", `"\ud83d"`, "\uFFFD", ""},
		{"high surrogate then letter", `"\ud83dx"`, "\uFFFDx", ""},
		{"high surrogate then other escape", `"\ud83d\u0041"`, "\uFFFDA", ""},
		{"two high surrogates", `"\ud83d\ud83d\ude00"`, "\uFFFD😀", ""},
		{"lone low surrogate", `"\ude00x"`, "\uFFFDx", ""},
		{"reversed pair", `"\ude00\ud83d"`, "\uFFFD\uFFFD", ""},
		{"unknown escape", `"\x41"`, "", "invalid escape"},
		{"capital U escape", `"\U0041"`, "", "invalid escape"},
		{"short unicode escape", `"\u41"`, "", `invalid \u escape`},
		{"bad hex digit", `"\u12G4"`, "", `invalid \u escape`},
		{"escape at end", `"\`, "", "invalid JSON"},
		{"raw tab", "\"a\tb\"", "", "control character"},
		{"raw newline", "\"a\nb\"", "", "control character"},
		{"invalid byte", "\"a\xffb\"", "", "invalid UTF-8"},
		{"truncated sequence", "\"\xe2\x82\"", "", "invalid UTF-8"},
		{"overlong encoding", "\"\xc0\xaf\"", "", "invalid UTF-8"},
		{"encoded surrogate", "\"\xed\xa0\x80\"", "", "invalid UTF-8"},
		{"unterminated", `"abc`, "", "invalid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseText(t, tc.lit)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "invalid JSON") {
					t.Fatalf("err = %v, want an invalid JSON error mentioning %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestScanNumbers(t *testing.T) {
	decimal := func(lit string) string {
		return `{"resourceType":"Observation","valueQuantity":{"value":` + lit + `}}`
	}
	integer := func(lit string) string {
		return `{"resourceType":"Patient","multipleBirthInteger":` + lit + `}`
	}
	for _, tc := range []struct {
		name, json, want, err string
	}{
		{"decimal keeps its text", decimal("1.50"), "1.50", ""},
		{"negative zero decimal", decimal("-0"), "-0", ""},
		{"negative zero point zero", decimal("-0.0"), "-0.0", ""},
		{"exponent", decimal("1E+2"), "1E+2", ""},
		{"small exponent", decimal("2.5e-10"), "2.5e-10", ""},
		{"zero", decimal("0"), "0", ""},
		{"decimal out of float64 range", decimal("1e400"), "", "invalid decimal 1e400"},
		{"negative zero integer", integer("-0"), "-0", ""},
		{"int32 max", integer("2147483647"), "2147483647", ""},
		{"int32 min", integer("-2147483648"), "-2147483648", ""},
		{"above int32", integer("2147483648"), "", "invalid integer"},
		{"integer with fraction", integer("1.0"), "", "invalid integer"},
		{"integer with exponent", integer("1e2"), "", "invalid integer"},
		{"leading zero", decimal("01"), "", "leading zero"},
		{"negative leading zero", decimal("-01"), "", "leading zero"},
		{"leading zero with fraction", decimal("00.5"), "", "leading zero"},
		{"bare fraction", decimal(".5"), "", "invalid JSON"},
		{"trailing point", decimal("5."), "", "invalid JSON"},
		{"empty exponent", decimal("1e"), "", "invalid JSON"},
		{"exponent sign only", decimal("1e+"), "", "invalid JSON"},
		{"plus sign", decimal("+1"), "", "invalid JSON"},
		{"minus only", decimal("-"), "", "invalid JSON"},
		{"hex", decimal("0x10"), "", "invalid JSON"},
		{"NaN", decimal("NaN"), "", "invalid JSON"},
		{"infinity", decimal("-Infinity"), "", "invalid JSON"},
		{"number as string", decimal(`"1.5"`), "", "expected a JSON number for decimal, got a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Parse([]byte(tc.json))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got *Node
			res.Root.Walk(func(n *Node) bool {
				if _, ok := n.Value.(json.Number); ok {
					got = n
				}
				return true
			})
			if got == nil || got.Value != json.Number(tc.want) {
				t.Fatalf("got %#v, want json.Number(%q)", got, tc.want)
			}
		})
	}
}

func TestScanDocument(t *testing.T) {
	nested := func(depth int) string {
		return strings.Repeat("[", depth) + strings.Repeat("]", depth)
	}
	for _, tc := range []struct {
		name, json, err string // err "" means the document is accepted
	}{
		{"compact", `{"resourceType":"Patient","active":true}`, ""},
		{"all whitespace kinds", " \t\r\n{ \t\r\n\"resourceType\" \t\r\n: \t\r\n\"Patient\" \t\r\n, \"name\" : [ { \"text\" : \"x\" } ] \t\r\n} \t\r\n", ""},
		{"long indentation", "{\n" + strings.Repeat(" ", 37) + `"resourceType": "Patient"` + "\n}", ""},
		{"form feed is not whitespace", "{\f\"resourceType\":\"Patient\"}", "invalid JSON"},
		{"no-break space is not whitespace", "{\u00a0\"resourceType\":\"Patient\"}", "invalid JSON"},
		{"leading byte order mark is ignored", "\ufeff{\"resourceType\":\"Patient\"}", ""},
		{"byte order mark inside", "{\ufeff\"resourceType\":\"Patient\"}", "invalid JSON"},
		{"urn:uuid uri that is no UUID", `{"resourceType":"Patient","implicitRules":"urn:uuid:c757873d-ec9a-4326-a141-556f43239520asdf"}`, `not a UUID`},
		{"urn:uuid uri", `{"resourceType":"Patient","implicitRules":"urn:uuid:c757873d-ec9a-4326-a141-556f43239520"}`, ""},
		{"fhir_comments is not R4", `{"resourceType":"Patient","fhir_comments":["x"]}`, `unknown element "fhir_comments"`},
		{"empty", ``, "invalid JSON"},
		{"only whitespace", " \n", "invalid JSON"},
		{"trailing object", `{"resourceType":"Patient"} {}`, "trailing data"},
		{"trailing bracket", `{"resourceType":"Patient"}]`, "trailing data"},
		{"trailing brace", `{"resourceType":"Patient"}}`, "trailing data"},
		{"trailing comma in object", `{"resourceType":"Patient",}`, "invalid JSON"},
		{"trailing comma in array", `{"resourceType":"Patient","name":[{"text":"a"},]}`, "invalid JSON"},
		{"missing colon", `{"resourceType" "Patient"}`, "invalid JSON"},
		{"unquoted key", `{resourceType:"Patient"}`, "invalid JSON"},
		{"single quotes", `{'resourceType':'Patient'}`, "invalid JSON"},
		{"truncated literal", `{"resourceType":"Patient","active":tru}`, "invalid JSON"},
		{"capitalized literal", `{"resourceType":"Patient","active":True}`, "invalid JSON"},
		{"null root", `null`, "JSON object"},
		{"string root", `"Patient"`, "JSON object"},
		{"nesting at the limit", `{"resourceType":"Patient","x":` + nested(maxDepth-1) + `}`, `unknown element "x"`},
		{"nesting over the limit", `{"resourceType":"Patient","x":` + nested(maxDepth) + `}`, "nesting deeper than 100 levels"},
		{"very deep nesting", strings.Repeat(`{"a":`, 1_000_000), "nesting deeper than 100 levels"},
		{"resourceType last", `{"id":"a","resourceType":"Patient"}`, ""},
		{"companion first", `{"_birthDate":{"id":"x"},"birthDate":"1970","resourceType":"Patient"}`, ""},
		{"duplicate key", `{"resourceType":"Patient","id":"a","id":"b"}`, `Patient: duplicate key "id"`},
		{"duplicate nested key", `{"resourceType":"Patient","name":[{"text":"a","text":"a"}]}`, `Patient.name[0]: duplicate key "text"`},
		{"duplicate escaped key", `{"resourceType":"Patient","id":"a","\u0069d":"b"}`, `duplicate key "id"`},
		{"duplicate resourceType", `{"resourceType":"Patient","resourceType":"Patient"}`, `duplicate key "resourceType"`},
		{"duplicate companion", `{"resourceType":"Patient","_gender":{"id":"a"},"_gender":{"id":"b"}}`, `duplicate key "_gender"`},
		{"duplicate in a large object", `{"resourceType":"Patient","a1":1,"a2":1,"a3":1,"a4":1,"a5":1,"a6":1,"a7":1,"a8":1,"a9":1,"b1":1,"b2":1,"b3":1,"b4":1,"b5":1,"b6":1,"b7":1,"b8":1,"a1":1}`, `duplicate key "a1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.json))
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
			if e := AsError(err); e.Status != 400 {
				t.Fatalf("status %d, want 400", e.Status)
			}
		})
	}
}

// TestMemberOrderDoesNotMatter parses the same resource with its members in several orders.
func TestMemberOrderDoesNotMatter(t *testing.T) {
	want := `{"resourceType":"Patient","id":"p","active":true,"name":[{"family":"F","given":["A","B"],"_given":[null,{"id":"g"}]}],"birthDate":"1970","_birthDate":{"id":"b"}}`
	for _, in := range []string{
		want,
		`{"_birthDate":{"id":"b"},"birthDate":"1970","name":[{"_given":[null,{"id":"g"}],"given":["A","B"],"family":"F"}],"active":true,"id":"p","resourceType":"Patient"}`,
		`{"id":"p","name":[{"given":["A","B"],"family":"F","_given":[null,{"id":"g"}]}],"resourceType":"Patient","_birthDate":{"id":"b"},"active":true,"birthDate":"1970"}`,
	} {
		res, err := Parse([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(Marshal(res.Root)); got != want {
			t.Errorf("from %s\n got  %s\n want %s", in, got, want)
		}
	}
}

func TestParseObject(t *testing.T) {
	in := `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1.50}}`
	res, err := ParseObject(decodeNumber(t, []byte(in)).(map[string]any))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(Marshal(res.Root)); got != in {
		t.Fatalf("got %s, want %s", got, in)
	}
	_, err = ParseObject(map[string]any{"resourceType": "Patient", "gender": ""})
	if err == nil || !strings.Contains(err.Error(), "empty string") {
		t.Fatalf("err = %v, want an empty string error", err)
	}
}

// TestScanAgreesWithEncodingJSON mutates small documents byte by byte: the scanner must
// accept exactly what encoding/json accepts as valid UTF-8 JSON, and decode every string
// (keys included) as it does.
func TestScanAgreesWithEncodingJSON(t *testing.T) {
	seeds := []string{
		`{"a":[1,-0.5e+3,true,false,null,"x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"],"b":{}}`,
		`[{"k":"v"},[],[[0]],"\ud800","\udc00\u0041",1E5,-0]`,
		`{"resourceType":"Patient","name":[{"text":"é😀"}]}`,
	}
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte("{}[]:,\"\\/ubfnrtEe+-.0123456789aAdD \t\n\r\x00\x1f\x7f\x80\xbf\xc3\xed\xf0\xff")
	var sc scanner
	valid := 0
	for round := 0; round < 20000; round++ {
		doc := []byte(seeds[rng.IntN(len(seeds))])
		for range 1 + rng.IntN(3) {
			i := rng.IntN(len(doc) + 1)
			c := alphabet[rng.IntN(len(alphabet))]
			switch rng.IntN(3) {
			case 0:
				if i < len(doc) {
					doc[i] = c
				}
			case 1:
				doc = append(doc[:i], append([]byte{c}, doc[i:]...)...)
			case 2:
				if i < len(doc) {
					doc = append(doc[:i], doc[i+1:]...)
				}
			}
		}
		err := sc.scan(doc)
		want := json.Valid(doc) && utf8.Valid(doc)
		if want {
			valid++
		}
		if (err == nil) != want {
			t.Fatalf("scan(%q) = %v, want valid=%v", doc, err, want)
		}
		if err != nil {
			continue
		}
		for _, tok := range sc.toks {
			if tok.kind != tokString {
				continue
			}
			var want string
			if err := json.Unmarshal(doc[tok.beg-1:tok.end+1], &want); err != nil {
				t.Fatal(err)
			}
			if got := string(unquote(nil, doc[tok.beg:tok.end])); got != want {
				t.Fatalf("string %q of %q: got %q, want %q", doc[tok.beg:tok.end], doc, got, want)
			}
		}
	}
	t.Logf("%d of 20000 variants valid", valid)
}
