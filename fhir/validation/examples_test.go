package validation

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
)

const examplesDir = "../../../shared/data/fhir-r4-examples/package"

// knownBad lists the errors the published examples really have, as "file|element|key or
// code" (element is the issue's path without list indexes), with the reason. Any other error
// fails TestExamples.
var knownBad = map[string]string{
	"Questionnaire-qs1.json|Questionnaire.item.item.linkId|required":                                    "nested items of the published example have no linkId (1..1)",
	"Questionnaire-qs1.json|Questionnaire.item.item.item.linkId|required":                               "nested items of the published example have no linkId (1..1)",
	"Questionnaire-qs1.json|Questionnaire.item.item.item.item.linkId|required":                          "nested items of the published example have no linkId (1..1)",
	"StructureDefinition-FiveWs.json|StructureDefinition|sdf-4":                                         "the published logical model is not abstract and has no baseDefinition",
	"ActivityDefinition-heart-valve-replacement.json|ActivityDefinition.text.div|txt-2":                 "the published narrative div is empty",
	"EventDefinition-example.json|EventDefinition.text.div|txt-2":                                       "the published narrative div is empty",
	"Questionnaire-zika-virus-exposure-assessment.json|Questionnaire.text.div|txt-2":                    "the published narrative is an empty <pre>",
	"Bundle-hla-1.json|Bundle.entry.resource.extension.extension|structure":                             "the glstring extension names its part 'uri'; its definition calls it 'url'",
	"Observation-example-genetics-brcapat.json|Observation.extension|structure":                         "us-core-ethnicity is a US Core extension, not part of R4",
	"Questionnaire-qs1.json|Questionnaire.item.item.item.extension|structure":                           "questionnaire-allowedResource is not among the R4 extension definitions",
	"Questionnaire-qs1.json|Questionnaire.item.item.item.item.extension|structure":                      "questionnaire-allowedResource is not among the R4 extension definitions",
	"DeviceMetric-example.json|DeviceMetric.parent|structure":                                           "parent references a DeviceDefinition; R4 allows only Device",
	"DeviceUseStatement-example.json|DeviceUseStatement.reasonReference|structure":                      "reasonReference names a Procedure, which R4 does not allow",
	"MedicationRequest-medrx0301.json|MedicationRequest.dispenseRequest.performer|structure":            "dispenseRequest.performer references a Practitioner; R4 allows only Organization",
	"Observation-clinical-gender.json|Observation.performer|structure":                                  "performer references an Encounter, which R4 does not allow",
	"CodeSystem-data-types.json|CodeSystem.extension|structure":                                         "structuredefinition-normative-version is defined for StructureDefinition only",
	"OperationDefinition-CodeSystem-lookup.json|OperationDefinition.extension|structure":                "structuredefinition-normative-version is defined for StructureDefinition only",
	"ValueSet-quantity-comparator.json|ValueSet.extension|structure":                                    "structuredefinition-normative-version is defined for StructureDefinition only",
	"StructureDefinition-Identifier.json|StructureDefinition.snapshot.element.extension|structure":      "structuredefinition-normative-version is defined for StructureDefinition, not ElementDefinition",
	"StructureDefinition-Identifier.json|StructureDefinition.differential.element.extension|structure":  "structuredefinition-normative-version is defined for StructureDefinition, not ElementDefinition",
	"StructureDefinition-Reference.json|StructureDefinition.snapshot.element.extension|structure":       "structuredefinition-normative-version is defined for StructureDefinition, not ElementDefinition",
	"StructureDefinition-Reference.json|StructureDefinition.differential.element.extension|structure":   "structuredefinition-normative-version is defined for StructureDefinition, not ElementDefinition",
	"Bundle-10bb101f-a121-4264-a920-67be9cb82c74.json|Bundle.entry|invalid":                             "the fullUrl .../Patient/pat12 disagrees with the resource id pat2",
	"Bundle-3a0707d3-549e-4467-b8b8-5a2ab3800efe.json|Bundle.entry|invalid":                             "the fullUrl .../Patient/pat12 disagrees with the resource id pat2",
	"Bundle-lri-example.json|Bundle.entry|invalid":                                                      "the fullUrls .../Observation/lri-X disagree with the resource ids X",
	"CapabilityStatement-terminology-server.json|CapabilityStatement.rest.resource.searchParam|invalid": "ValueSet-reference is a uri parameter and ConceptMap-source/target reference parameters in R4, not the types the example gives",
}

type example struct {
	name string
	res  *fhir.Resource
}

func loadExamples(tb testing.TB) []example {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.json"))
	if err != nil || len(files) == 0 {
		tb.Skipf("official R4 examples not found at %s (see /work/shared/data/README.md)", examplesDir)
	}
	var out []example
	for _, f := range files {
		if filepath.Base(f) == "package.json" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		res, err := fhir.Parse(data)
		if err != nil {
			tb.Fatalf("%s: %v", filepath.Base(f), err)
		}
		out = append(out, example{filepath.Base(f), res})
	}
	return out
}

// issueKey identifies an error for the allow-list: the constraint key for invariants,
// otherwise the issue code.
func issueKey(file string, is fhir.Issue) string {
	what := is.Code
	if is.Code == IssueInvariant {
		what, _, _ = strings.Cut(strings.TrimPrefix(is.Diagnostics, "Constraint failed: "), ":")
	}
	return file + "|" + stripIndexes.ReplaceAllString(strings.Join(is.Expression, ","), "") + "|" + what
}

var stripIndexes = regexp.MustCompile(`\[[0-9]+\]`)

func TestExamples(t *testing.T) {
	examples := loadExamples(t)
	v, err := New(definitions.R4())
	if err != nil {
		t.Fatal(err)
	}
	clean, warnings := 0, 0
	used := map[string]bool{}
	for _, ex := range examples {
		issues := v.Validate(ex.res)
		ok := true
		for _, is := range issues {
			if is.Severity != fhir.SeverityError {
				warnings++
				continue
			}
			k := issueKey(ex.name, is)
			if _, allowed := knownBad[k]; allowed {
				used[k] = true
				ok = false
				continue
			}
			ok = false
			t.Errorf("%s: %s %s: %s", ex.name, is.Code, strings.Join(is.Expression, ","), is.Diagnostics)
		}
		if ok {
			clean++
		}
	}
	var stale []string
	for k := range knownBad {
		if !used[k] {
			stale = append(stale, k)
		}
	}
	sort.Strings(stale)
	for _, k := range stale {
		t.Errorf("allow-list entry no longer needed: %s", k)
	}
	t.Logf("%d of %d examples have no errors (%d allow-list entries used, %d warnings, %d evaluation failures)",
		clean, len(examples), len(used), warnings, v.EvalFailures())
	for _, u := range v.Uncompiled() {
		t.Logf("not compilable: %s", u)
	}
}

func BenchmarkValidate(b *testing.B) {
	examples := loadExamples(b)
	v, err := New(definitions.R4())
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	n := 0
	for i := 0; i < b.N; i++ {
		for _, ex := range examples {
			v.Validate(ex.res)
			n++
		}
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "resources/s")
}

// BenchmarkValidateSynthea validates the resources of the Synthea sample bundles (the shape
// of data an import brings), one resource at a time.
func BenchmarkValidateSynthea(b *testing.B) {
	resources := syntheaResources(b)
	v, err := New(definitions.R4())
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	n, errs := 0, 0
	for i := 0; i < b.N; i++ {
		for _, r := range resources {
			if HasErrors(v.Validate(r)) {
				errs++
			}
			n++
		}
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "resources/s")
	b.ReportMetric(float64(errs)/float64(b.N), "invalid/op")
}
