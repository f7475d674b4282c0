package validation

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/fhir/profiles"
	"github.com/concord-health/concord/terminology"
)

// validatorR4Dir holds the R4 cases of the official validator test suite, the reference
// validator's expected outcomes and a summary derived from them (see its SOURCE.md).
const validatorR4Dir = "../../../shared/data/fhir-test-cases/validator-r4"

// validatorR4Floor is the share of counted cases on which Concord must agree with the
// reference validator about valid/invalid: the measured figure less a small margin, so that a
// regression fails the test while a gain does not.
const validatorR4Floor = 0.92

// r4Expect is the reference validator's outcome for one case, by severity.
type r4Expect struct {
	Error       int `json:"error"`
	Warning     int `json:"warning"`
	Fatal       int `json:"fatal"`
	Information int `json:"information"`
}

// r4SummaryCase is one entry of r4-tests-summary.json.
type r4SummaryCase struct {
	Name        string    `json:"name"`
	File        string    `json:"file"`
	Module      string    `json:"module"`
	Version     string    `json:"version"`
	UseTest     *bool     `json:"use-test"`
	Supporting  []string  `json:"supporting"`
	Packages    []string  `json:"packages"`
	FilePresent bool      `json:"file_present"`
	Expected    *r4Expect `json:"expected_java"`
	Profile     *struct {
		Source     string    `json:"source"`
		Supporting []string  `json:"supporting"`
		Packages   []string  `json:"packages"`
		Expected   *r4Expect `json:"expected_java"`
	} `json:"profile_validation"`
}

// r4ManifestCase is the part of a manifest.json test case the harness reads beyond the
// summary: where the expected outcomes are and the options that change what the reference
// validator checks.
type r4ManifestCase struct {
	Name    string          `json:"name"`
	Version string          `json:"version"`
	Java    json.RawMessage `json:"java"`
	Profile *struct {
		Java json.RawMessage `json:"java"`
	} `json:"profile"`
	Logical json.RawMessage `json:"logical"`
	Options map[string]json.RawMessage
}

// r4Options are manifest options under which the reference validator checks something
// Concord has no equivalent for (a logical model, JSON comments, security or publication
// rules, a bundle-wide profile parameter), so its outcome is not comparable.
var r4Options = []string{"logical", "allow-comments", "security-checks", "bundle-param",
	"for-publication", "best-practice", "ips", "r5-bundle-relative-reference-policy",
	"no-experimental-content", "noHtmlInMarkdown", "advisor", "validateContains"}

// r4DefaultOptions are option values that are the reference validator's defaults: a case
// naming one runs as any other and is counted. (A "certificate" only supplies a key.)
var r4DefaultOptions = map[string]string{"best-practice": `"Warning"`, "validateContains": `"CHECK_VALID"`}

// r4Support is what the harness can use beyond the core validator. A nil field is a missing
// capability: the cases that need it are reported in their own bucket rather than counted.
type r4Support struct {
	parseXML func([]byte) (*fhir.Resource, error)
	// build returns a validator that knows the given StructureDefinitions, ValueSets and
	// CodeSystems; its profile argument, when not empty, also validates against those URLs.
	build func(supporting []*fhir.Resource) (func(res *fhir.Resource, profiles ...string) []fhir.Issue, error)
}

// r4Capabilities wires in the XML parser, and profiles and terminology: a validator per case
// over the core definitions and code systems plus the case's supporting resources.
func r4Capabilities() r4Support {
	return r4Support{parseXML: fhir.ParseXML, build: r4Build}
}

func r4Build(supporting []*fhir.Resource) (func(*fhir.Resource, ...string) []fhir.Issue, error) {
	set := profiles.New()
	ts, err := terminology.Core()
	if err != nil {
		return nil, err
	}
	store := NewCanonicalStore()
	for _, r := range supporting {
		switch r.Type {
		case "StructureDefinition":
			err = set.Add(r)
		case "ValueSet", "CodeSystem":
			err = ts.Add(r)
		default:
			err = store.Add(r)
		}
		if err != nil {
			return nil, fmt.Errorf("supporting %s %s: %w", r.Type, r.ID, err)
		}
	}
	v, err := NewWith(definitions.R4(), Options{Profiles: set, Terminology: ts, Resources: store})
	if err != nil {
		return nil, err
	}
	return func(res *fhir.Resource, urls ...string) []fhir.Issue {
		if len(urls) > 0 {
			return v.ValidateProfiles(res, urls...)
		}
		return v.Validate(res)
	}, nil
}

// r4Usable reports whether the validator takes a supporting resource: profiles and
// terminology, and any other canonical resource (a Questionnaire for its
// QuestionnaireResponse). Measures, Libraries and ImplementationGuides have canonicals too,
// but what the reference validator does with them (evaluating a MeasureReport, reading an
// IG's global profiles) Concord does not.
func r4Usable(r *fhir.Resource) bool {
	switch r.Type {
	case "StructureDefinition", "ValueSet", "CodeSystem":
		return true
	case "Measure", "Library", "ImplementationGuide":
		return false
	}
	return r.Root.Text("url") != ""
}

// r4Outcome is the result of one compared case.
type r4Outcome struct {
	name, file          string
	wantValid, gotValid bool
	wantErrors          int
	gotErrors           int
	want                []string // the reference validator's errors, first few
	got                 []string
}

func (o r4Outcome) String() string {
	return fmt.Sprintf("%s (%s): expected valid=%v errors=%d, got valid=%v errors=%d\n    expected: %s\n    got:      %s",
		o.name, o.file, o.wantValid, o.wantErrors, o.gotValid, o.gotErrors,
		strings.Join(o.want, "\n              "), strings.Join(o.got, "\n              "))
}

// r4Report accumulates the comparison.
type r4Report struct {
	counted, agreeValid, agreeCount int
	skipped                         map[string][]string // bucket → case names
	disagree                        []r4Outcome         // on valid/invalid
	miscount                        []r4Outcome         // agreeing on validity, not on the error count
}

func (r *r4Report) skip(bucket, name string) {
	if r.skipped == nil {
		r.skipped = map[string][]string{}
	}
	r.skipped[bucket] = append(r.skipped[bucket], name)
}

func (r *r4Report) record(o r4Outcome) {
	r.counted++
	if o.wantValid == o.gotValid {
		r.agreeValid++
	} else {
		r.disagree = append(r.disagree, o)
	}
	if o.wantErrors == o.gotErrors {
		r.agreeCount++
	} else if o.wantValid == o.gotValid {
		r.miscount = append(r.miscount, o)
	}
}

// Bucket names for the cases that are not counted.
const (
	bucketNoOutcome   = "no expected outcome"
	bucketDisabled    = "disabled in the manifest"
	bucketMissing     = "missing files"
	bucketPackage     = "needs a package Concord does not have"
	bucketTerminology = "needs an external terminology server"
	bucketXML         = "needs XML (no XML parser yet)"
	bucketFormat      = "not a FHIR resource in JSON or XML"
	bucketOption      = "needs a reference-validator option"
	bucketProfiles    = "needs supporting definitions (no profile support yet)"
	bucketVersion     = "expected outcome recorded for another FHIR version"
	bucketBadSupport  = "a supporting resource does not parse (Concord rejects it)"
)

func TestValidatorR4Suite(t *testing.T) {
	summaryData, err := os.ReadFile(filepath.Join(validatorR4Dir, "r4-tests-summary.json"))
	if err != nil {
		t.Skipf("validator R4 test cases not found at %s (see /work/shared/data/README.md): %v", validatorR4Dir, err)
	}
	var summary struct {
		Tests []r4SummaryCase `json:"tests"`
	}
	if err := json.Unmarshal(summaryData, &summary); err != nil {
		t.Fatal(err)
	}
	manifest := readR4Manifest(t)
	v := validator(t)
	sup := r4Capabilities()
	rep := &r4Report{}
	for _, c := range summary.Tests {
		runR4Case(t, v, sup, c, manifest[c.Name], rep)
	}

	pct := func(n int) float64 { return float64(n) / float64(max(rep.counted, 1)) }
	t.Logf("validator R4 suite: %d cases counted; agree on valid/invalid %d (%.1f%%), on error count %d (%.1f%%); floor %.0f%%",
		rep.counted, rep.agreeValid, 100*pct(rep.agreeValid), rep.agreeCount, 100*pct(rep.agreeCount), 100*validatorR4Floor)
	buckets := make([]string, 0, len(rep.skipped))
	for b := range rep.skipped {
		buckets = append(buckets, b)
	}
	sort.Strings(buckets)
	for _, b := range buckets {
		t.Logf("  not counted, %s: %d", b, len(rep.skipped[b]))
	}
	if os.Getenv("VALIDATOR_R4_REPORT") != "" {
		for _, b := range buckets {
			t.Logf("%s: %s", b, strings.Join(rep.skipped[b], ", "))
		}
		for _, o := range rep.disagree {
			t.Log("DISAGREE " + o.String())
		}
		for _, o := range rep.miscount {
			t.Log("ERROR COUNT " + o.String())
		}
	}
	if rep.counted == 0 {
		t.Fatal("no case could be compared")
	}
	if got := pct(rep.agreeValid); got < validatorR4Floor {
		t.Errorf("agreement on valid/invalid fell to %.1f%%, below the floor of %.0f%% (VALIDATOR_R4_REPORT=1 lists the disagreements)",
			100*got, 100*validatorR4Floor)
	}
}

func readR4Manifest(t *testing.T) map[string]r4ManifestCase {
	data, err := os.ReadFile(filepath.Join(validatorR4Dir, "manifest.json"))
	if err != nil {
		t.Skipf("manifest.json not found in %s: %v", validatorR4Dir, err)
	}
	var m struct {
		TestCases []map[string]json.RawMessage `json:"test-cases"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	out := map[string]r4ManifestCase{}
	for _, raw := range m.TestCases {
		var c r4ManifestCase
		b, _ := json.Marshal(raw)
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		if c.Version != "4.0" && c.Version != "4.0.1" {
			continue
		}
		c.Options = raw
		out[c.Name] = c
	}
	return out
}

// runR4Case compares one case (and its profile step, when there is one) or files it in the
// bucket that explains why it cannot be compared.
func runR4Case(t *testing.T, v *Validator, sup r4Support, c r4SummaryCase, m r4ManifestCase, rep *r4Report) {
	bucket := r4Bucket(c, m, sup)
	if bucket != "" {
		rep.skip(bucket, c.Name)
		if c.Profile != nil {
			rep.skip(bucket, c.Name+" (profile)")
		}
		return
	}
	res, parseIssues := parseR4File(t, sup, c.File)
	validate := func(res *fhir.Resource, profiles ...string) []fhir.Issue { return v.Validate(res) }
	if sup.build != nil {
		var support []*fhir.Resource
		for _, f := range c.Supporting {
			r, issues := parseR4File(t, sup, f)
			switch {
			case r == nil:
				if testing.Verbose() {
					t.Logf("%s: supporting file %s does not parse: %v", c.Name, f, issues)
				}
				rep.skip(bucketBadSupport, c.Name)
				if c.Profile != nil {
					rep.skip(bucketBadSupport, c.Name+" (profile)")
				}
				return
			case !r4Usable(r):
				// A Measure, Library or ImplementationGuide informs rules Concord does not
				// have; the case is still run and counted.
			default:
				support = append(support, r)
			}
		}
		fn, err := sup.build(support)
		if err != nil {
			t.Errorf("%s: %v", c.Name, err)
			return
		}
		validate = fn
	}
	rep.record(compareR4(c.Name, c.File, *c.Expected, m.Java, res, parseIssues, validate))

	if c.Profile == nil {
		return
	}
	switch {
	case c.Profile.Expected == nil:
		rep.skip(bucketNoOutcome, c.Name+" (profile)")
	case len(c.Profile.Packages) > 0:
		rep.skip(bucketPackage, c.Name+" (profile)")
	case sup.build == nil:
		rep.skip(bucketProfiles, c.Name+" (profile)")
	default:
		var support []*fhir.Resource
		var url string
		for _, f := range append(append([]string{c.Profile.Source}, c.Profile.Supporting...), c.Supporting...) {
			r, _ := parseR4File(t, sup, f)
			if r == nil {
				rep.skip(bucketBadSupport, c.Name+" (profile)")
				return
			}
			if r4Usable(r) {
				support = append(support, r)
			}
			if f == c.Profile.Source {
				url = r.Root.Text("url")
			}
		}
		fn, err := sup.build(support)
		if err != nil {
			t.Errorf("%s (profile): %v", c.Name, err)
			return
		}
		var java json.RawMessage
		if m.Profile != nil {
			java = m.Profile.Java
		}
		rep.record(compareR4(c.Name+" (profile)", c.File, *c.Profile.Expected, java, res, parseIssues,
			func(res *fhir.Resource, _ ...string) []fhir.Issue { return fn(res, url) }))
	}
}

// r4Bucket says why a case cannot be compared, or "" when it can.
func r4Bucket(c r4SummaryCase, m r4ManifestCase, sup r4Support) string {
	switch {
	case c.UseTest != nil && !*c.UseTest:
		return bucketDisabled
	case c.Expected == nil:
		return bucketNoOutcome
	case !c.FilePresent || !allPresent(append([]string{c.File}, c.Supporting...)):
		return bucketMissing
	case len(c.Packages) > 0:
		return bucketPackage
	case c.Module == "tx" || c.Module == "tx-advanced" || r4NeedsServer(m.Java) || r4ServerCodeSystems[c.Name] != "":
		return bucketTerminology
	case r4OtherVersion(m.Java):
		return bucketVersion
	}
	for _, o := range r4Options {
		if v, ok := m.Options[o]; ok && string(v) != r4DefaultOptions[o] {
			return bucketOption
		}
	}
	switch strings.ToLower(path.Ext(c.File)) {
	case ".json":
	case ".xml":
		if sup.parseXML == nil {
			return bucketXML
		}
	default:
		return bucketFormat
	}
	if len(c.Supporting) > 0 && sup.build == nil {
		return bucketProfiles
	}
	return ""
}

func allPresent(files []string) bool {
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(validatorR4Dir, f)); err != nil {
			return false
		}
	}
	return true
}

// r4JavaOutcome reads the reference validator's OperationOutcome for a case: the manifest
// names a file under outcomes/ or carries it inline.
func r4JavaOutcome(java json.RawMessage) []r4JavaIssue {
	if len(java) == 0 {
		return nil
	}
	var oo struct {
		Issue []r4JavaIssue `json:"issue"`
	}
	var name string
	if json.Unmarshal(java, &name) == nil {
		data, err := os.ReadFile(filepath.Join(validatorR4Dir, "outcomes", name))
		if err != nil || json.Unmarshal(data, &oo) != nil {
			return nil
		}
		return oo.Issue
	}
	var inline struct {
		Outcome json.RawMessage `json:"outcome"`
	}
	if json.Unmarshal(java, &inline) != nil || json.Unmarshal(inline.Outcome, &oo) != nil {
		return nil
	}
	return oo.Issue
}

type r4JavaIssue struct {
	Extension []struct {
		URL string `json:"url"`
	} `json:"extension"`
	Severity string `json:"severity"`
	Code     string `json:"code"`
	Details  struct {
		Text string `json:"text"`
	} `json:"details"`
	Expression []string `json:"expression"`
}

func (i r4JavaIssue) isError() bool { return i.Severity == "error" || i.Severity == "fatal" }

// r4ServerCodeSystems are cases whose expected outcome rests on a code system the reference
// validator took from its terminology server without marking the issue as the server's.
var r4ServerCodeSystems = map[string]string{
	"string-with-coding-async-qr": "urn:iso:std:iso:3166 (the jurisdiction value set)",
}

// r4OtherVersion reports whether the manifest points an R4 case at an outcome the reference
// validator recorded while validating as another version ("java/R5.…").
func r4OtherVersion(java json.RawMessage) bool {
	var name string
	return json.Unmarshal(java, &name) == nil && !strings.HasPrefix(path.Base(name), "R4.")
}

// r4NeedsServer reports whether one of the expected errors came from the terminology server
// the reference validator consulted (it marks those issues with the server's address).
func r4NeedsServer(java json.RawMessage) bool {
	for _, is := range r4JavaOutcome(java) {
		if !is.isError() {
			continue
		}
		for _, e := range is.Extension {
			if e.URL == "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-server" {
				return true
			}
		}
	}
	return false
}

// parseR4File reads a case file; a structural rejection comes back as its issues.
func parseR4File(t *testing.T, sup r4Support, name string) (*fhir.Resource, []fhir.Issue) {
	data, err := os.ReadFile(filepath.Join(validatorR4Dir, name))
	if err != nil {
		t.Fatal(err)
	}
	parse := fhir.Parse
	if strings.EqualFold(path.Ext(name), ".xml") {
		parse = sup.parseXML
	}
	res, err := parse(data)
	if err != nil {
		return nil, fhir.AsError(err).Issues
	}
	return res, nil
}

// compareR4 validates a parsed case (or takes its parse rejection, which $validate reports
// as the outcome too) and compares it with the expectation.
func compareR4(name, file string, want r4Expect, java json.RawMessage, res *fhir.Resource, parseIssues []fhir.Issue,
	validate func(*fhir.Resource, ...string) []fhir.Issue) r4Outcome {
	issues := parseIssues
	if res != nil {
		issues = validate(res)
	}
	o := r4Outcome{name: name, file: file, wantErrors: want.Error + want.Fatal}
	o.wantValid = o.wantErrors == 0
	for _, is := range issues {
		if is.Severity == fhir.SeverityError || is.Severity == fhir.SeverityFatal {
			o.gotErrors++
			if len(o.got) < 4 {
				o.got = append(o.got, fmt.Sprintf("%s %s: %s", is.Code, strings.Join(is.Expression, ","), is.Diagnostics))
			}
		}
	}
	o.gotValid = o.gotErrors == 0
	for _, is := range r4JavaOutcome(java) {
		if is.isError() && len(o.want) < 4 {
			o.want = append(o.want, fmt.Sprintf("%s %s: %s", is.Code, strings.Join(is.Expression, ","), is.Details.Text))
		}
	}
	return o
}

// The harness's own bookkeeping: buckets, outcome reading and comparison.
func TestR4Bucket(t *testing.T) {
	no := false
	js := func(s string) json.RawMessage { return json.RawMessage(s) }
	tests := []struct {
		name string
		c    r4SummaryCase
		m    r4ManifestCase
		sup  r4Support
		want string
	}{
		{"disabled", r4SummaryCase{UseTest: &no, Expected: &r4Expect{}}, r4ManifestCase{}, r4Support{}, bucketDisabled},
		{"no outcome", r4SummaryCase{FilePresent: true}, r4ManifestCase{}, r4Support{}, bucketNoOutcome},
		{"missing file", r4SummaryCase{File: "x.json", Expected: &r4Expect{}}, r4ManifestCase{}, r4Support{}, bucketMissing},
		{"tx module", r4SummaryCase{File: "manifest.json", FilePresent: true, Module: "tx", Expected: &r4Expect{}}, r4ManifestCase{}, r4Support{}, bucketTerminology},
		{"package", r4SummaryCase{File: "manifest.json", FilePresent: true, Packages: []string{"hl7.fhir.us.core#3.1.0"}, Expected: &r4Expect{}}, r4ManifestCase{}, r4Support{}, bucketPackage},
		{"server error", r4SummaryCase{File: "manifest.json", FilePresent: true, Expected: &r4Expect{Error: 1}},
			r4ManifestCase{Java: js(`{"outcome":{"issue":[{"severity":"error","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-server"}]}]}}`)}, r4Support{}, bucketTerminology},
		{"option", r4SummaryCase{File: "manifest.json", FilePresent: true, Expected: &r4Expect{}}, r4ManifestCase{Options: map[string]json.RawMessage{"allow-comments": js("true")}}, r4Support{}, bucketOption},
		{"xml without parser", r4SummaryCase{File: "aggregation-instance.xml", FilePresent: true, Expected: &r4Expect{}}, r4ManifestCase{}, r4Support{}, bucketXML},
		{"xml with parser", r4SummaryCase{File: "aggregation-instance.xml", FilePresent: true, Expected: &r4Expect{}}, r4ManifestCase{},
			r4Support{parseXML: func([]byte) (*fhir.Resource, error) { return nil, nil }}, ""},
		{"supporting without profiles", r4SummaryCase{File: "manifest.json", FilePresent: true, Supporting: []string{"manifest.json"}, Expected: &r4Expect{}}, r4ManifestCase{}, r4Support{}, bucketProfiles},
		{"counted", r4SummaryCase{File: "manifest.json", FilePresent: true, Expected: &r4Expect{}}, r4ManifestCase{}, r4Support{}, ""},
	}
	if _, err := os.Stat(filepath.Join(validatorR4Dir, "manifest.json")); err != nil {
		t.Skipf("validator R4 test cases not found at %s", validatorR4Dir)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r4Bucket(tt.c, tt.m, tt.sup); got != tt.want {
				t.Errorf("bucket = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCompareR4(t *testing.T) {
	patient, err := fhir.Parse([]byte(`{"resourceType":"Patient","contact":[{"gender":"male"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	v, err := New(definitions.R4())
	if err != nil {
		t.Fatal(err)
	}
	validate := func(res *fhir.Resource, _ ...string) []fhir.Issue { return v.Validate(res) }
	tests := []struct {
		name        string
		want        r4Expect
		res         *fhir.Resource
		parse       []fhir.Issue
		valid       bool
		errors      int
		agreesValid bool
	}{
		{"invariant failure", r4Expect{Error: 1}, patient, nil, false, 1, true},
		{"parse rejection counts as invalid", r4Expect{Error: 2},
			nil, []fhir.Issue{{Severity: "error", Code: "structure"}, {Severity: "error", Code: "structure"}}, false, 2, true},
		{"disagreement", r4Expect{Warning: 3}, patient, nil, false, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := compareR4(tt.name, "f.json", tt.want, nil, tt.res, tt.parse, validate)
			if o.gotValid != tt.valid || o.gotErrors != tt.errors || (o.gotValid == o.wantValid) != tt.agreesValid {
				t.Errorf("got %+v", o)
			}
		})
	}
}
