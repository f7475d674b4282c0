// Package bench measures Concord end to end on the Synthea sample: bulk import through the
// interaction layer and the search mix of ../shared/tools/fhirload, on SQLite and (when
// CONCORD_TEST_POSTGRES is set) PostgreSQL.
package bench

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/fhir/validation"
	"github.com/concord-health/concord/interaction"
	"github.com/concord-health/concord/search"
	"github.com/concord-health/concord/store"
	"github.com/concord-health/concord/store/postgres"
	"github.com/concord-health/concord/store/postgres/pgtest"
	"github.com/concord-health/concord/store/sqlite"
	"github.com/concord-health/concord/terminology"
)

const bundlesDir = "../../shared/data/synthea/bundles"

// loadFile is one bundle file; each run parses raw afresh, since Load rewrites the trees.
type loadFile struct {
	name string
	raw  []byte
}

// synthea reads the Synthea bundles (skipping the benchmark when they are absent).
func synthea(tb testing.TB) []loadFile {
	tb.Helper()
	paths, _ := filepath.Glob(filepath.Join(bundlesDir, "*.json"))
	if len(paths) == 0 {
		tb.Skipf("Synthea bundles not found in %s", bundlesDir)
	}
	sort.Strings(paths)
	var files []loadFile
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		files = append(files, loadFile{name: filepath.Base(p), raw: raw})
	}
	return files
}

// items parses a bundle file into load items the way concord import does.
func items(tb testing.TB, raw []byte) []interaction.LoadItem {
	res, err := fhir.Parse(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return interaction.BundleItems(res)
}

type backend struct {
	name string
	open func(tb testing.TB) store.Store
}

func backends() []backend {
	bs := []backend{{"sqlite", func(tb testing.TB) store.Store {
		st, err := sqlite.OpenFile(context.Background(), filepath.Join(tb.TempDir(), "bench.db"))
		if err != nil {
			tb.Fatal(err)
		}
		return st
	}}}
	if os.Getenv(pgtest.Env) != "" {
		bs = append(bs, backend{"postgres", openPostgres})
	}
	return bs
}

// openPostgres opens the store in a fresh schema, dropped when the benchmark ends.
func openPostgres(tb testing.TB) store.Store {
	tb.Helper()
	st, err := postgres.Open(context.Background(), pgtest.FreshSchema(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

func newService(tb testing.TB, st store.Store) *interaction.Service {
	reg := definitions.R4()
	ix, err := search.NewExtractor(reg)
	if err != nil {
		tb.Fatal(err)
	}
	return interaction.New(st, reg, ix)
}

// importAll loads every file with `workers` parallel loaders (as concord import does) and
// returns the number of resources written.
func importAll(tb testing.TB, svc *interaction.Service, files []loadFile, workers int) int {
	work := make(chan loadFile)
	var mu sync.Mutex
	total := 0
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				r, err := svc.Load(context.Background(), items(tb, f.raw))
				if err != nil {
					tb.Error(f.name, err)
					continue
				}
				mu.Lock()
				total += r.Created + r.Updated + r.Unchanged
				mu.Unlock()
			}
		}()
	}
	for _, f := range files {
		work <- f
	}
	close(work)
	wg.Wait()
	return total
}

// BenchmarkImport loads the Synthea sample into an empty store per iteration, without
// validation and with every resource validated on write (warn mode: validated and stored,
// so the two runs write the same data).
func BenchmarkImport(b *testing.B) {
	files := synthea(b)
	for _, be := range backends() {
		for _, mode := range []interaction.ValidationMode{interaction.ValidateOff, interaction.ValidateWarn} {
			b.Run(be.name+"/validate="+string(mode), func(b *testing.B) { benchImport(b, be, files, mode) })
		}
	}
}

func benchImport(b *testing.B, be backend, files []loadFile, mode interaction.ValidationMode) {
	// The validator is built once, as a server does at start, not inside the timed loads,
	// with the core terminology deciding bindings.
	ts, err := terminology.Core()
	if err != nil {
		b.Fatal(err)
	}
	v, err := validation.NewWith(definitions.R4(), validation.Options{Terminology: ts})
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	var elapsed time.Duration
	for b.Loop() {
		b.StopTimer()
		st := be.open(b)
		svc := newService(b, st)
		svc.Validation = interaction.ValidationPolicy{Default: mode}
		svc.UseValidator(v)
		b.StartTimer()
		start := time.Now()
		n += importAll(b, svc, files, 2)
		elapsed += time.Since(start)
		b.StopTimer()
		st.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n)/elapsed.Seconds(), "resources/s")
}

// BenchmarkSearch runs the fhirload search mix against a store holding the Synthea sample.
func BenchmarkSearch(b *testing.B) {
	files := synthea(b)
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			st := be.open(b)
			defer st.Close()
			svc := newService(b, st)
			importAll(b, svc, files, 2)
			ctx := context.Background()
			resp := svc.Do(ctx, &interaction.Request{Method: "GET", Path: "Patient", Query: url.Values{"_count": {"100"}, "_elements": {"id"}}, Base: "http://x/fhir"})
			var pids []string
			for _, part := range strings.Split(string(resp.Body), `"resourceType":"Patient","id":"`)[1:] {
				pids = append(pids, part[:strings.IndexByte(part, '"')])
			}
			if len(pids) == 0 {
				b.Fatal("no patients found")
			}
			queries := []struct {
				name string
				path func(p string) string
			}{
				{"read-patient", func(p string) string { return "Patient/" + p }},
				{"patient-family", func(p string) string { return "Patient?family=Abbott" }},
				{"patient-birthdate", func(p string) string { return "Patient?birthdate=ge1970-01-01&_count=50" }},
				{"code-observation", func(p string) string { return "Observation?code=http://loinc.org|8302-2&_count=50" }},
				{"obs-by-patient-sorted", func(p string) string { return "Observation?patient=Patient/" + p + "&_sort=-date&_count=50" }},
				{"condition-by-patient", func(p string) string { return "Condition?patient=Patient/" + p }},
				{"obs-include-patient", func(p string) string {
					return "Observation?patient=Patient/" + p + "&_include=Observation:patient"
				}},
				{"patient-everything", func(p string) string { return "Patient/" + p + "/$everything" }},
			}
			for _, q := range queries {
				b.Run(q.name, func(b *testing.B) {
					i := 0
					for b.Loop() {
						path, raw, _ := strings.Cut(q.path(pids[i%len(pids)]), "?")
						vals, _ := url.ParseQuery(raw)
						r := svc.Do(ctx, &interaction.Request{Method: "GET", Path: path, Query: vals, Base: "http://x/fhir"})
						if r.Status != 200 {
							b.Fatalf("%s: %d %s", q.name, r.Status, r.Body)
						}
						i++
					}
				})
			}
		})
	}
}
