package terminology

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/concord-health/concord/fhir"
)

const (
	examplesDir = "../../shared/data/fhir-r4-examples/package"
	ukCoreDir   = "../../shared/data/uk-core-r4"
)

// loadDir parses the files matching the patterns under dir with parse and adds them to s;
// it returns the value sets added, and the files that could not be read or added.
func loadDir(t *testing.T, s *Service, dir string, parse func([]byte) (*fhir.Resource, error), patterns ...string) (valueSets []string, failed []string) {
	t.Helper()
	var files []string
	for _, p := range patterns {
		m, err := filepath.Glob(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Skipf("no files match %v under %s (see /work/shared/data/README.md)", patterns, dir)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		res, err := parse(data)
		if err == nil {
			err = s.Add(res)
		}
		if err != nil {
			failed = append(failed, filepath.Base(f)+": "+err.Error())
			continue
		}
		if res.Type == "ValueSet" {
			valueSets = append(valueSets, res.Root.Text("url")+"|"+res.Root.Text("version"))
		}
	}
	return valueSets, failed
}

// expandAll expands each value set and checks that every code of an expansion validates.
// Value sets that need content not held here are counted by the reason; any other error
// fails the test.
func expandAll(t *testing.T, s *Service, valueSets []string) (expanded int, notHeld map[string]int) {
	t.Helper()
	notHeld = map[string]int{}
	for _, vs := range valueSets {
		x, err := s.Expand(t.Context(), vs, ExpandOptions{})
		if err != nil {
			if !errors.Is(err, ErrNotEnumerable) {
				t.Errorf("%s: %v", vs, err)
				continue
			}
			msg := err.Error()
			msg = msg[strings.LastIndex(msg, ": ")+2:]
			notHeld[msg]++
			continue
		}
		expanded++
		for _, e := range x.Contains {
			r := s.ValidateCode(t.Context(), vs, e.Coding)
			if !r.Valid && !(e.Abstract && r.Known) {
				t.Errorf("%s: expanded code %s#%s does not validate: %+v", vs, e.System, e.Code, r)
			}
		}
	}
	return expanded, notHeld
}

func logReasons(t *testing.T, reasons map[string]int) {
	keys := make([]string, 0, len(reasons))
	for k := range reasons {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return reasons[keys[i]] > reasons[keys[j]] })
	for _, k := range keys {
		t.Logf("  %3d  %s", reasons[k], k)
	}
}

// TestExamples loads the CodeSystems and ValueSets of the published R4 examples over the
// core content and expands each value set that does not need an external code system.
func TestExamples(t *testing.T) {
	s := core(t)
	valueSets, failed := loadDir(t, s, examplesDir, fhir.Parse, "CodeSystem-*.json", "ValueSet-*.json")
	for _, f := range failed {
		t.Error(f)
	}
	expanded, notHeld := expandAll(t, s, valueSets)
	t.Logf("%d example value sets: %d expand", len(valueSets), expanded)
	logReasons(t, notHeld)
	for reason := range notHeld {
		if !strings.Contains(reason, "is not available here") {
			t.Errorf("an example value set does not expand for a reason other than an external code system: %s", reason)
		}
	}
	if expanded == 0 {
		t.Error("no example value set expands")
	}
}

// TestUKCore loads the UK Core CodeSystems and ValueSets (XML) over the core content and
// reports how many value sets expand and why the others do not.
func TestUKCore(t *testing.T) {
	s := core(t)
	_, failedCS := loadDir(t, s, filepath.Join(ukCoreDir, "codesystems"), fhir.ParseXML, "*.xml")
	valueSets, failedVS := loadDir(t, s, filepath.Join(ukCoreDir, "valuesets"), fhir.ParseXML, "*.xml")
	for _, f := range append(failedCS, failedVS...) {
		t.Logf("not loaded: %s", f)
	}
	expanded, notHeld := expandAll(t, s, valueSets)
	t.Logf("%d UK Core value sets: %d expand, %d need content not held here (%d files not loaded)",
		len(valueSets), expanded, len(valueSets)-expanded, len(failedCS)+len(failedVS))
	logReasons(t, notHeld)
	if expanded == 0 {
		t.Error("no UK Core value set expands")
	}
}
