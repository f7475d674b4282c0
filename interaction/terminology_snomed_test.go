package interaction_test

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/interaction"
	"github.com/concord-health/concord/terminology"
	"github.com/concord-health/concord/terminology/snomed"
)

// miniSNOMED is a terminology holding the mini RF2 release of the shared test data (the
// test skips without it).
func miniSNOMED(t *testing.T) *terminology.Service {
	t.Helper()
	const release = "../../shared/data/snomed-rf2-test/dummy-snomed-content/SnomedCT_MiniRF2"
	if _, err := os.Stat(release); err != nil {
		t.Skipf("SNOMED CT test fixtures not found at %s", release)
	}
	e, err := snomed.Load(t.Context(), []string{release}, snomed.Options{NoCheckDigits: true})
	if err != nil {
		t.Fatal(err)
	}
	ts := terminology.New()
	ts.AddProvider(snomed.NewProvider(e))
	return ts
}

// TestSNOMEDImplicitValueSets runs $expand and $validate-code on SNOMED CT implicit value
// sets over the mini RF2 release, including the 400 for invalid ECL.
func TestSNOMEDImplicitValueSets(t *testing.T) {
	ts := miniSNOMED(t)
	svc := writeCheckService(t, "off", "")
	svc.UseTerminology(ts)
	ctx := context.Background()
	caps := svc.TerminologyCapabilities(ctx)
	if want := `{"uri":"http://snomed.info/sct","version":[{"code":"http://snomed.info/sct/900000000000207008/version/20210131","isDefault":true}]}`; caps.Status != 200 || !strings.Contains(string(caps.Body), want) {
		t.Errorf("TerminologyCapabilities lacks %s\n%s", want, caps.Body)
	}
	vs := func(s string) string { return url.QueryEscape("http://snomed.info/sct?fhir_vs=" + s) }
	for _, tc := range []struct {
		name, path, query string
		status            int
		want              []string // fragments of the answer
	}{
		{"expand isa", "ValueSet/$expand", "url=" + vs("isa/404684003"), 200,
			[]string{`"total":2`, `"code":"362969004"`, `"url":"http://snomed.info/sct?fhir_vs=isa/404684003"`}},
		{"expand isa paged", "ValueSet/$expand", "url=" + vs("isa/404684003") + "&count=1&offset=1", 200,
			[]string{`"total":2`, `"offset":1`}},
		{"expand ecl", "ValueSet/$expand", "url=" + vs("ecl/"+url.PathEscape("<< 404684003 : 363698007 = 113331007")), 200,
			[]string{`"total":1`, `"code":"362969004"`}},
		{"search all", "ValueSet/$expand", "url=" + url.QueryEscape("http://snomed.info/sct?fhir_vs") + "&filter=endocrine&count=5", 200,
			[]string{`"total":2`, `"code":"362969004","display":"Disorder of endocrine system (disorder)"},{`, `"code":"113331007"`}},
		{"search a branch", "ValueSet/$expand", "url=" + vs("isa/404684003") + "&filter=endoc%20dis", 200,
			[]string{`"total":1`, `"code":"362969004"`}},
		{"search, first page of more", "ValueSet/$expand", "url=" + url.QueryEscape("http://snomed.info/sct?fhir_vs") + "&filter=endocrine&count=1", 200,
			[]string{`"offset":0`, `"code":"362969004"`}},
		{"expand all", "ValueSet/$expand", "url=" + url.QueryEscape("http://snomed.info/sct?fhir_vs"), 422,
			[]string{"too-costly"}},
		{"expand bad ecl", "ValueSet/$expand", "url=" + vs("ecl/"+url.PathEscape("<< 404684003 :")), 400,
			[]string{`"code":"invalid"`, "at 14"}},
		{"validate bad ecl", "ValueSet/$validate-code", "url=" + vs("ecl/<< 404684003 AND (") + "&system=http://snomed.info/sct&code=362969004", 400,
			[]string{`"code":"invalid"`, "at 18"}},
		{"validate isa", "ValueSet/$validate-code", "url=" + vs("isa/404684003") + "&system=http://snomed.info/sct&code=362969004", 200,
			[]string{`"valueBoolean":true`}},
		{"validate isa not", "ValueSet/$validate-code", "url=" + vs("isa/404684003") + "&system=http://snomed.info/sct&code=113331007", 200,
			[]string{`"valueBoolean":false`}},
		{"edition not held", "ValueSet/$expand", "url=" + url.QueryEscape("http://snomed.info/sct/83821000000107?fhir_vs=isa/404684003"), 404,
			[]string{"not-found"}},
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
			for _, w := range tc.want {
				if !strings.Contains(string(resp.Body), w) {
					t.Errorf("answer lacks %s\n%s", w, resp.Body)
				}
			}
			if _, err := fhir.Parse(resp.Body); err != nil {
				t.Fatalf("the answer is not a valid resource: %v\n%s", err, resp.Body)
			}
		})
	}
}
