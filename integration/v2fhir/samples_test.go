package v2fhir

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/fhir/validation"
	"github.com/concord-health/concord/integration/hl7v2"
	"github.com/concord-health/concord/interaction"
)

// sampleDirs hold public sample messages outside the repository (see
// ../shared/data/README.md).
var sampleDirs = []string{
	"../../../shared/data/hl7v2-microsoft/messages",
	"../../../shared/data/hl7v2-to-fhir-ig/extracted-messages",
}

var testOpts = Options{Organization: "RXA"}

var (
	validatorOnce sync.Once
	validator     *validation.Validator
	validatorErr  error
)

func coreValidator(t testing.TB) *validation.Validator {
	t.Helper()
	validatorOnce.Do(func() { validator, validatorErr = validation.New(definitions.R4()) })
	if validatorErr != nil {
		t.Fatal(validatorErr)
	}
	return validator
}

// checkBundle parses and validates a mapped Bundle; any error-level issue fails.
func checkBundle(t *testing.T, body []byte) *fhir.Resource {
	t.Helper()
	res, err := fhir.Parse(body)
	if err != nil {
		t.Fatalf("fhir.Parse: %v\n%.3000s", err, body)
	}
	issues := coreValidator(t).Validate(res)
	if validation.HasErrors(issues) {
		for _, i := range issues {
			if i.Severity == fhir.SeverityError || i.Severity == fhir.SeverityFatal {
				t.Errorf("%s: %s %v", i.Severity, i.Diagnostics, i.Expression)
			}
		}
		t.Logf("bundle: %.3000s", body)
	}
	return res
}

func parseFile(t *testing.T, path string) *hl7v2.Message {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := hl7v2.Parse(data)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return msg
}

// TestSampleMessages maps every sample message: supported types must map
// to a Bundle that parses, validates and applies; others must be refused
// as unsupported.
func TestSampleMessages(t *testing.T) {
	var files []string
	for _, dir := range sampleDirs {
		m, _ := filepath.Glob(filepath.Join(dir, "*.hl7"))
		if len(m) == 0 {
			t.Logf("no sample messages in %s (the shared data folder is absent here)", dir)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Skip("sample messages not found: ../shared/data is absent")
	}
	mapped := 0
	svc := testService(t) // every sample is also applied, in turn, to one server
	for _, f := range files {
		t.Run(filepath.Base(filepath.Dir(filepath.Dir(f)))+"/"+filepath.Base(f), func(t *testing.T) {
			msg := parseFile(t, f)
			code, event, _ := msg.Type()
			r, err := Map(msg, testOpts)
			if !slices.Contains(Supported(), code+"^"+event) {
				me, ok := err.(*MapError)
				if !ok || me.Code != hl7v2.CodeUnsupportedMessageType {
					t.Fatalf("%s^%s: got %v, want an unsupported-type error", code, event, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s^%s: %v", code, event, err)
			}
			mapped++
			checkBundle(t, r.Bundle)
			resp := svc.Do(context.Background(), &interaction.Request{Method: "POST", Body: r.Bundle})
			if resp.Status != 200 {
				t.Errorf("transaction: status %d: %.2000s", resp.Status, resp.Body)
			}
			if r.PatientKey == "" || !strings.Contains(r.PatientKey, "|") {
				t.Errorf("patient key %q", r.PatientKey)
			}
			for _, w := range r.Warnings {
				t.Logf("warning: %s", w)
			}
		})
	}
	t.Logf("%d supported sample messages mapped and validated", mapped)
}
