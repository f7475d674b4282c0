package snomed_test

import (
	"archive/zip"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/concord-health/concord/bench/snomedgen"
	"github.com/concord-health/concord/terminology/snomed"
)

// zipDir writes the files under dir into a zip, under a top folder as releases have.
func zipDir(t *testing.T, dir, out string) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		w, err := zw.Create("SnomedCT_Test/" + filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		r, err := os.Open(p)
		if err != nil {
			return err
		}
		defer r.Close()
		_, err = io.Copy(w, r)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// A generated release has valid SCTIDs: it loads with every check on, from a folder or a
// zip, and carries maps, refsets, concrete values and inactive concepts.
func TestGeneratedRelease(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "release")
	info, err := snomedgen.Generate(dir, snomedgen.Config{Concepts: 3000, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	e, err := snomed.Load(t.Context(), []string{dir}, snomed.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if e.Len() != info.Concepts || e.Stats().Dangling != 0 {
		t.Errorf("%d concepts (want %d), stats %+v", e.Len(), info.Concepts, e.Stats())
	}
	if e.Version() != "http://snomed.info/sct/900000000000207008/version/20250701" {
		t.Errorf("Version = %s", e.Version())
	}

	z := filepath.Join(t.TempDir(), "release.zip")
	zipDir(t, dir, z)
	ez, err := snomed.Load(t.Context(), []string{z}, snomed.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d1, d2 := t.TempDir(), t.TempDir()
	if err := e.Save(d1); err != nil {
		t.Fatal(err)
	}
	if err := ez.Save(d2); err != nil {
		t.Fatal(err)
	}
	b1, _ := os.ReadFile(filepath.Join(d1, snomed.IndexFile))
	b2, _ := os.ReadFile(filepath.Join(d2, snomed.IndexFile))
	if !slices.Equal(b1, b2) {
		t.Error("the zip and the folder load differently")
	}

	// Hierarchy: the descendants walk agrees with the closure.
	var walked []uint64
	e.Descendants(info.ClinicalFinding, func(id uint64) bool { walked = append(walked, id); return true })
	var closure []uint64
	e.All(func(id uint64) bool {
		if id != info.ClinicalFinding && e.Subsumes(info.ClinicalFinding, id) {
			closure = append(closure, id)
		}
		return true
	})
	slices.Sort(walked)
	if len(walked) < 100 || !slices.Equal(walked, closure) {
		t.Errorf("descendants: walk %d, closure %d", len(walked), len(closure))
	}
	var set snomed.Bitset
	if n := e.DescendantsInto(info.ClinicalFinding, &set); n != len(walked) || !e.Contains(&set, info.Sample) {
		t.Errorf("DescendantsInto = %d", n)
	}
	if !e.Subsumes(info.ClinicalFinding, info.Sample) || e.Subsumes(info.Sample, info.ClinicalFinding) {
		t.Error("Subsumes wrong for the sample")
	}

	// Inactive concepts are known but do not exist for ECL.
	if c, ok := e.Concept(info.InactiveConcept); !ok || c.Active || e.Exists(info.InactiveConcept) {
		t.Errorf("inactive concept: %+v %v", c, ok)
	}

	// Refsets and maps.
	if n := len(e.Members(snomedgen.SimpleRefset)); n != info.SimpleMembers {
		t.Errorf("%d members, want %d", n, info.SimpleMembers)
	}
	rows := 0
	e.All(func(id uint64) bool {
		for _, m := range e.Maps(snomedgen.ICD10Map, id) {
			rows++
			if m.Target == "" || m.Advice != "ALWAYS "+m.Target || m.Correlation != snomedgen.MapCorrelation || m.Group < 1 {
				t.Errorf("map row %+v", m)
				return false
			}
		}
		return true
	})
	if rows != info.MapRows {
		t.Errorf("%d map rows, want %d", rows, info.MapRows)
	}

	// Concrete values on products.
	concrete := 0
	e.All(func(id uint64) bool {
		for _, r := range e.Relationships(id) {
			if r.Value != "" {
				concrete++
				if r.Type != snomedgen.CountOfBase || !strings.HasPrefix(r.Value, "#") {
					t.Errorf("concrete value %+v", r)
				}
			}
		}
		return true
	})
	if concrete == 0 {
		t.Error("no concrete values")
	}

	// Search: the exact term comes first.
	c, _ := e.Concept(info.Sample)
	if got := e.Search(c.Preferred, 5, nil); len(got) == 0 || got[0].ID != info.Sample || got[0].Term != c.Preferred {
		t.Errorf("Search(%q) = %+v", c.Preferred, got)
	}
	prefix := strings.ToLower(c.Preferred[:3])
	for _, m := range e.Search(prefix, 50, nil) {
		ok := false
		for _, term := range e.Terms(m.ID) {
			for _, w := range strings.Fields(strings.ToLower(term)) {
				ok = ok || strings.HasPrefix(w, prefix)
			}
		}
		if !ok {
			t.Errorf("Search(%q) found %d (%q)", prefix, m.ID, m.Term)
		}
	}

	// Concurrent readers.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for _, id := range closure[:min(200, len(closure))] {
				e.Concept(id)
				e.Subsumes(info.ClinicalFinding, id)
				e.Search("ab", 5, nil)
			}
		})
	}
	wg.Wait()
}

// eclGraph is the graph an ECL evaluator reads, as its package declares it (with
// Relationship declared as the same alias); *Edition must keep satisfying it.
type eclGraph interface {
	Exists(id uint64) bool
	Descendants(id uint64, yield func(uint64) bool)
	Ancestors(id uint64, yield func(uint64) bool)
	Children(id uint64) []uint64
	Parents(id uint64) []uint64
	All(yield func(uint64) bool)
	Members(refset uint64) []uint64
	Relationships(source uint64) []struct {
		Type, Destination uint64
		Group             int
		Value             string
	}
	Sources(typ, destination uint64) []uint64
	Terms(id uint64) []string
}

var _ eclGraph = (*snomed.Edition)(nil)

// Search agrees with ranking every description by brute force.
func TestSearchRanking(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "release")
	if _, err := snomedgen.Generate(dir, snomedgen.Config{Concepts: 4000, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	e, err := snomed.Load(t.Context(), []string{dir}, snomed.Options{})
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		rank, n int
		id      uint64
	}
	brute := func(q string, limit int) []uint64 {
		qs := strings.Fields(strings.ToLower(q))
		var keys []key
		e.All(func(id uint64) bool {
			best := key{rank: 9}
			display := e.Display(id)
			for _, term := range e.Terms(id) {
				words := strings.FieldsFunc(strings.ToLower(term), func(r rune) bool {
					return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
				})
				ok := true
				for _, w := range qs {
					ok = ok && slices.ContainsFunc(words, func(x string) bool { return strings.HasPrefix(x, w) })
				}
				if !ok {
					continue
				}
				k := key{2, len(term), id}
				if strings.ToLower(term) == strings.Join(qs, " ") {
					k.rank = 0
				} else if term == display {
					k.rank = 1
				}
				if k.rank < best.rank || k.rank == best.rank && k.n < best.n {
					best = k
				}
			}
			if best.rank < 9 {
				keys = append(keys, best)
			}
			return true
		})
		slices.SortFunc(keys, func(a, b key) int {
			if a.rank != b.rank {
				return a.rank - b.rank
			}
			if a.n != b.n {
				return a.n - b.n
			}
			if a.id < b.id {
				return -1
			}
			return 1
		})
		var out []uint64
		for _, k := range keys[:min(limit, len(keys))] {
			out = append(out, k.id)
		}
		return out
	}
	var sample string
	e.All(func(id uint64) bool { sample = e.Display(id); return len(sample) < 12 })
	for _, q := range []string{"a", "ab", "Ma", "ab ma", sample, strings.ToUpper(sample[:4])} {
		var got []uint64
		for _, m := range e.Search(q, 15, nil) {
			got = append(got, m.ID)
		}
		if want := brute(q, 15); !slices.Equal(got, want) {
			t.Errorf("Search(%q) = %v, want %v", q, got, want)
		}
	}
}

// The display follows the language refsets asked for: en-GB by default.
func TestLanguages(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "release")
	if _, err := snomedgen.Generate(dir, snomedgen.Config{Concepts: 500, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	gb, err := snomed.Load(t.Context(), []string{dir}, snomed.Options{})
	if err != nil {
		t.Fatal(err)
	}
	us, err := snomed.Load(t.Context(), []string{dir}, snomed.Options{Languages: []uint64{snomed.USEnglish}})
	if err != nil {
		t.Fatal(err)
	}
	differ := 0
	gb.All(func(id uint64) bool {
		g, _ := gb.PreferredTerm(id, snomed.GBEnglish)
		u, _ := gb.PreferredTerm(id, snomed.USEnglish)
		if gb.Display(id) != g || us.Display(id) != u {
			t.Errorf("%d: displays %q / %q, preferred GB %q, US %q", id, gb.Display(id), us.Display(id), g, u)
			return false
		}
		if g != u {
			differ++
			c, _ := gb.Concept(id)
			for _, d := range c.Descriptions {
				if d.Term == u && (d.Preferred || !d.Acceptable) {
					t.Errorf("%d: the US term %q is not acceptable in en-GB: %+v", id, u, d)
				}
			}
		}
		return true
	})
	if differ == 0 {
		t.Error("no concept has a US preferred term of its own")
	}
}
