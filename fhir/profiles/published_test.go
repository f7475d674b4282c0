package profiles

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/concord-health/concord/fhir"
)

const examplesDir = "../../../shared/data/fhir-r4-examples/package"

// withoutSnapshot returns the resource with its snapshot removed.
func withoutSnapshot(res *fhir.Resource) *fhir.Resource {
	root := *res.Root
	root.Children = nil
	for _, c := range res.Root.Children {
		if c.Name != "snapshot" {
			root.Children = append(root.Children, c)
		}
	}
	return &fhir.Resource{Type: res.Type, ID: res.ID, Root: &root}
}

// summary is what the comparison with a published snapshot looks at, per element id.
func summary(e *ElementDefinition) string {
	max := fmt.Sprint(e.Max)
	if e.Max < 0 {
		max = "*"
	}
	var types []string
	for _, t := range e.Types {
		types = append(types, t.Code+strings.Join(t.Profiles, ","))
	}
	return fmt.Sprintf("%d..%s %s", e.Min, max, strings.Join(types, "|"))
}

// detail adds to the summary what else validation reads: fixed and pattern values,
// binding, slicing, constraint keys.
func detail(e *ElementDefinition) string {
	s := summary(e)
	for _, v := range []*fhir.Node{e.Fixed, e.Pattern} {
		if v != nil {
			s += " =" + v.Type + ":" + v.String()
		}
	}
	if b := e.Binding; b != nil {
		s += " " + b.Strength + " " + b.ValueSet
	}
	if sl := e.Slicing; sl != nil {
		s += fmt.Sprintf(" sliced %v %s", sl.Discriminators, sl.Rules)
	}
	for _, t := range e.Types {
		if len(t.TargetProfiles) > 0 {
			s += " →" + strings.Join(t.TargetProfiles, ",")
		}
	}
	for _, v := range []*fhir.Node{e.MinValue, e.MaxValue} {
		if v != nil {
			s += " range:" + v.String()
		}
	}
	s += fmt.Sprintf(" ms=%v mod=%v len=%d cref=%s", e.MustSupport, e.IsModifier, e.MaxLength, e.ContentReference)
	var keys []string
	for _, c := range e.Constraints {
		keys = append(keys, c.Key)
	}
	sort.Strings(keys)
	return s + " " + strings.Join(keys, ",")
}

// TestPublishedSnapshots generates the snapshots of the official StructureDefinition
// examples that have a differential and compares them with the published ones.
func TestPublishedSnapshots(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(examplesDir, "StructureDefinition-*.json"))
	if len(files) == 0 {
		t.Skipf("official R4 examples not found at %s (see /work/shared/data/README.md)", examplesDir)
	}
	compared := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		res, err := fhir.Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if res.Root.First("differential") == nil || res.Root.First("snapshot") == nil {
			continue
		}
		if res.Root.Text("baseDefinition") == "" {
			// FiveWs: a logical model without a base, so nothing to generate from.
			continue
		}
		name := filepath.Base(f)
		published, err := FromResource(res)
		if err != nil {
			t.Errorf("%s: published snapshot: %v", name, err)
			continue
		}
		s := New()
		if err := s.Add(withoutSnapshot(res)); err != nil {
			t.Fatal(err)
		}
		gen, err := s.Get(published.URL)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		compared++
		got := map[string]*ElementDefinition{}
		for _, e := range gen.Elements {
			got[e.ID] = e
			if msg := nodeAgrees(e); msg != "" {
				t.Errorf("%s: %s: %s", name, e.ID, msg)
			}
		}
		same, differ, missing := 0, 0, 0
		for _, e := range published.Elements {
			g := got[e.ID]
			switch {
			case g == nil:
				missing++
				t.Errorf("%s: %s missing from the generated snapshot", name, e.ID)
			case detail(g) != detail(e):
				differ++
				t.Errorf("%s: %s: generated %s, published %s", name, e.ID, detail(g), detail(e))
			default:
				same++
			}
			delete(got, e.ID)
		}
		t.Logf("%s: %d of %d published elements agree, %d differ, %d missing, %d extra; problems %v",
			name, same, len(published.Elements), differ, missing, len(got), gen.Problems)
	}
	if compared != 7 {
		t.Errorf("%d examples compared, want the 7 with a differential and a base", compared)
	}
}

// TestCoreSnapshotsRegenerated generates the snapshot of every core constraint profile and
// extension definition from its differential and compares it with the published one.
func TestCoreSnapshotsRegenerated(t *testing.T) {
	core, err := Core()
	if err != nil {
		t.Fatal(err)
	}
	total, agree, failed := 0, 0, 0
	diffs := map[string]int{}
	for url, list := range core.byURL {
		e := list[0]
		res, err := fhir.Parse(e.raw)
		if err != nil {
			t.Fatal(err)
		}
		if res.Root.Text("derivation") != "constraint" || res.Root.First("differential") == nil {
			continue
		}
		published, err := core.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		s := New()
		if err := s.Add(withoutSnapshot(res)); err != nil {
			t.Fatal(err)
		}
		gen, err := s.Get(url)
		total++
		if err != nil {
			failed++
			t.Errorf("%s: %v", url, err)
			continue
		}
		got := map[string]*ElementDefinition{}
		for _, e := range gen.Elements {
			got[e.ID] = e
			if msg := nodeAgrees(e); msg != "" {
				t.Errorf("%s: %s: %s", url, e.ID, msg)
			}
		}
		ok := len(gen.Elements) == len(published.Elements)
		for i := 0; ok && i < len(gen.Elements); i++ {
			if gen.Elements[i].ID != published.Elements[i].ID {
				ok = false
				diffs["order"]++
				t.Errorf("%s: element %d is %s, published %s", url, i, gen.Elements[i].ID, published.Elements[i].ID)
			}
		}
		for _, e := range published.Elements {
			g := got[e.ID]
			if g == nil {
				ok = false
				diffs["missing"]++
				t.Errorf("%s: %s missing", url, e.ID)
				continue
			}
			if detail(g) != detail(e) {
				ok = false
				diffs["differ"]++
				t.Errorf("%s: %s: generated %s, published %s", url, e.ID, detail(g), detail(e))
			}
		}
		// codesystem-history forbids extensions on its revision part (max 0) and then
		// slices them; the published snapshot keeps the slices, and so does generation,
		// reporting the contradiction.
		if len(gen.Problems) > 0 && !strings.HasSuffix(url, "/codesystem-history") {
			t.Errorf("%s: problems %q", url, gen.Problems)
		}
		if ok {
			agree++
		}
	}
	t.Logf("core constraint definitions: %d regenerated, %d agree element for element, %d failed; %v", total, agree, failed, diffs)
}
