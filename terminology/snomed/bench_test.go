package snomed_test

import (
	"bufio"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concord-health/concord/bench/snomedgen"
	. "github.com/concord-health/concord/terminology/snomed"
)

// The benchmarks read a generated release of CONCORD_SNOMED_CONCEPTS concepts (default
// 20,000, so that go test stays quick; 600000 is the size of the UK edition), written once
// into CONCORD_SNOMED_RELEASE when that names a folder, else into a temporary one.
var bench struct {
	once sync.Once
	info snomedgen.Info
	dir  string // the release
	data string // a data directory holding its saved index
	e    *Edition
	err  error
}

func benchEdition(b *testing.B) (*Edition, snomedgen.Info) {
	b.Helper()
	bench.once.Do(func() {
		n := 20000
		if v := os.Getenv("CONCORD_SNOMED_CONCEPTS"); v != "" {
			if n, bench.err = strconv.Atoi(v); bench.err != nil {
				return
			}
		}
		root := os.Getenv("CONCORD_SNOMED_RELEASE")
		if root == "" {
			if root, bench.err = os.MkdirTemp("", "snomed-bench-"); bench.err != nil {
				return
			}
		}
		bench.dir = filepath.Join(root, "release-"+strconv.Itoa(n))
		bench.data = filepath.Join(root, "data-"+strconv.Itoa(n))
		if bench.info, bench.err = snomedgen.Generate(bench.dir, snomedgen.Config{Concepts: n, Seed: 1}); bench.err != nil {
			return
		}
		if bench.e, bench.err = Load(context.Background(), []string{bench.dir}, Options{}); bench.err != nil {
			return
		}
		bench.err = bench.e.Save(bench.data)
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	return bench.e, bench.info
}

// peakRSS is the process's peak resident set (VmHWM), in bytes; 0 where /proc is absent.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func BenchmarkLoad(b *testing.B) {
	benchEdition(b)
	runtime.GC()
	var e *Edition
	var err error
	for b.Loop() {
		e = nil
		if e, err = Load(b.Context(), []string{bench.dir}, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MB")
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-after-MB")
	b.ReportMetric(float64(e.Stats().Rows), "rows")
}

func BenchmarkSave(b *testing.B) {
	e, _ := benchEdition(b)
	dir := b.TempDir()
	for b.Loop() {
		if err := e.Save(dir); err != nil {
			b.Fatal(err)
		}
	}
	st, err := os.Stat(filepath.Join(dir, IndexFile))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.Size())/(1<<20), "file-MB")
}

func BenchmarkOpen(b *testing.B) {
	benchEdition(b)
	for b.Loop() {
		if _, err := Open(bench.data); err != nil {
			b.Fatal(err)
		}
	}
}

// sampleIDs are active concept ids picked at random.
func sampleIDs(e *Edition, n int) []uint64 {
	var all []uint64
	e.All(func(id uint64) bool { all = append(all, id); return true })
	rnd := rand.New(rand.NewPCG(1, 2))
	out := make([]uint64, n)
	for i := range out {
		out[i] = all[rnd.IntN(len(all))]
	}
	return out
}

func BenchmarkConcept(b *testing.B) {
	e, _ := benchEdition(b)
	ids := sampleIDs(e, 1024)
	i := 0
	for b.Loop() {
		if _, ok := e.Concept(ids[i&1023]); !ok {
			b.Fatal("not found")
		}
		i++
	}
}

func BenchmarkProviderLookup(b *testing.B) {
	e, _ := benchEdition(b)
	p := NewProvider(e)
	ids := sampleIDs(e, 1024)
	codes := make([]string, len(ids))
	for i, id := range ids {
		codes[i] = strconv.FormatUint(id, 10)
	}
	ctx := b.Context()
	i := 0
	for b.Loop() {
		if _, ok, _ := p.Lookup(ctx, codes[i&1023]); !ok {
			b.Fatal("not found")
		}
		i++
	}
}

func BenchmarkSubsumes(b *testing.B) {
	e, info := benchEdition(b)
	ids := sampleIDs(e, 1024)
	i := 0
	for b.Loop() {
		e.Subsumes(info.ClinicalFinding, ids[i&1023])
		i++
	}
}

func BenchmarkDescendants(b *testing.B) {
	e, info := benchEdition(b)
	n := 0
	for b.Loop() {
		n = 0
		e.Descendants(info.ClinicalFinding, func(uint64) bool { n++; return true })
	}
	b.ReportMetric(float64(n), "descendants")
}

func BenchmarkDescendantsInto(b *testing.B) {
	e, info := benchEdition(b)
	var set Bitset
	n := 0
	for b.Loop() {
		set.Reset()
		n = e.DescendantsInto(info.ClinicalFinding, &set)
	}
	b.ReportMetric(float64(n), "descendants")
}

func BenchmarkSearch(b *testing.B) {
	e, _ := benchEdition(b)
	// Queries made of the generated vocabulary: the start of a concept's term.
	var queries []string
	for _, id := range sampleIDs(e, 64) {
		w := strings.Fields(e.Display(id))
		q := w[0]
		if len(w) > 1 && len(w[1]) > 3 {
			q += " " + w[1][:3]
		}
		queries = append(queries, q)
	}
	i := 0
	for b.Loop() {
		if len(e.Search(queries[i&63], 20, nil)) == 0 {
			b.Fatal("no match for " + queries[i&63])
		}
		i++
	}
}

// TestFullScaleFigures prints load and query figures for the benchmark release when
// CONCORD_SNOMED_FIGURES is set (go test -run FullScale -v).
func TestFullScaleFigures(t *testing.T) {
	if os.Getenv("CONCORD_SNOMED_FIGURES") == "" {
		t.Skip("set CONCORD_SNOMED_FIGURES=1 (and CONCORD_SNOMED_CONCEPTS) to measure")
	}
	n, _ := strconv.Atoi(os.Getenv("CONCORD_SNOMED_CONCEPTS"))
	if n == 0 {
		n = 20000
	}
	dir := filepath.Join(t.TempDir(), "release")
	if r := os.Getenv("CONCORD_SNOMED_RELEASE"); r != "" {
		dir = filepath.Join(r, "release-"+strconv.Itoa(n))
	}
	if _, err := os.Stat(dir); err != nil {
		if _, err := snomedgen.Generate(dir, snomedgen.Config{Concepts: n, Seed: 1}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	e, err := Load(t.Context(), []string{dir}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("load: %v, %d rows, peak RSS %d MB", time.Since(start).Round(time.Millisecond), e.Stats().Rows, peakRSS()>>20)
	data := t.TempDir()
	start = time.Now()
	if err := e.Save(data); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(filepath.Join(data, IndexFile))
	t.Logf("save: %v, %d MB", time.Since(start).Round(time.Millisecond), st.Size()>>20)
	e = nil
	runtime.GC()
	start = time.Now()
	if e, err = Open(data); err != nil {
		t.Fatal(err)
	}
	t.Logf("open: %v", time.Since(start).Round(time.Millisecond))
}

// BenchmarkSearchShort is the worst case of a picker: one letter typed, matching a large
// part of the vocabulary.
func BenchmarkSearchShort(b *testing.B) {
	e, _ := benchEdition(b)
	for b.Loop() {
		if len(e.Search("a", 20, nil)) == 0 {
			b.Fatal("no match")
		}
	}
}
