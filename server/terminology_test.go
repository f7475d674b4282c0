package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/interaction"
	"github.com/concord-health/concord/search"
	"github.com/concord-health/concord/store/sqlite"
	"github.com/concord-health/concord/terminology"
)

const (
	genderCS  = "http://hl7.org/fhir/administrative-gender"
	genderVS  = "http://hl7.org/fhir/ValueSet/administrative-gender"
	maritalCS = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
	nullCS    = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
	genderMap = "http://hl7.org/fhir/ConceptMap/cm-administrative-gender-v3"
	v3Gender  = "http://terminology.hl7.org/CodeSystem/v3-AdministrativeGender"
)

// newTerminologyServer starts Concord with a terminology the server keeps up to date with
// uploaded CodeSystems, ValueSets and ConceptMaps, as concord serve does.
func newTerminologyServer(t testing.TB) *httptest.Server {
	t.Helper()
	reg := definitions.R4()
	st, err := sqlite.OpenFile(context.Background(), filepath.Join(t.TempDir(), "concord.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ix, err := search.NewExtractor(reg)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := terminology.Core()
	if err != nil {
		t.Fatal(err)
	}
	svc := interaction.New(st, reg, ix)
	svc.UseTerminology(ts)
	for _, typ := range []string{"CodeSystem", "ValueSet", "ConceptMap"} {
		svc.OnCommit(typ, func(res *fhir.Resource) {
			if err := ts.Add(res); err != nil {
				t.Errorf("terminology: %v", err)
			}
		})
	}
	srv := httptest.NewServer(New(svc, reg, Options{MaxBody: 1 << 20}))
	t.Cleanup(srv.Close)
	return srv
}

// param returns the value[x] (as text) of the first output parameter with the name, or of
// its named part ("property/code").
func param(r reply, name string) string {
	vs := params(r, name)
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// params returns every value of an output parameter; "match/concept" reads parts.
func params(r reply, name string) []string {
	top, sub, _ := strings.Cut(name, "/")
	var out []string
	list, _ := r.body["parameter"].([]any)
	for _, p := range list {
		m, _ := p.(map[string]any)
		if m["name"] != top {
			continue
		}
		if sub == "" {
			out = append(out, valueText(m))
			continue
		}
		parts, _ := m["part"].([]any)
		for _, q := range parts {
			if pm, _ := q.(map[string]any); pm["name"] == sub {
				out = append(out, valueText(pm))
			}
		}
	}
	return out
}

func valueText(m map[string]any) string {
	for k, v := range m {
		if strings.HasPrefix(k, "value") {
			if c, ok := v.(map[string]any); ok && c["code"] != nil {
				return str(c, "system") + "|" + str(c, "code")
			}
			return str(v)
		}
		if k == "part" {
			return str(v)
		}
	}
	return ""
}

// properties returns a $lookup answer's properties as "code=value".
func properties(r reply) []string {
	var out []string
	list, _ := r.body["parameter"].([]any)
	for _, p := range list {
		m, _ := p.(map[string]any)
		if m["name"] != "property" {
			continue
		}
		var code, value string
		for _, q := range m["part"].([]any) {
			pm := q.(map[string]any)
			if pm["name"] == "code" {
				code = valueText(pm)
			} else {
				value = valueText(pm)
			}
		}
		out = append(out, code+"="+value)
	}
	return out
}

func q(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return "?" + v.Encode()
}

func parametersBody(parts ...string) string {
	return `{"resourceType":"Parameters","parameter":[` + strings.Join(parts, ",") + `]}`
}

func codingParam(name, system, code string) string {
	return fmt.Sprintf(`{"name":%q,"valueCoding":{"system":%q,"code":%q}}`, name, system, code)
}

func stringParam(name, typ, value string) string {
	return fmt.Sprintf(`{"name":%q,"value%s":%q}`, name, typ, value)
}

type termCase struct {
	name, method, path, body string
	status                   int
	// want maps an output parameter ("display", "match/concept") to a value it must have.
	want map[string]string
	// check looks further at the answer.
	check func(t *testing.T, r reply)
}

func runTermCases(t *testing.T, c *client, cases []termCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &client{t: t, base: c.base}
			r := c.must(tc.status, tc.method, tc.path, tc.body)
			if _, err := fhir.Parse([]byte(r.raw)); err != nil {
				t.Fatalf("the answer is not a valid resource: %v\n%s", err, r.raw)
			}
			if tc.status == 200 && tc.want != nil && r.body["resourceType"] != "Parameters" {
				t.Fatalf("resourceType = %v, want Parameters: %s", r.body["resourceType"], r.raw)
			}
			for k, want := range tc.want {
				if got := params(r, k); !slices.Contains(got, want) {
					t.Errorf("%s = %q, want %q among them\n%s", k, got, want, r.raw)
				}
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

// diagnostics checks that an OperationOutcome says what was wrong.
func diagnostics(fragment string) func(t *testing.T, r reply) {
	return func(t *testing.T, r reply) {
		if d := str(r.body, "issue", 0, "diagnostics"); !strings.Contains(d, fragment) {
			t.Errorf("diagnostics %q do not mention %q", d, fragment)
		}
	}
}

func TestTerminologyLookup(t *testing.T) {
	c := newClient(t) // no terminology configured: the core content is loaded on first use
	runTermCases(t, c, []termCase{
		{name: "GET", method: "GET", path: "/CodeSystem/$lookup" + q("system", genderCS, "code", "male"), status: 200,
			want: map[string]string{"name": "AdministrativeGender", "display": "Male", "version": "4.0.1", "abstract": "false"}},
		{name: "POST coding", method: "POST", path: "/CodeSystem/$lookup", status: 200,
			body: parametersBody(codingParam("coding", maritalCS, "M")),
			want: map[string]string{"display": "Married"}},
		{name: "hierarchy", method: "GET", path: "/CodeSystem/$lookup" + q("system", nullCS, "code", "UNK"), status: 200,
			check: func(t *testing.T, r reply) {
				got := properties(r)
				for _, want := range []string{"parent=NI", "child=ASKU", "child=NASK", "inactive=false"} {
					if !slices.Contains(got, want) {
						t.Errorf("properties %q lack %s", got, want)
					}
				}
			}},
		{name: "property filter", method: "GET", path: "/CodeSystem/$lookup" + q("system", nullCS, "code", "NAV", "property", "parent"), status: 200,
			check: func(t *testing.T, r reply) {
				got := properties(r)
				slices.Sort(got)
				if !slices.Equal(got, []string{"parent=ASKU", "parent=NAVU"}) {
					t.Errorf("properties = %q, want the two parents only", got)
				}
			}},
		{name: "abstract", method: "GET", path: "/CodeSystem/$lookup" + q("system", "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code", "_AgentRoleType"), status: 200,
			want: map[string]string{"abstract": "true"}},
		{name: "version held", method: "GET", path: "/CodeSystem/$lookup" + q("system", genderCS, "version", "4.0.1", "code", "female"), status: 200,
			want: map[string]string{"display": "Female"}},
		{name: "version not held", method: "GET", path: "/CodeSystem/$lookup" + q("system", genderCS, "version", "3.0.2", "code", "female"), status: 404,
			check: diagnostics("version 3.0.2")},
		{name: "unknown code", method: "GET", path: "/CodeSystem/$lookup" + q("system", genderCS, "code", "nope"), status: 404,
			check: diagnostics("'nope' is not a code of " + genderCS)},
		{name: "unknown system", method: "GET", path: "/CodeSystem/$lookup" + q("system", "http://example.org/none", "code", "x"), status: 404,
			check: diagnostics("http://example.org/none is not available")},
		{name: "no code", method: "GET", path: "/CodeSystem/$lookup" + q("system", genderCS), status: 400,
			check: diagnostics("$lookup needs code and system, or coding")},
		{name: "code without system", method: "GET", path: "/CodeSystem/$lookup" + q("code", "male"), status: 400,
			check: diagnostics("needs system")},
		{name: "code and coding", method: "POST", path: "/CodeSystem/$lookup" + q("system", genderCS, "code", "male"), status: 400,
			body: parametersBody(codingParam("coding", genderCS, "male")), check: diagnostics("not several")},
		{name: "coding in the URL", method: "GET", path: "/CodeSystem/$lookup" + q("coding", genderCS+"|male"), status: 400,
			check: diagnostics("must be a Coding")},
		{name: "body not Parameters", method: "POST", path: "/CodeSystem/$lookup", body: `{"resourceType":"Patient"}`, status: 400,
			check: diagnostics("must be a Parameters resource")},
		{name: "method", method: "DELETE", path: "/CodeSystem/$lookup", status: 405},
	})
}

func TestTerminologyValidateCode(t *testing.T) {
	c := newClient(t)
	inline := `{"name":"valueSet","resource":{"resourceType":"ValueSet","status":"active","compose":{"include":[{"system":"` + genderCS + `","concept":[{"code":"male"},{"code":"female"}]}]}}}`
	cc := `{"name":"codeableConcept","valueCodeableConcept":{"coding":[{"system":"http://example.org/x","code":"a"},{"system":"` + maritalCS + `","code":"S"}]}}`
	runTermCases(t, c, []termCase{
		{name: "CodeSystem valid", method: "GET", path: "/CodeSystem/$validate-code" + q("url", genderCS, "code", "female"), status: 200,
			want: map[string]string{"result": "true", "display": "Female"}},
		{name: "CodeSystem display", method: "GET", path: "/CodeSystem/$validate-code" + q("url", genderCS, "code", "female", "display", "female"), status: 200,
			want: map[string]string{"result": "true"}},
		{name: "CodeSystem wrong display", method: "GET", path: "/CodeSystem/$validate-code" + q("url", genderCS, "code", "female", "display", "Woman"), status: 200,
			want: map[string]string{"result": "false"}, check: func(t *testing.T, r reply) {
				if !strings.Contains(param(r, "message"), "'Woman' is not a display") {
					t.Errorf("message = %q", param(r, "message"))
				}
			}},
		{name: "CodeSystem invalid", method: "GET", path: "/CodeSystem/$validate-code" + q("url", maritalCS, "code", "Q"), status: 200,
			want: map[string]string{"result": "false"}},
		{name: "CodeSystem coding", method: "POST", path: "/CodeSystem/$validate-code", status: 200,
			body: parametersBody(codingParam("coding", maritalCS, "M")), want: map[string]string{"result": "true", "display": "Married"}},
		{name: "CodeSystem codeableConcept", method: "POST", path: "/CodeSystem/$validate-code" + q("url", maritalCS), status: 200,
			body: parametersBody(cc), want: map[string]string{"result": "true", "display": "Never Married"}},
		{name: "CodeSystem inactive", method: "GET", path: "/CodeSystem/$validate-code" + q("url", nullCS, "code", "NP"), status: 200,
			want: map[string]string{"result": "true"}, check: func(t *testing.T, r reply) {
				if !strings.Contains(param(r, "message"), "inactive") {
					t.Errorf("message = %q, want a note that NP is inactive", param(r, "message"))
				}
			}},
		{name: "CodeSystem unknown", method: "GET", path: "/CodeSystem/$validate-code" + q("url", "http://example.org/none", "code", "x"), status: 404},
		{name: "CodeSystem no url", method: "GET", path: "/CodeSystem/$validate-code" + q("code", "x"), status: 400, check: diagnostics("needs url")},
		{name: "ValueSet valid", method: "GET", path: "/ValueSet/$validate-code" + q("url", genderVS, "system", genderCS, "code", "other"), status: 200,
			want: map[string]string{"result": "true", "display": "Other"}},
		{name: "ValueSet invalid", method: "GET", path: "/ValueSet/$validate-code" + q("url", genderVS, "system", genderCS, "code", "man"), status: 200,
			want: map[string]string{"result": "false"}},
		{name: "ValueSet wrong system", method: "GET", path: "/ValueSet/$validate-code" + q("url", genderVS, "system", maritalCS, "code", "M"), status: 200,
			want: map[string]string{"result": "false"}},
		{name: "ValueSet wrong display", method: "GET", path: "/ValueSet/$validate-code" + q("url", genderVS, "system", genderCS, "code", "male", "display", "Female"), status: 200,
			want: map[string]string{"result": "false", "display": "Male"}},
		{name: "ValueSet version", method: "GET", path: "/ValueSet/$validate-code" + q("url", genderVS, "valueSetVersion", "4.0.1", "system", genderCS, "code", "male"), status: 200,
			want: map[string]string{"result": "true"}},
		{name: "ValueSet coding", method: "POST", path: "/ValueSet/$validate-code" + q("url", genderVS), status: 200,
			body: parametersBody(codingParam("coding", genderCS, "unknown")), want: map[string]string{"result": "true"}},
		{name: "ValueSet codeableConcept", method: "POST", path: "/ValueSet/$validate-code", status: 200,
			body: parametersBody(stringParam("url", "Uri", "http://hl7.org/fhir/ValueSet/marital-status"), cc), want: map[string]string{"result": "true"}},
		{name: "ValueSet inline", method: "POST", path: "/ValueSet/$validate-code", status: 200,
			body: parametersBody(inline, codingParam("coding", genderCS, "other")), want: map[string]string{"result": "false"}},
		{name: "ValueSet undecided", method: "GET", path: "/ValueSet/$validate-code" + q("url", "http://hl7.org/fhir/ValueSet/clinical-findings", "system", "http://snomed.info/sct", "code", "22298006"), status: 200,
			want: map[string]string{"result": "false"}, check: func(t *testing.T, r reply) {
				if !strings.Contains(param(r, "message"), "cannot be decided") {
					t.Errorf("message = %q", param(r, "message"))
				}
			}},
		{name: "ValueSet unknown", method: "GET", path: "/ValueSet/$validate-code" + q("url", "http://example.org/vs", "system", genderCS, "code", "male"), status: 404,
			check: diagnostics("http://example.org/vs is not held")},
		{name: "ValueSet no value set", method: "GET", path: "/ValueSet/$validate-code" + q("system", genderCS, "code", "male"), status: 400,
			check: diagnostics("needs the value set")},
		{name: "ValueSet no code", method: "GET", path: "/ValueSet/$validate-code" + q("url", genderVS), status: 400},
		{name: "ValueSet abstract flag", method: "GET", path: "/ValueSet/$validate-code" + q("url", genderVS, "system", genderCS, "code", "male", "abstract", "maybe"), status: 200,
			want: map[string]string{"result": "true"}}, // abstract is read by CodeSystem/$validate-code only
	})
}

func TestTerminologySubsumes(t *testing.T) {
	c := newClient(t)
	sub := func(a, b string) string { return "/CodeSystem/$subsumes" + q("system", nullCS, "codeA", a, "codeB", b) }
	runTermCases(t, c, []termCase{
		{name: "subsumes", method: "GET", path: sub("NI", "ASKU"), status: 200, want: map[string]string{"outcome": "subsumes"}},
		{name: "subsumed-by", method: "GET", path: sub("NAV", "NI"), status: 200, want: map[string]string{"outcome": "subsumed-by"}},
		{name: "second parent", method: "GET", path: sub("NAV", "NAVU"), status: 200, want: map[string]string{"outcome": "subsumed-by"}},
		{name: "not-subsumed", method: "GET", path: sub("MSK", "NA"), status: 200, want: map[string]string{"outcome": "not-subsumed"}},
		{name: "equivalent", method: "GET", path: sub("UNK", "UNK"), status: 200, want: map[string]string{"outcome": "equivalent"}},
		{name: "codings", method: "POST", path: "/CodeSystem/$subsumes", status: 200,
			body: parametersBody(codingParam("codingA", nullCS, "OTH"), codingParam("codingB", nullCS, "PINF")),
			want: map[string]string{"outcome": "subsumes"}},
		{name: "codings of two systems", method: "POST", path: "/CodeSystem/$subsumes", status: 400,
			body: parametersBody(codingParam("codingA", nullCS, "OTH"), codingParam("codingB", genderCS, "male")), check: diagnostics("one code system")},
		{name: "missing codeB", method: "GET", path: "/CodeSystem/$subsumes" + q("system", nullCS, "codeA", "NI"), status: 400,
			check: diagnostics("needs codeB and system, or codingB")},
		{name: "unknown code", method: "GET", path: sub("NI", "XYZ"), status: 400, check: diagnostics("'XYZ' is not a code")},
		{name: "unknown system", method: "GET", path: "/CodeSystem/$subsumes" + q("system", "http://example.org/none", "codeA", "a", "codeB", "b"), status: 404},
	})
}

func TestTerminologyExpand(t *testing.T) {
	c := newClient(t)
	vs := `{"resourceType":"ValueSet","url":"http://example.org/fhir/ValueSet/sexes","version":"1","name":"Sexes","status":"active",` +
		`"compose":{"include":[{"system":"` + genderCS + `","concept":[{"code":"female"},{"code":"male"}]}]}}`
	created := c.must(201, "POST", "/ValueSet", vs)
	id := str(created.body, "id")
	snomedVS := `{"name":"valueSet","resource":{"resourceType":"ValueSet","status":"active","compose":{"include":[{"system":"http://snomed.info/sct","filter":[{"property":"concept","op":"is-a","value":"404684003"}]}]}}}`
	codes := func(want ...string) func(t *testing.T, r reply) {
		return func(t *testing.T, r reply) {
			var got []string
			for i := 0; str(r.body, "expansion", "contains", i, "code") != ""; i++ {
				got = append(got, str(r.body, "expansion", "contains", i, "code"))
			}
			if !slices.Equal(got, want) {
				t.Errorf("codes = %q, want %q\n%s", got, want, r.raw)
			}
		}
	}
	both := func(fs ...func(t *testing.T, r reply)) func(t *testing.T, r reply) {
		return func(t *testing.T, r reply) {
			for _, f := range fs {
				f(t, r)
			}
		}
	}
	field := func(path []any, want string) func(t *testing.T, r reply) {
		return func(t *testing.T, r reply) {
			if got := str(r.body, path...); got != want {
				t.Errorf("%v = %q, want %q", path, got, want)
			}
		}
	}
	runTermCases(t, c, []termCase{
		{name: "GET", method: "GET", path: "/ValueSet/$expand" + q("url", genderVS), status: 200,
			check: both(codes("male", "female", "other", "unknown"), field([]any{"expansion", "total"}, "4"),
				field([]any{"url"}, genderVS), field([]any{"resourceType"}, "ValueSet"),
				field([]any{"expansion", "contains", 0, "system"}, genderCS), field([]any{"expansion", "contains", 0, "display"}, "Male"),
				func(t *testing.T, r reply) {
					if !strings.HasPrefix(str(r.body, "expansion", "identifier"), "urn:uuid:") || str(r.body, "expansion", "timestamp") == "" {
						t.Errorf("expansion identifier/timestamp missing: %s", r.raw)
					}
				})},
		{name: "page", method: "GET", path: "/ValueSet/$expand" + q("url", genderVS, "count", "2", "offset", "1"), status: 200,
			check: both(codes("female", "other"), field([]any{"expansion", "total"}, "4"), field([]any{"expansion", "offset"}, "1"),
				field([]any{"expansion", "parameter", 0, "name"}, "count"), field([]any{"expansion", "parameter", 0, "valueInteger"}, "2"))},
		{name: "last page", method: "GET", path: "/ValueSet/$expand" + q("url", genderVS, "count", "3", "offset", "3"), status: 200,
			check: codes("unknown")},
		{name: "count 0", method: "GET", path: "/ValueSet/$expand" + q("url", genderVS, "count", "0"), status: 200,
			check: both(codes(), field([]any{"expansion", "total"}, "4"))},
		{name: "filter", method: "GET", path: "/ValueSet/$expand" + q("url", genderVS, "filter", "fem"), status: 200,
			check: both(codes("female"), field([]any{"expansion", "total"}, "1"), field([]any{"expansion", "parameter", 0, "valueString"}, "fem"))},
		{name: "activeOnly", method: "GET", path: "/ValueSet/$expand" + q("url", "http://terminology.hl7.org/ValueSet/v3-NullFlavor", "activeOnly", "true", "filter", "not"), status: 200,
			check: codes("NA", "NASK", "NAVU")}, // "NP not present" is retired
		{name: "abstract flagged", method: "GET", path: "/ValueSet/$expand" + q("url", "http://terminology.hl7.org/ValueSet/v3-RoleCode", "filter", "AgentRoleType"), status: 200,
			check: both(codes("_AgentRoleType"), field([]any{"expansion", "contains", 0, "abstract"}, "true"))},
		{name: "POST url", method: "POST", path: "/ValueSet/$expand", status: 200,
			body: parametersBody(stringParam("url", "Uri", genderVS), `{"name":"count","valueInteger":1}`), check: codes("male")},
		{name: "POST inline", method: "POST", path: "/ValueSet/$expand", status: 200,
			body: parametersBody(`{"name":"valueSet","resource":` + vs + `}`), check: both(codes("female", "male"), field([]any{"name"}, "Sexes"))},
		{name: "instance", method: "GET", path: "/ValueSet/" + id + "/$expand" + q("count", "1", "offset", "1"), status: 200,
			check: both(codes("male"), field([]any{"id"}, id), field([]any{"url"}, "http://example.org/fhir/ValueSet/sexes"), field([]any{"expansion", "total"}, "2"))},
		{name: "instance POST", method: "POST", path: "/ValueSet/" + id + "/$expand", body: parametersBody(stringParam("filter", "String", "ma")), status: 200,
			check: codes("male")},
		{name: "instance missing", method: "GET", path: "/ValueSet/nope/$expand", status: 404},
		{name: "instance validate-code", method: "GET", path: "/ValueSet/" + id + "/$validate-code" + q("system", genderCS, "code", "male"), status: 200,
			want: map[string]string{"result": "true", "display": "Male"}},
		{name: "instance validate-code not in it", method: "GET", path: "/ValueSet/" + id + "/$validate-code" + q("system", genderCS, "code", "other"), status: 200,
			want: map[string]string{"result": "false"}},
		{name: "instance with url", method: "GET", path: "/ValueSet/" + id + "/$expand" + q("url", genderVS), status: 400},
		{name: "unknown", method: "GET", path: "/ValueSet/$expand" + q("url", "http://example.org/vs"), status: 404, check: diagnostics("is not held")},
		{name: "no value set", method: "GET", path: "/ValueSet/$expand", status: 400, check: diagnostics("needs the value set")},
		{name: "url and valueSet", method: "POST", path: "/ValueSet/$expand" + q("url", genderVS), body: parametersBody(`{"name":"valueSet","resource":` + vs + `}`), status: 400},
		{name: "count not integer", method: "GET", path: "/ValueSet/$expand" + q("url", genderVS, "count", "ten"), status: 400, check: diagnostics("non-negative integer")},
		{name: "offset negative", method: "GET", path: "/ValueSet/$expand" + q("url", genderVS, "offset", "-1"), status: 400},
		{name: "activeOnly not boolean", method: "GET", path: "/ValueSet/$expand" + q("url", genderVS, "activeOnly", "yes"), status: 400},
		{name: "count twice", method: "GET", path: "/ValueSet/$expand" + q("url", genderVS, "count", "1", "count", "2"), status: 400, check: diagnostics("more than once")},
		{name: "not enumerable", method: "POST", path: "/ValueSet/$expand", body: parametersBody(snomedVS), status: 422,
			check: both(diagnostics("snomed.info/sct"), field([]any{"issue", 0, "code"}, "not-supported"))},
	})
}

func TestTerminologyTranslate(t *testing.T) {
	c := newClient(t)
	cm := `{"resourceType":"ConceptMap","url":"http://example.org/fhir/ConceptMap/local-sex","status":"active",` +
		`"group":[{"source":"http://example.org/local-sex","target":"` + genderCS + `","element":[{"code":"1","target":[{"code":"male","equivalence":"equivalent"}]}],` +
		`"unmapped":{"mode":"provided"}}]}`
	created := c.must(201, "POST", "/ConceptMap", cm)
	id := str(created.body, "id")
	runTermCases(t, c, []termCase{
		{name: "GET url", method: "GET", path: "/ConceptMap/$translate" + q("url", genderMap, "system", genderCS, "code", "male"), status: 200,
			want: map[string]string{"result": "true", "match/equivalence": "equal", "match/concept": v3Gender + "|M", "match/source": genderMap + "|4.0.1"}},
		{name: "wider", method: "GET", path: "/ConceptMap/$translate" + q("url", genderMap, "system", genderCS, "code", "other"), status: 200,
			want: map[string]string{"match/equivalence": "wider", "match/concept": v3Gender + "|UN"}},
		{name: "every map", method: "GET", path: "/ConceptMap/$translate" + q("system", genderCS, "code", "female"), status: 200,
			want: map[string]string{"result": "true", "match/concept": v3Gender + "|F"},
			check: func(t *testing.T, r reply) {
				if got := params(r, "match/concept"); !slices.Contains(got, "http://terminology.hl7.org/CodeSystem/v2-0001|F") {
					t.Errorf("matches %q lack the v2 one", got)
				}
			}},
		{name: "targetsystem", method: "GET", path: "/ConceptMap/$translate" + q("system", genderCS, "code", "female", "targetsystem", v3Gender), status: 200,
			check: func(t *testing.T, r reply) {
				if got := params(r, "match/concept"); !slices.Equal(got, []string{v3Gender + "|F"}) {
					t.Errorf("matches = %q, want the v3 one only", got)
				}
			}},
		{name: "source and target", method: "GET", path: "/ConceptMap/$translate" + q("system", genderCS, "code", "male", "source", genderVS, "target", "http://terminology.hl7.org/ValueSet/v2-0001"), status: 200,
			want: map[string]string{"match/concept": "http://terminology.hl7.org/CodeSystem/v2-0001|M"}},
		{name: "reverse", method: "GET", path: "/ConceptMap/$translate" + q("url", genderMap, "system", v3Gender, "code", "UN", "reverse", "true"), status: 200,
			want: map[string]string{"result": "true", "match/equivalence": "narrower", "match/concept": genderCS + "|other"}},
		{name: "coding", method: "POST", path: "/ConceptMap/$translate", status: 200,
			body: parametersBody(stringParam("url", "Uri", genderMap), codingParam("coding", genderCS, "unknown")),
			want: map[string]string{"match/concept": v3Gender + "|UNK"}},
		{name: "codeableConcept", method: "POST", path: "/ConceptMap/$translate" + q("url", genderMap), status: 200,
			body: parametersBody(`{"name":"codeableConcept","valueCodeableConcept":{"coding":[{"system":"http://example.org/x","code":"q"},{"system":"` + genderCS + `","code":"female"}]}}`),
			want: map[string]string{"result": "true", "match/concept": v3Gender + "|F"}},
		{name: "disjoint", method: "GET", path: "/ConceptMap/$translate" + q("url", "http://hl7.org/fhir/ConceptMap/101", "system", "http://hl7.org/fhir/address-use", "code", "old"), status: 200,
			want: map[string]string{"result": "false", "match/equivalence": "disjoint"}},
		{name: "unmapped fixed", method: "GET", path: "/ConceptMap/$translate" + q("url", "http://hl7.org/fhir/ConceptMap/101", "system", "http://hl7.org/fhir/address-use", "code", "billing"), status: 200,
			want: map[string]string{"result": "true", "match/concept": "http://terminology.hl7.org/CodeSystem/v3-AddressUse|temp"}},
		{name: "no mapping", method: "GET", path: "/ConceptMap/$translate" + q("url", genderMap, "system", genderCS, "code", "nonbinary"), status: 200,
			want: map[string]string{"result": "false"}, check: func(t *testing.T, r reply) {
				if !strings.Contains(param(r, "message"), "has no mapping") {
					t.Errorf("message = %q", param(r, "message"))
				}
			}},
		{name: "instance", method: "GET", path: "/ConceptMap/" + id + "/$translate" + q("system", "http://example.org/local-sex", "code", "1"), status: 200,
			want: map[string]string{"result": "true", "match/concept": genderCS + "|male"}},
		{name: "instance unmapped provided", method: "GET", path: "/ConceptMap/" + id + "/$translate" + q("system", "http://example.org/local-sex", "code", "female"), status: 200,
			want: map[string]string{"result": "true", "match/concept": genderCS + "|female"}},
		{name: "inline", method: "POST", path: "/ConceptMap/$translate", status: 200,
			body: parametersBody(`{"name":"conceptMap","resource":`+cm+`}`, codingParam("coding", "http://example.org/local-sex", "1")),
			want: map[string]string{"match/concept": genderCS + "|male"}},
		{name: "unknown map", method: "GET", path: "/ConceptMap/$translate" + q("url", "http://example.org/cm", "system", genderCS, "code", "male"), status: 404,
			check: diagnostics("http://example.org/cm is not held")},
		{name: "no code", method: "GET", path: "/ConceptMap/$translate" + q("url", genderMap, "system", genderCS), status: 400},
		{name: "code without system", method: "GET", path: "/ConceptMap/$translate" + q("url", genderMap, "code", "male"), status: 400, check: diagnostics("needs system")},
		{name: "reverse not boolean", method: "GET", path: "/ConceptMap/$translate" + q("url", genderMap, "system", genderCS, "code", "male", "reverse", "1"), status: 400},
	})
}

// TestTerminologyUploads checks that resources written through the API are answered for
// by url once the server takes them up.
func TestTerminologyUploads(t *testing.T) {
	srv := newTerminologyServer(t)
	c := &client{t: t, base: srv.URL + "/fhir"}
	cs := `{"resourceType":"CodeSystem","id":"colours","url":"http://example.org/colours","version":"2","name":"Colours","status":"active","content":"complete",` +
		`"concept":[{"code":"warm","display":"Warm","concept":[{"code":"red","display":"Red","designation":[{"language":"fr","value":"Rouge"}]},{"code":"amber","display":"Amber"}]},{"code":"blue","display":"Blue"}]}`
	vs := `{"resourceType":"ValueSet","url":"http://example.org/vs/warm","status":"active","compose":{"include":[{"system":"http://example.org/colours","filter":[{"property":"concept","op":"is-a","value":"warm"}]}]}}`
	cm := `{"resourceType":"ConceptMap","url":"http://example.org/cm/colours","status":"active","group":[{"source":"http://example.org/colours","target":"http://example.org/lights","element":[{"code":"red","target":[{"code":"stop","equivalence":"equivalent"}]}]}]}`
	c.must(201, "PUT", "/CodeSystem/colours", cs)
	c.must(201, "POST", "/ValueSet", vs)
	c.must(201, "POST", "/ConceptMap", cm)
	runTermCases(t, c, []termCase{
		{name: "lookup", method: "GET", path: "/CodeSystem/$lookup" + q("system", "http://example.org/colours", "code", "red", "displayLanguage", "fr"), status: 200,
			want: map[string]string{"name": "Colours", "version": "2", "display": "Rouge", "designation/value": "Rouge", "designation/language": "fr"}},
		{name: "instance lookup", method: "GET", path: "/CodeSystem/colours/$lookup" + q("code", "amber"), status: 200,
			want: map[string]string{"display": "Amber"}},
		{name: "instance subsumes", method: "GET", path: "/CodeSystem/colours/$subsumes" + q("codeA", "warm", "codeB", "red"), status: 200,
			want: map[string]string{"outcome": "subsumes"}},
		{name: "instance validate-code", method: "GET", path: "/CodeSystem/colours/$validate-code" + q("code", "blue"), status: 200,
			want: map[string]string{"result": "true", "display": "Blue"}},
		{name: "expand", method: "GET", path: "/ValueSet/$expand" + q("url", "http://example.org/vs/warm", "includeDesignations", "true"), status: 200,
			check: func(t *testing.T, r reply) {
				if str(r.body, "expansion", "total") != "3" || str(r.body, "expansion", "contains", 1, "designation", 0, "value") != "Rouge" {
					t.Errorf("expansion: %s", r.raw)
				}
			}},
		{name: "validate-code", method: "GET", path: "/ValueSet/$validate-code" + q("url", "http://example.org/vs/warm", "system", "http://example.org/colours", "code", "blue"), status: 200,
			want: map[string]string{"result": "false"}},
		{name: "translate", method: "GET", path: "/ConceptMap/$translate" + q("system", "http://example.org/colours", "code", "red"), status: 200,
			want: map[string]string{"result": "true", "match/concept": "http://example.org/lights|stop"}},
	})
}

func TestTerminologyCapabilities(t *testing.T) {
	c := newClient(t)
	r := c.must(200, "GET", "/metadata", "")
	want := map[string][]string{
		"CodeSystem": {"http://hl7.org/fhir/OperationDefinition/CodeSystem-lookup", "http://hl7.org/fhir/OperationDefinition/CodeSystem-validate-code", "http://hl7.org/fhir/OperationDefinition/CodeSystem-subsumes"},
		"ValueSet":   {"http://hl7.org/fhir/OperationDefinition/ValueSet-expand", "http://hl7.org/fhir/OperationDefinition/ValueSet-validate-code"},
		"ConceptMap": {"http://hl7.org/fhir/OperationDefinition/ConceptMap-translate"},
	}
	for i := 0; str(r.body, "rest", 0, "resource", i, "type") != ""; i++ {
		typ := str(r.body, "rest", 0, "resource", i, "type")
		var got []string
		for j := 0; str(r.body, "rest", 0, "resource", i, "operation", j, "name") != ""; j++ {
			got = append(got, str(r.body, "rest", 0, "resource", i, "operation", j, "definition"))
		}
		for _, w := range want[typ] {
			if !slices.Contains(got, w) {
				t.Errorf("%s operations %q lack %s", typ, got, w)
			}
		}
		delete(want, typ)
	}
	if len(want) > 0 {
		t.Errorf("resources missing from the CapabilityStatement: %v", want)
	}
	// The XML form goes through the resource parser: the operations must be valid there too.
	resp, err := http.Get(c.base + "/ValueSet/$expand" + q("url", genderVS, "_format", "xml"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "<ValueSet") {
		t.Errorf("XML $expand: status %d\n%s", resp.StatusCode, body)
	}
}

// BenchmarkTerminologyHTTP measures $lookup and $validate-code over a real HTTP server,
// one request at a time on a kept-alive connection, reporting latency percentiles.
func BenchmarkTerminologyHTTP(b *testing.B) {
	srv := newTerminologyServer(b)
	base := srv.URL + "/fhir"
	for _, bc := range []struct{ name, path string }{
		{"lookup", "/CodeSystem/$lookup" + q("system", maritalCS, "code", "M")},
		{"validate-code-codesystem", "/CodeSystem/$validate-code" + q("url", genderCS, "code", "female")},
		{"validate-code-valueset", "/ValueSet/$validate-code" + q("url", "http://hl7.org/fhir/ValueSet/marital-status", "system", maritalCS, "code", "M")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			client := srv.Client()
			get := func() {
				resp, err := client.Get(base + bc.path)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			get() // compile the value set and open the connection outside the timing
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				get()
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
			b.ReportMetric(pct(0.50), "p50-µs")
			b.ReportMetric(pct(0.99), "p99-µs")
		})
	}
}
