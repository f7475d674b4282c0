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
	for _, args := range [][]string{{}, {"load"}, {"load", "loinc", "x"}, {"load", "snomed"}, {"load", "icd10"}, {"load", "opcs4", "--data", t.TempDir(), "/nonexistent"}, {"load", "snomed", "--module", "abc", "x"}} {
		if err := terminologyCmd(args, io.Discard); err == nil {
			t.Errorf("terminology %v: no error", args)
		}
	}
}

// TestTerminologyLoadClassifications loads ICD-10, OPCS-4 and a SNOMED CT release with map
// refsets into one data directory; a service opened on it looks codes up in each and
// translates SNOMED CT to ICD-10 with the classification's displays.
func TestTerminologyLoadClassifications(t *testing.T) {
	data := t.TempDir()
	for _, args := range [][]string{
		{"load", "icd10", "--data", data, "../../terminology/icd10/testdata/nhs"},
		{"load", "opcs4", "--data", data, "../../terminology/opcs4/testdata/release"},
		{"load", "snomed", "--data", data, "../../terminology/snomed/testdata/maps"},
		{"load", "dmd", "--data", data, "../../terminology/dmd/testdata/release"},
	} {
		var errOut bytes.Buffer
		if err := terminologyCmd(args, &errOut); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errOut.String())
		}
	}
	ctx := context.Background()
	svc, _ := openValidating(t, data, conformanceConfig{}, interaction.ValidateOff)
	for _, tc := range []struct {
		path  string
		query url.Values
		want  []string
	}{
		{"CodeSystem/$lookup", url.Values{"system": {"http://hl7.org/fhir/sid/icd-10-uk"}, "code": {"A00.1"}},
			[]string{"Cholera due to Vibrio cholerae 01, biovar eltor"}},
		{"CodeSystem/$lookup", url.Values{"system": {"http://fhir.hl7.org.uk/CodeSystem/OPCS-4"}, "code": {"A01.1"}},
			[]string{"Hemispherectomy"}},
		{"CodeSystem/$lookup", url.Values{"system": {"https://dmd.nhs.uk"}, "code": {"90332006"}},
			[]string{`"valueString":"Paracetamol"`, `"valueCode":"VTM"`}},
		{"CodeSystem/$subsumes", url.Values{"system": {"https://dmd.nhs.uk"}, "codeA": {"90332006"}, "codeB": {"90332006"}},
			[]string{`"valueCode":"equivalent"`}},
		{"CodeSystem/$subsumes", url.Values{"system": {"http://hl7.org/fhir/sid/icd-10-uk"}, "codeA": {"A00"}, "codeB": {"A00.9"}},
			[]string{`"valueCode":"subsumes"`}},
		{"ConceptMap/$translate", url.Values{"system": {"http://snomed.info/sct"}, "code": {"404684003"}, "targetsystem": {"http://hl7.org/fhir/sid/icd-10-uk"}},
			[]string{`"valueBoolean":true`, `"code":"R69","display":"Illness, unspecified"`, `"valueUri":"http://snomed.info/sct?fhir_cm=999002271000000101`}},
	} {
		r := svc.Do(ctx, &interaction.Request{Method: "GET", Path: tc.path, Query: tc.query})
		if r.Status != 200 {
			t.Fatalf("%s %v: %d %s", tc.path, tc.query, r.Status, r.Body)
		}
		for _, w := range tc.want {
			if !strings.Contains(string(r.Body), w) {
				t.Errorf("%s %v lacks %s\n%s", tc.path, tc.query, w, r.Body)
			}
		}
	}
}
