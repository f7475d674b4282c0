package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestValidateCmd(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		valid   []bool
		wantErr error
		// want is text each file's outcome must contain, in file order.
		want []string
	}{
		{"valid, with a warning", []string{"testdata/patient.json"}, []bool{true}, nil, []string{`dom-6`}},
		{"missing status", []string{"testdata/observation-no-status.json"}, []bool{false}, errInvalid, []string{`"expression":["Observation.status"]`}},
		{"broken JSON", []string{"testdata/broken.json"}, []bool{false}, errInvalid, []string{`"severity":"error"`}},
		{"XML, with a warning", []string{"testdata/patient.xml"}, []bool{true}, nil, []string{`dom-6`}},
		{"XML missing status", []string{"testdata/observation-no-status.xml"}, []bool{false}, errInvalid, []string{`"expression":["Observation.status"]`}},
		{"broken XML", []string{"testdata/broken.xml"}, []bool{false}, errInvalid, []string{`"code":"invalid","diagnostics":"invalid XML`}},
		{"JSON and XML", []string{"testdata/patient.json", "testdata/patient.xml"}, []bool{true, true}, nil, nil},
		{"missing file", []string{"testdata/none.json"}, []bool{false}, errInvalid, []string{`"code":"processing"`}},
		{"several", []string{"testdata/patient.json", "testdata/observation-no-status.json"}, []bool{true, false}, errInvalid, nil},
		{"core profile", []string{"--profile", "http://hl7.org/fhir/StructureDefinition/Patient", "testdata/patient.json"}, []bool{true}, nil, nil},
		{"profile not loaded", []string{"--profile", "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient", "testdata/patient.json"}, []bool{false}, errInvalid, []string{`"code":"not-found"`}},
		{"unknown extension", []string{"testdata/patient-foreign-extension.json"}, []bool{false}, errInvalid, []string{`could not be found`}},
		{"unknown extension as a warning", []string{"--unknown-extensions", "warning", "testdata/patient-foreign-extension.json"}, []bool{true}, nil, []string{`"severity":"warning"`}},
		{"profile from a package", []string{"--packages", "testdata/package", "--profile", "http://example.org/fhir/StructureDefinition/gendered-patient", "testdata/patient-no-gender.json", "testdata/patient.json"}, []bool{false, true}, errInvalid, []string{`Patient.gender`, `dom-6`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := validateCmd(tc.args, &out, &errOut)
			if !errors.Is(err, tc.wantErr) && !(err == nil && tc.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if len(lines) != len(tc.valid) {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), len(tc.valid), out.String())
			}
			for i, l := range lines {
				var got struct {
					File    string
					Valid   bool
					Outcome struct{ ResourceType string }
				}
				if err := json.Unmarshal([]byte(l), &got); err != nil {
					t.Fatalf("line %d is not JSON: %v\n%s", i, err, l)
				}
				if got.Valid != tc.valid[i] || got.Outcome.ResourceType != "OperationOutcome" {
					t.Errorf("line %d: %s", i, l)
				}
				if i < len(tc.want) && !strings.Contains(l, tc.want[i]) {
					t.Errorf("line %d lacks %s: %s", i, tc.want[i], l)
				}
			}
		})
	}
	if err := validateCmd(nil, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Error("no files: no error")
	}
}

func TestValidateMissingPackage(t *testing.T) {
	var out, errOut bytes.Buffer
	err := validateCmd([]string{"--packages", "testdata/none", "testdata/patient.json"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "testdata/none") || out.Len() != 0 {
		t.Errorf("err %v, output %q", err, out.String())
	}
}
