package main

import (
	"bytes"
	"context"
	"io"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/concord-health/concord/interaction"
)

// TestTerminologyLoadSNOMED loads the mini RF2 release into a data directory and checks that
// a service opened on it answers SNOMED CT lookups and subsumption.
func TestTerminologyLoadSNOMED(t *testing.T) {
	const release = "../../../shared/data/snomed-rf2-test/dummy-snomed-content/SnomedCT_MiniRF2"
	if _, err := os.Stat(release); err != nil {
		t.Skipf("SNOMED CT test release not found at %s", release)
	}
	data := t.TempDir()
	var errOut bytes.Buffer
	if err := terminologyCmd([]string{"load", "snomed", "--data", data, "--no-check-digits", release}, &errOut); err != nil {
		t.Fatalf("load: %v\n%s", err, errOut.String())
	}
	// Hand-made ids fail the check digit test without --no-check-digits: the load is refused.
	if err := terminologyCmd([]string{"load", "snomed", "--data", t.TempDir(), release}, io.Discard); err == nil {
		t.Error("a release with invalid SCTIDs loaded")
	}

	ctx := context.Background()
	svc, _ := openValidating(t, data, conformanceConfig{}, interaction.ValidateOff)
	get := func(path string, q url.Values) string {
		r := svc.Do(ctx, &interaction.Request{Method: "GET", Path: path, Query: q})
		if r.Status != 200 {
			t.Fatalf("%s %v: %d %s", path, q, r.Status, r.Body)
		}
		return string(r.Body)
	}
	body := get("CodeSystem/$lookup", url.Values{"system": {"http://snomed.info/sct"}, "code": {"362969004"}})
	if !strings.Contains(body, "Disorder of endocrine system") {
		t.Errorf("$lookup: %s", body)
	}
	body = get("CodeSystem/$subsumes", url.Values{"system": {"http://snomed.info/sct"}, "codeA": {"404684003"}, "codeB": {"362969004"}})
	if !strings.Contains(body, `"valueCode":"subsumes"`) {
		t.Errorf("$subsumes: %s", body)
	}
}

func TestTerminologyCommandErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"load"}, {"load", "loinc", "x"}, {"load", "snomed"}, {"load", "snomed", "--module", "abc", "x"}} {
		if err := terminologyCmd(args, io.Discard); err == nil {
			t.Errorf("terminology %v: no error", args)
		}
	}
}
