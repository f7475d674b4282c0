package interaction_test

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/interaction"
)

// TestTerminologySearchModifiers runs token searches with :in, :not-in, :above and :below
// over SNOMED CT (the mini RF2 release) and a held value set, through chains and _has too.
func TestTerminologySearchModifiers(t *testing.T) {
	ts := miniSNOMED(t)
	vs, err := fhir.Parse([]byte(`{"resourceType":"ValueSet","url":"http://example.org/vs/body-structures","status":"active",
		"compose":{"include":[{"system":"http://snomed.info/sct","concept":[{"code":"113331007"}]}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.Add(vs); err != nil {
		t.Fatal(err)
	}
	svc := writeCheckService(t, "off", "")
	svc.UseTerminology(ts)
	ctx := context.Background()
	condition := func(id, patient, system, code string) string {
		return `{"resourceType":"Condition","id":"` + id + `","subject":{"reference":"Patient/` + patient + `"},
			"code":{"coding":[{"system":"` + system + `","code":"` + code + `"}]}}`
	}
	const sct, loinc = "http://snomed.info/sct", "http://loinc.org"
	for _, r := range []string{
		`{"resourceType":"Patient","id":"p1"}`, `{"resourceType":"Patient","id":"p2"}`,
		condition("finding", "p1", sct, "404684003"),
		condition("disorder", "p1", sct, "362969004"),
		condition("structure", "p2", sct, "113331007"),
		condition("loinc", "p2", loinc, "362969004"),
		`{"resourceType":"Encounter","id":"e1","status":"finished","class":{"code":"AMB"},"diagnosis":[{"condition":{"reference":"Condition/disorder"}}]}`,
	} {
		res, err := fhir.Parse([]byte(r))
		if err != nil {
			t.Fatal(err)
		}
		resp := svc.Do(ctx, &interaction.Request{Method: "PUT", Path: res.Type + "/" + res.ID, Body: []byte(r)})
		if resp.Status >= 300 {
			t.Fatalf("%s: %d %s", res.ID, resp.Status, resp.Body)
		}
	}
	isa := url.QueryEscape(sct + "?fhir_vs=isa/404684003")
	for _, tc := range []struct {
		name, path, query string
		status            int
		want              []string // ids, or fragments of the OperationOutcome
	}{
		{"below", "Condition", "code:below=" + sct + "|404684003", 200, []string{"disorder", "finding"}},
		{"below a leaf", "Condition", "code:below=" + sct + "|362969004", 200, []string{"disorder"}},
		{"above", "Condition", "code:above=" + sct + "|362969004", 200, []string{"disorder", "finding"}},
		{"below an unknown code matches itself", "Condition", "code:below=" + sct + "|999999999", 200, nil},
		{"in an implicit value set", "Condition", "code:in=" + isa, 200, []string{"disorder", "finding"}},
		{"in a held value set", "Condition", "code:in=http://example.org/vs/body-structures", 200, []string{"structure"}},
		{"in either", "Condition", "code:in=" + isa + ",http://example.org/vs/body-structures", 200, []string{"disorder", "finding", "structure"}},
		{"not-in", "Condition", "code:not-in=" + isa, 200, []string{"loinc", "structure"}},
		{"with another filter", "Condition", "code:below=" + sct + "|404684003&subject=Patient/p2", 200, nil},
		{"reverse chain", "Patient", "_has:Condition:subject:code:below=" + sct + "|404684003", 200, []string{"p1"}},
		{"chain", "Encounter", "diagnosis:Condition.code:below=" + sct + "|404684003", 200, []string{"e1"}},
		{"chain no match", "Encounter", "diagnosis:Condition.code:in=http://example.org/vs/body-structures", 200, nil},
		{"unknown value set", "Condition", "code:in=http://example.org/vs/nope", 400, []string{"code:in", "not-supported"}},
		{"code system not held", "Condition", "code:below=" + loinc + "|1234-5", 400, []string{"code:below", "LOINC"}},
		{"no system", "Condition", "code:below=404684003", 400, []string{"system|code"}},
		{"too costly", "Condition", "code:in=" + url.QueryEscape(sct+"?fhir_vs"), 400, []string{"too-costly"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			resp := svc.Do(ctx, &interaction.Request{Method: "GET", Path: tc.path, Query: q})
			if resp.Status != tc.status {
				t.Fatalf("status %d, want %d\n%s", resp.Status, tc.status, resp.Body)
			}
			if tc.status != 200 {
				for _, w := range tc.want {
					if !strings.Contains(string(resp.Body), w) {
						t.Errorf("answer lacks %s\n%s", w, resp.Body)
					}
				}
				return
			}
			var b struct {
				Entry []struct{ Resource struct{ ID string } }
			}
			if err := json.Unmarshal(resp.Body, &b); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range b.Entry {
				got = append(got, e.Resource.ID)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}

	// A conditional update finds its target through the terminology too.
	body := condition("ignored", "p2", sct, "113331007")
	body = strings.Replace(body, `"id":"ignored",`, "", 1)
	resp := svc.Do(ctx, &interaction.Request{Method: "PUT", Path: "Condition",
		Query: url.Values{"code:in": {"http://example.org/vs/body-structures"}, "subject": {"Patient/p2"}}, Body: []byte(body)})
	if resp.Status != 200 {
		t.Fatalf("conditional update: %d %s", resp.Status, resp.Body)
	}
	if !strings.Contains(resp.Location, "Condition/structure/") {
		t.Errorf("conditional update wrote %s, want Condition/structure", resp.Location)
	}
}
