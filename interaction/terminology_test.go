package interaction_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/interaction"
	"github.com/concord-health/concord/terminology"
)

// TestTerminologyOperations runs the operations in process against a terminology holding
// one code system, which also shows that UseTerminology replaces the core content.
func TestTerminologyOperations(t *testing.T) {
	svc := writeCheckService(t, "off", "")
	ts := terminology.New()
	res, err := fhir.Parse([]byte(`{"resourceType":"CodeSystem","url":"http://example.org/cs","name":"Example","status":"active","content":"complete",
	 "concept":[{"code":"a","display":"A","concept":[{"code":"b","display":"B"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.Add(res); err != nil {
		t.Fatal(err)
	}
	ts.AddProvider(huge{})
	svc.UseTerminology(ts)
	ctx := context.Background()
	for _, tc := range []struct {
		name, method, path, query, body string
		prefer                          string
		status                          int
		want                            string // a fragment of the answer
	}{
		{name: "lookup", method: "GET", path: "CodeSystem/$lookup", query: "system=http://example.org/cs&code=b", status: 200, want: `"valueString":"B"`},
		{name: "canonical JSON", method: "GET", path: "CodeSystem/$lookup", query: "system=http://example.org/cs&code=b", status: 200, want: `{"resourceType":"Parameters","parameter":[{"name":"name"`},
		{name: "lookup parent", method: "GET", path: "CodeSystem/$lookup", query: "system=http://example.org/cs&code=b&property=inactive,parent", status: 200, want: `"valueCode":"a"`},
		{name: "core not loaded", method: "GET", path: "CodeSystem/$lookup", query: "system=http://hl7.org/fhir/administrative-gender&code=male", status: 404, want: "not available"},
		{name: "POST body and query", method: "POST", path: "CodeSystem/$subsumes", query: "system=http://example.org/cs",
			body: `{"resourceType":"Parameters","parameter":[{"name":"codeA","valueCode":"a"},{"name":"codeB","valueCode":"b"}]}`, status: 200, want: `"valueCode":"subsumes"`},
		{name: "POST without body", method: "POST", path: "CodeSystem/$validate-code", query: "url=http://example.org/cs&code=a", status: 200, want: `"valueBoolean":true`},
		{name: "malformed body", method: "POST", path: "CodeSystem/$lookup", body: `{"resourceType":`, status: 400, want: "invalid JSON"},
		{name: "string where Coding", method: "POST", path: "CodeSystem/$lookup",
			body: `{"resourceType":"Parameters","parameter":[{"name":"coding","valueString":"x"}]}`, status: 400, want: "must be a Coding"},
		{name: "Coding where string", method: "POST", path: "CodeSystem/$lookup",
			body: `{"resourceType":"Parameters","parameter":[{"name":"code","valueCoding":{"code":"a"}}]}`, status: 400, want: "must be a primitive"},
		{name: "coding without code", method: "POST", path: "CodeSystem/$lookup",
			body: `{"resourceType":"Parameters","parameter":[{"name":"coding","valueCoding":{"system":"http://example.org/cs"}}]}`, status: 400, want: "has no code"},
		{name: "unknown parameter", method: "GET", path: "CodeSystem/$lookup", query: "system=http://example.org/cs&code=a&colour=red", status: 200, want: `"valueString":"A"`},
		{name: "unknown parameter strict", method: "GET", path: "CodeSystem/$lookup", query: "system=http://example.org/cs&code=a&colour=red", prefer: "strict", status: 400, want: "unknown $lookup parameter colour"},
		{name: "instance not found", method: "GET", path: "CodeSystem/none/$lookup", query: "code=a", status: 404},
		{name: "instance bad id", method: "GET", path: "ValueSet/b@d/$expand", status: 400, want: "invalid resource id"},
		{name: "method", method: "PUT", path: "ValueSet/$expand", status: 405},
		{name: "operation of another type", method: "GET", path: "ValueSet/$lookup", status: 404},
		{name: "expand unknown", method: "GET", path: "ValueSet/$expand", query: "url=http://example.org/vs", status: 404, want: "not-found"},
		{name: "expand inline", method: "POST", path: "ValueSet/$expand",
			body:   `{"resourceType":"Parameters","parameter":[{"name":"valueSet","resource":{"resourceType":"ValueSet","status":"active","compose":{"include":[{"system":"http://example.org/cs","filter":[{"property":"concept","op":"descendent-of","value":"a"}]}]}}}]}`,
			status: 200, want: `"code":"b"`},
		{name: "valueSet not a ValueSet", method: "POST", path: "ValueSet/$expand",
			body:   `{"resourceType":"Parameters","parameter":[{"name":"valueSet","resource":{"resourceType":"CodeSystem","status":"active","content":"complete"}}]}`,
			status: 400, want: "must be a ValueSet"},
		{name: "too costly", method: "POST", path: "ValueSet/$expand",
			body:   `{"resourceType":"Parameters","parameter":[{"name":"valueSet","resource":{"resourceType":"ValueSet","status":"active","compose":{"include":[{"system":"http://example.org/huge"}]}}}]}`,
			status: 422, want: "too-costly"},
		{name: "huge validate-code", method: "POST", path: "ValueSet/$validate-code", query: "system=http://example.org/huge&code=7",
			body:   `{"resourceType":"Parameters","parameter":[{"name":"valueSet","resource":{"resourceType":"ValueSet","status":"active","compose":{"include":[{"system":"http://example.org/huge"}]}}}]}`,
			status: 200, want: `"valueBoolean":true`},
		{name: "no hierarchy", method: "GET", path: "CodeSystem/$subsumes", query: "system=http://example.org/huge&codeA=1&codeB=2", status: 422, want: "has no hierarchy"},
		{name: "translate no maps", method: "GET", path: "ConceptMap/$translate", query: "system=http://example.org/cs&code=a", status: 200, want: "no concept map translates from"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			resp := svc.Do(ctx, &interaction.Request{Method: tc.method, Path: tc.path, Query: q, Body: []byte(tc.body),
				Prefer: interaction.Prefer{Handling: tc.prefer}})
			if resp.Status != tc.status || !strings.Contains(string(resp.Body), tc.want) {
				t.Fatalf("status %d, want %d with %q\n%s", resp.Status, tc.status, tc.want, resp.Body)
			}
			var v map[string]any
			if err := json.Unmarshal(resp.Body, &v); err != nil {
				t.Fatal(err)
			}
			if _, err := fhir.Parse(resp.Body); err != nil {
				t.Fatalf("the answer is not a valid resource: %v\n%s", err, resp.Body)
			}
		})
	}
}

// huge is a code system too large to list: every decimal number is a code.
type huge struct{}

func (huge) URL() string         { return "http://example.org/huge" }
func (huge) Version() string     { return "" }
func (huge) Complete() bool      { return true }
func (huge) CaseSensitive() bool { return true }

func (huge) Lookup(_ context.Context, code string) (terminology.Concept, bool, error) {
	if _, err := strconv.ParseUint(code, 10, 64); err != nil {
		return terminology.Concept{}, false, nil
	}
	return terminology.Concept{Code: code, Display: "number " + code}, true, nil
}

func (huge) Filter(context.Context, string, string, string) (terminology.ConceptFilter, error) {
	return nil, terminology.ErrUnsupportedFilter
}

func (huge) Concepts(context.Context, func(terminology.Concept) bool) error {
	return fmt.Errorf("%w: every number", terminology.ErrNotEnumerable)
}
