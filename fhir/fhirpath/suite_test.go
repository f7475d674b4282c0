package fhirpath

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/concord-health/concord/fhir"
)

// The official FHIRPath suite targets the complete engine; this runner reports how much of
// it passes so progress is visible, and never fails the build.

type suiteTests struct {
	Groups []struct {
		Name  string      `xml:"name,attr"`
		Tests []suiteTest `xml:"test"`
	} `xml:"group"`
}

type suiteTest struct {
	Name       string `xml:"name,attr"`
	InputFile  string `xml:"inputfile,attr"`
	Mode       string `xml:"mode,attr"`
	Predicate  string `xml:"predicate,attr"`
	Expression struct {
		Text    string `xml:",chardata"`
		Invalid string `xml:"invalid,attr"`
	} `xml:"expression"`
	Outputs []struct {
		Type  string `xml:"type,attr"`
		Value string `xml:",chardata"`
	} `xml:"output"`
}

// parseSuiteInput reads a test input in the format its name gives. XML inputs are read as
// XML: their JSON equivalents are not always the same resource (observation-example.json
// lacks the extension that the is-tests look for).
func parseSuiteInput(path string, data []byte) (*fhir.Resource, error) {
	if strings.HasSuffix(path, ".xml") {
		return fhir.ParseXML(data)
	}
	return fhir.Parse(data)
}

// runOfficialSuite runs every test and returns the names that failed, and the counts.
func runOfficialSuite(t testing.TB) (passed, total int, failed []string) {
	dir := filepath.Join(sharedData, "fhir-test-cases", "fhirpath")
	data, err := os.ReadFile(filepath.Join(dir, "tests-fhir-r4.xml"))
	if err != nil {
		t.Skipf("FHIRPath suite not found: %v", err)
	}
	var suite suiteTests
	if err := xml.Unmarshal(data, &suite); err != nil {
		t.Fatal(err)
	}
	inputs := map[string]*fhir.Node{}
	for _, g := range suite.Groups {
		for _, tc := range g.Tests {
			total++
			var focus *fhir.Node
			resourceType := ""
			if tc.InputFile != "" {
				path := filepath.Join(dir, "input", tc.InputFile)
				if inputs[path] == nil {
					b, err := os.ReadFile(path)
					if err != nil {
						t.Fatal(err)
					}
					res, err := parseSuiteInput(path, b)
					if err != nil {
						failed = append(failed, tc.Name+" (input rejected)")
						continue
					}
					inputs[path] = res.Root
				}
				focus = inputs[path]
				resourceType = focus.Type
			}
			if suiteCase(tc, focus, resourceType) {
				passed++
			} else {
				failed = append(failed, tc.Name)
			}
		}
	}
	return passed, total, failed
}

// suiteCase runs one test. With an input the expression is compiled for the input's type, so
// that the semantic errors the suite expects are found.
func suiteCase(tc suiteTest, focus *fhir.Node, resourceType string) bool {
	var e *Expr
	var err error
	if resourceType != "" {
		e, err = CompileFor(tc.Expression.Text, resourceType)
	} else {
		e, err = Compile(tc.Expression.Text)
	}
	if tc.Expression.Invalid != "" {
		if err != nil {
			return true
		}
		_, err = e.Evaluate(focus)
		return err != nil && tc.Expression.Invalid == "execution"
	}
	if err != nil {
		return false
	}
	out, err := e.Evaluate(focus)
	if err != nil {
		return false
	}
	if tc.Predicate == "true" {
		b, known, err := truth(out, "predicate")
		if err != nil || !known {
			b = len(out) > 0
		}
		return len(tc.Outputs) == 1 && strconv.FormatBool(b) == tc.Outputs[0].Value
	}
	if len(out) != len(tc.Outputs) {
		return false
	}
	for i, want := range tc.Outputs {
		if !suiteValueMatches(out[i], want.Type, want.Value) {
			return false
		}
	}
	return true
}

func suiteValueMatches(got *fhir.Node, typ, want string) bool {
	s, ok := toText(got)
	if !ok {
		return false
	}
	if typ == "" && strings.HasPrefix(want, "@") {
		typ = "dateTime" // an untyped output written as a date/time literal
	}
	switch typ {
	case "date", "dateTime", "time":
		want = strings.TrimPrefix(strings.TrimPrefix(want, "@"), "T")
	case "decimal", "integer":
		x, err1 := strconv.ParseFloat(s, 64)
		y, err2 := strconv.ParseFloat(want, 64)
		return err1 == nil && err2 == nil && x == y
	}
	return s == want
}

// suiteExclusions are the official tests Concord does not pass, each with the reason. Every
// other test must pass, and an excluded test that starts passing must leave this list.
var suiteExclusions = map[string]string{
	"testPlusDate19": "expects @…T00:00:00.000+10:00 + 0.1 's' to leave the time unchanged; FHIRPath adds " +
		"time-valued quantities to the precision of the date/time, which here is milliseconds, giving .100",
	"testType12": "expects a FHIR boolean not to be a Boolean; R4's own que-7 (answer is Boolean) and the " +
		"search parameter expression value.as(DateTime) name FHIR primitives by their System type, so an " +
		"unqualified System name also matches the FHIR primitive of that kind",
	"testFHIRPathIsFunction2": "expects code.is(string) true while the suite's testFHIRPathAsFunction11 and " +
		"testFHIRPathAsFunction16 expect code.as(string) and code.ofType(string) empty; primitives " +
		"match their own type only, consistently across is, as and ofType",
	"testTypeA4": "expects uuid.is(FHIR.uri) true: the same primitive subtyping as testFHIRPathIsFunction2",
	"testFHIRPathAsFunction21": "expects as() on a collection of several items to fail; R4's own dom-3 " +
		"applies it to every descendant (%resource.descendants().as(canonical)) and its search parameters " +
		"use the as operator on repeating elements (useContext.value as CodeableConcept), so both filter " +
		"each item",
}

func TestOfficialSuite(t *testing.T) {
	passed, total, failed := runOfficialSuite(t)
	t.Logf("official FHIRPath R4 suite: %d of %d pass, %d excluded with reasons", passed, total, len(suiteExclusions))
	stillFailing := map[string]bool{}
	for _, f := range failed {
		stillFailing[f] = true
		if _, ok := suiteExclusions[f]; !ok {
			t.Errorf("official test %s fails", f)
		}
	}
	for name := range suiteExclusions {
		if !stillFailing[name] {
			t.Errorf("excluded test %s passes now: take it off suiteExclusions", name)
		}
	}
	if testing.Verbose() && os.Getenv("FHIRPATH_SUITE_FAILURES") != "" {
		for _, f := range failed {
			t.Log("  not passing:", f, "-", suiteExclusions[f])
		}
	}
}
