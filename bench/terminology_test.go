package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/concord-health/concord/bench/snomedgen"
	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/interaction"
	"github.com/concord-health/concord/server"
	"github.com/concord-health/concord/store/sqlite"
	"github.com/concord-health/concord/terminology"
	"github.com/concord-health/concord/terminology/snomed"
)

// The terminology benchmarks serve a generated SNOMED CT release of
// CONCORD_SNOMED_CONCEPTS concepts (default 20,000; 600000 is the UK edition's size) over
// HTTP, as concord serve does, and report latency percentiles of the operations.
var termBench struct {
	once sync.Once
	url  string
	info snomedgen.Info
	ids  []uint64
	err  error
}

func terminologyServer(b *testing.B) (string, snomedgen.Info, []uint64) {
	b.Helper()
	termBench.once.Do(func() {
		n := 20000
		if v := os.Getenv("CONCORD_SNOMED_CONCEPTS"); v != "" {
			if n, termBench.err = strconv.Atoi(v); termBench.err != nil {
				return
			}
		}
		root := os.Getenv("CONCORD_SNOMED_RELEASE")
		if root == "" {
			if root, termBench.err = os.MkdirTemp("", "snomed-http-"); termBench.err != nil {
				return
			}
		}
		dir := filepath.Join(root, "release-"+strconv.Itoa(n))
		if termBench.info, termBench.err = snomedgen.Generate(dir, snomedgen.Config{Concepts: n, Seed: 1}); termBench.err != nil {
			return
		}
		e, err := snomed.Load(context.Background(), []string{dir}, snomed.Options{})
		if termBench.err = err; err != nil {
			return
		}
		e.All(func(id uint64) bool {
			if e.Exists(id) {
				termBench.ids = append(termBench.ids, id)
			}
			return true
		})
		ts, err := terminology.Core()
		if termBench.err = err; err != nil {
			return
		}
		ts.AddProvider(snomed.NewProvider(e))
		dbDir, err := os.MkdirTemp("", "concord-terminology-bench-")
		if termBench.err = err; err != nil {
			return
		}
		st, err := sqlite.OpenFile(context.Background(), filepath.Join(dbDir, "concord.db"))
		if termBench.err = err; err != nil {
			return
		}
		svc := newService(b, st)
		svc.UseTerminology(ts)
		termBench.err = loadConditions(svc, termBench.ids, benchConditions)
		termBench.url = httptest.NewServer(server.New(svc, definitions.R4(), server.Options{})).URL
	})
	if termBench.err != nil {
		b.Fatal(termBench.err)
	}
	return termBench.url, termBench.info, termBench.ids
}

// benchConditions is how many Conditions the search benchmarks run over, each coded with a
// concept drawn evenly from the edition.
const benchConditions = 20000

// loadConditions writes n Conditions in transaction Bundles of 500.
func loadConditions(svc *interaction.Service, ids []uint64, n int) error {
	for start := 0; start < n; start += 500 {
		var b strings.Builder
		b.WriteString(`{"resourceType":"Bundle","type":"transaction","entry":[`)
		for i := start; i < min(start+500, n); i++ {
			if i > start {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"resource":{"resourceType":"Condition","id":"c%d","subject":{"reference":"Patient/p%d"},`+
				`"code":{"coding":[{"system":"http://snomed.info/sct","code":"%d"}]}},"request":{"method":"PUT","url":"Condition/c%d"}}`,
				i, i%1000, ids[(i*7919)%len(ids)], i)
		}
		b.WriteString("]}")
		resp := svc.Do(context.Background(), &interaction.Request{Method: "POST", Body: []byte(b.String())})
		if resp.Status != 200 {
			return fmt.Errorf("loading conditions: %d %s", resp.Status, resp.Body)
		}
	}
	return nil
}

// BenchmarkTerminologySearch runs token searches that the terminology resolves: a broad
// SNOMED CT branch (a sixth of the edition) with :below and :in, and a narrow one.
func BenchmarkTerminologySearch(b *testing.B) {
	base, info, _ := terminologyServer(b)
	finding := strconv.FormatUint(info.ClinicalFinding, 10)
	for _, q := range []struct{ name, query string }{
		{"below-broad", "code:below=http://snomed.info/sct|" + finding},
		{"in-broad", "code:in=" + url.QueryEscape("http://snomed.info/sct?fhir_vs=isa/"+finding)},
		{"below-narrow", "code:below=http://snomed.info/sct|" + strconv.FormatUint(info.Sample, 10)},
	} {
		b.Run(q.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				start := time.Now()
				resp, err := http.Get(base + "/fhir/Condition?_count=20&" + q.query)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// BenchmarkTerminologyHTTP runs each operation over a spread of concepts from one client
// (latency) and from four at once (under load), reporting p50 and p99 latency (target: p99
// under 2 ms for $lookup and $validate-code at the UK edition's size).
func BenchmarkTerminologyHTTP(b *testing.B) {
	base, info, ids := terminologyServer(b)
	isa := "http://snomed.info/sct?fhir_vs=isa/" + strconv.FormatUint(info.ClinicalFinding, 10)
	ops := []struct {
		name string
		path func(id string) string
	}{
		{"lookup", func(id string) string {
			return "/fhir/CodeSystem/$lookup?system=http://snomed.info/sct&code=" + id
		}},
		{"validate-code", func(id string) string {
			return "/fhir/CodeSystem/$validate-code?url=http://snomed.info/sct&code=" + id
		}},
		{"valueset-validate-code", func(id string) string {
			return "/fhir/ValueSet/$validate-code?url=" + isa + "&system=http://snomed.info/sct&code=" + id
		}},
		{"subsumes", func(id string) string {
			return "/fhir/CodeSystem/$subsumes?system=http://snomed.info/sct&codeA=" + strconv.FormatUint(info.ClinicalFinding, 10) + "&codeB=" + id
		}},
	}
	for _, op := range ops {
		for _, clients := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/clients=%d", op.name, clients), func(b *testing.B) {
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
				lat := make([][]time.Duration, clients)
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				for c := range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := next.Add(1)
							if i > int64(b.N) {
								return
							}
							id := strconv.FormatUint(ids[(i*7919)%int64(len(ids))], 10)
							start := time.Now()
							resp, err := client.Get(base + op.path(id))
							if err != nil {
								b.Error(err)
								return
							}
							_, _ = io.Copy(io.Discard, resp.Body)
							resp.Body.Close()
							if resp.StatusCode != 200 {
								b.Errorf("%s: status %d", op.path(id), resp.StatusCode)
								return
							}
							lat[c] = append(lat[c], time.Since(start))
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				all := slices.Concat(lat...)
				slices.Sort(all)
				if len(all) > 0 {
					b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
					b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
				}
			})
		}
	}
}
