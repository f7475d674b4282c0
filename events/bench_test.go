package events

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/interaction"
	"github.com/concord-health/concord/store"
)

// BenchmarkNotificationLatency measures the time from a write's commit (its interaction
// returning) to the webhook receiving its notification, with writes arriving at 500 a
// second (each finishing an Encounter that a rest-hook subscription with full payload
// matches). Run with -benchtime=4s or more for a stable p99.
func BenchmarkNotificationLatency(b *testing.B) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) { benchLatency(b, be, 500) })
	}
}

func benchLatency(b *testing.B, be backend, perSecond int) {
	st := be.open(b)
	svc := newService(b, st)
	var mu sync.Mutex
	committed, received := map[string]time.Time{}, map[string]time.Time{}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		loc := r.Header.Get("Content-Location")
		mu.Lock()
		if _, ok := received[loc]; !ok {
			received[loc] = now
		}
		mu.Unlock()
	}))
	defer recv.Close()
	opts := Options{Extractor: sharedExtractor(b), Logger: quietLogger()}
	run := startDispatcher(b, st, svc, opts)
	defer run.stop()
	do(b, svc, "PUT", "Subscription/s", subscriptionJSONFor("s", "requested", "Encounter?status=finished", recv.URL, "application/fhir+json"))
	waitStatus(b, st, "s", "active", 10*time.Second)

	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(perSecond))
	defer tick.Stop()
	n := 0
	start := time.Now()
	for b.Loop() {
		<-tick.C
		id := fmt.Sprintf("e%d", n)
		n++
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			resp := svc.Do(context.Background(), &interaction.Request{Method: "PUT", Path: "Encounter/" + id,
				Body: []byte(encounterJSON(id, "finished", "p1")), ContentType: "application/fhir+json"})
			at := time.Now()
			if resp.Err != nil {
				b.Error(resp.Err)
				return
			}
			mu.Lock()
			committed["Encounter/"+id+"/_history/1"] = at
			mu.Unlock()
		})
	}
	wg.Wait()
	rate := float64(n) / time.Since(start).Seconds()
	b.StopTimer()
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		got := len(received)
		mu.Unlock()
		if got >= n {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d notifications received", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var lat []time.Duration
	mu.Lock()
	for loc, c := range committed {
		lat = append(lat, max(0, received[loc].Sub(c)))
	}
	mu.Unlock()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
	b.ReportMetric(rate, "writes/s")
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// BenchmarkImportSubscriptions imports the Synthea sample (as the bench package's import
// benchmark does: two loaders, one transaction per bundle; a generated sample when the
// bundles are absent) into a fresh store with 0, 100 and 10,000 active rest-hook
// subscriptions served by a running dispatcher. Most name one patient (as a GP practice's
// subscriptions to its patients' discharges and results would), a tenth a code; few match
// the sample. resources/s is the import throughput; match-lag-ms is how long after the
// import the dispatcher finished matching its events.
func BenchmarkImportSubscriptions(b *testing.B) {
	files := importSample(b)
	for _, be := range backends() {
		for _, n := range []int{0, 100, 10000} {
			b.Run(fmt.Sprintf("%s/subscriptions=%d", be.name, n), func(b *testing.B) { benchImport(b, be, files, n) })
		}
	}
}

const syntheaDir = "../../shared/data/synthea/bundles"

// importSample returns the Synthea bundles, or generated ones.
func importSample(b *testing.B) [][]byte {
	paths, _ := filepath.Glob(filepath.Join(syntheaDir, "*.json"))
	sort.Strings(paths)
	var out [][]byte
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, raw)
	}
	if len(out) > 0 {
		return out
	}
	for f := range 40 {
		var entries []string
		for p := range 5 {
			pid := fmt.Sprintf("gen-%d-%d", f, p)
			entries = append(entries, fmt.Sprintf(`{"fullUrl":"urn:uuid:%s","resource":{"resourceType":"Patient","id":%q,"name":[{"family":"Gen%d"}]},"request":{"method":"PUT","url":"Patient/%s"}}`, pid, pid, p, pid))
			for e := range 10 {
				eid := fmt.Sprintf("%s-e%d", pid, e)
				entries = append(entries, fmt.Sprintf(`{"resource":%s,"request":{"method":"PUT","url":"Encounter/%s"}}`, encounterJSON(eid, "finished", pid), eid))
				for o := range 5 {
					oid := fmt.Sprintf("%s-o%d", eid, o)
					entries = append(entries, fmt.Sprintf(`{"resource":{"resourceType":"Observation","id":%q,"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/%s"},"encounter":{"reference":"Encounter/%s"},"effectiveDateTime":"2024-01-0%dT10:00:00Z","valueQuantity":{"value":%d,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}},"request":{"method":"PUT","url":"Observation/%s"}}`,
						oid, pid, eid, o+1, 60+o, oid))
				}
			}
		}
		out = append(out, []byte(`{"resourceType":"Bundle","type":"transaction","entry":[`+strings.Join(entries, ",")+`]}`))
	}
	return out
}

// benchSubscriptions are n active subscriptions to the receiver at url.
func benchSubscriptions(n int, url string) []interaction.LoadItem {
	var items []interaction.LoadItem
	for i := range n {
		var criteria string
		switch i % 10 {
		case 7, 8:
			criteria = fmt.Sprintf("Observation?subject=Patient/pt-%d&code=http://loinc.org|8867-4", i)
		case 9:
			criteria = fmt.Sprintf("DiagnosticReport?code=http://loinc.org|%d-%d", 10000+i, i%7)
		default:
			criteria = fmt.Sprintf("Encounter?patient=Patient/pt-%d&status=finished", i)
		}
		id := fmt.Sprintf("s%d", i)
		res, err := fhir.Parse([]byte(subscriptionJSONFor(id, "active", criteria, url, "application/fhir+json")))
		if err != nil {
			panic(err)
		}
		items = append(items, interaction.LoadItem{Resource: res})
	}
	return items
}

func benchImport(b *testing.B, be backend, files [][]byte, subs int) {
	recv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer recv.Close()
	var total int
	var elapsed, lag time.Duration
	for b.Loop() {
		b.StopTimer()
		st := be.open(b)
		svc := newService(b, st)
		if subs > 0 {
			if _, err := svc.Load(context.Background(), benchSubscriptions(subs, recv.URL)); err != nil {
				b.Fatal(err)
			}
		}
		run := startDispatcher(b, st, svc, Options{Extractor: sharedExtractor(b), Logger: quietLogger()})
		for deadline := time.Now().Add(2 * time.Minute); run.d.held.Load() < int64(subs); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d subscriptions taken up", run.d.held.Load(), subs)
			}
		}
		b.StartTimer()
		start := time.Now()
		total += importFiles(b, svc, files, 2)
		elapsed += time.Since(start)
		b.StopTimer()
		last, err := st.(store.EventLog).LastEvent(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		done := time.Now()
		for run.d.pos.Load() < last {
			time.Sleep(5 * time.Millisecond)
		}
		lag += time.Since(done)
		run.stop()
		b.StartTimer()
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), "resources/s")
	b.ReportMetric(float64(lag.Milliseconds())/float64(b.N), "match-lag-ms")
}

// importFiles loads the bundles with parallel loaders, as concord import does.
func importFiles(b *testing.B, svc *interaction.Service, files [][]byte, workers int) int {
	work := make(chan []byte)
	var mu sync.Mutex
	total := 0
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for raw := range work {
				res, err := fhir.Parse(raw)
				if err != nil {
					b.Error(err)
					continue
				}
				r, err := svc.Load(context.Background(), interaction.BundleItems(res))
				if err != nil {
					b.Error(err)
					continue
				}
				mu.Lock()
				total += r.Created + r.Updated + r.Unchanged
				mu.Unlock()
			}
		})
	}
	for _, f := range files {
		work <- f
	}
	close(work)
	wg.Wait()
	return total
}
