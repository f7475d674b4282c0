package fhir

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

const examplesDir = "../../shared/data/fhir-r4-examples"

func decodeNumber(t testing.TB, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return v
}

func TestRoundTripOfficialExamples(t *testing.T) {
	examples := officialExamples(t)
	failed := 0
	for _, ex := range examples {
		res, err := Parse(ex.data)
		if err != nil {
			failed++
			t.Errorf("%s: %v", ex.name, err)
			continue
		}
		out := Marshal(res.Root)
		want := decodeNumber(t, ex.data)
		got := decodeNumber(t, out)
		if !reflect.DeepEqual(want, got) {
			failed++
			t.Errorf("%s: round trip differs:\n%s", ex.name, firstDiff(want, got, ""))
		}
	}
	t.Logf("%d examples, %d failed", len(examples), failed)
}

func firstDiff(a, b any, path string) string {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			return path + ": type differs"
		}
		for k := range x {
			if d := firstDiff(x[k], y[k], path+"."+k); d != "" {
				return d
			}
		}
		for k := range y {
			if _, ok := x[k]; !ok {
				return path + "." + k + ": extra"
			}
		}
		return ""
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return path + ": array differs"
		}
		for i := range x {
			if d := firstDiff(x[i], y[i], path); d != "" {
				return d
			}
		}
		return ""
	}
	if !reflect.DeepEqual(a, b) {
		s, _ := json.Marshal(a)
		s2, _ := json.Marshal(b)
		return path + ": " + string(s) + " vs " + string(s2)
	}
	return ""
}

func TestParseRejects(t *testing.T) {
	for _, tc := range []struct{ name, json, want string }{
		{"not json", `{"resourceType":`, "invalid JSON"},
		{"array", `[]`, "JSON object"},
		{"no type", `{"id":"x"}`, "missing resourceType"},
		{"unknown type", `{"resourceType":"Foo"}`, "unknown resourceType"},
		{"unknown element", `{"resourceType":"Patient","foo":1}`, `unknown element "foo"`},
		{"bad date", `{"resourceType":"Patient","birthDate":"1970-13-01"}`, "invalid date"},
		{"wrong kind", `{"resourceType":"Patient","active":"yes"}`, "JSON boolean"},
		{"not array", `{"resourceType":"Patient","name":{"family":"X"}}`, "must be an array"},
		{"array for single", `{"resourceType":"Patient","gender":["male"]}`, "must not be an array"},
		{"bad id", `{"resourceType":"Patient","id":"a b"}`, "invalid id"},
		{"empty string", `{"resourceType":"Patient","gender":""}`, "empty string"},
		{"two choices", `{"resourceType":"Patient","deceasedBoolean":true,"deceasedDateTime":"2020"}`, "more than one choice"},
		{"bad choice", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueFoo":1}`, "unknown element"},
		{"contained bad", `{"resourceType":"Patient","contained":[{"resourceType":"Patient","x":1}]}`, "unknown element"},
		{"int range", `{"resourceType":"Patient","multipleBirthInteger":99999999999}`, "invalid integer"},
		{"trailing", `{"resourceType":"Patient"} {}`, "trailing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestPrimitiveExtensionsAndMeta(t *testing.T) {
	in := `{"resourceType":"Patient","id":"p1","name":[{"given":["A","B"],"_given":[null,{"extension":[{"url":"http://x","valueString":"y"}]}]}],"_birthDate":{"extension":[{"url":"http://z","valueCode":"unknown"}]}}`
	res, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	res.SetMeta("3", mustTime("2024-01-02T03:04:05Z"))
	out := string(Marshal(res.Root))
	want := `{"resourceType":"Patient","id":"p1","meta":{"versionId":"3","lastUpdated":"2024-01-02T03:04:05.000000Z"},"name":[{"given":["A","B"],"_given":[null,{"extension":[{"url":"http://x","valueString":"y"}]}]}],"_birthDate":{"extension":[{"url":"http://z","valueCode":"unknown"}]}}`
	if out != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
}

// TestPrimitiveCompanionLengths: a _name array shorter or longer than its values leaves the
// missing positions without metadata or without a value; a position with neither is refused.
func TestPrimitiveCompanionLengths(t *testing.T) {
	for _, tc := range []struct {
		name, in, want, err string
	}{
		{"shorter companion", `{"resourceType":"Patient","name":[{"given":[null,"James"],"_given":[{"extension":[{"url":"http://x","valueString":"five"}]}]}]}`,
			`{"resourceType":"Patient","name":[{"given":[null,"James"],"_given":[{"extension":[{"url":"http://x","valueString":"five"}]},null]}]}`, ""},
		{"longer companion", `{"resourceType":"Patient","name":[{"given":["A"],"_given":[null,{"extension":[{"url":"http://x","valueString":"y"}]}]}]}`,
			`{"resourceType":"Patient","name":[{"given":["A",null],"_given":[null,{"extension":[{"url":"http://x","valueString":"y"}]}]}]}`, ""},
		{"position with neither", `{"resourceType":"Patient","name":[{"given":[null,"B"],"_given":[null]}]}`, "", "given"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Parse([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one about %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(Marshal(res.Root)); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
