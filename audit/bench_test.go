package audit

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/search"
	"github.com/concord-health/concord/store"
	"github.com/concord-health/concord/store/postgres/pgtest"
	"github.com/concord-health/concord/store/sqlite"
)

// BenchmarkAppend measures appends from many concurrent requests, as events/s.
func BenchmarkAppend(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchAppend(b, Config{DataDir: b.TempDir()}) })
	b.Run("sqlite-fullsync", func(b *testing.B) { benchAppend(b, Config{DataDir: b.TempDir(), FullSync: true}) })
	b.Run("postgres", func(b *testing.B) { benchAppend(b, Config{DatabaseURL: pgtest.FreshSchema(b)}) })
}

func benchAppend(b *testing.B, cfg Config) {
	l := open(b, cfg)
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(16) // requests waiting on the log, not CPUs
	b.ReportAllocs()
	cpu := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(n.Add(1))
			if err := l.Append(ctx, readEvent(i, fmt.Sprintf("u%d", i%50), "ORG", fmt.Sprintf("p%d", i%1000))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	reportCPU(b, cpu)
}

// cpuTime is the process's CPU time so far. On a shared machine the time per op depends on
// what else runs; the CPU per op much less.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, since time.Duration) {
	b.ReportMetric(float64((cpuTime()-since).Microseconds())/float64(b.N), "cpu-µs/op")
}

// BenchmarkRequestWrite compares a create request's store write on the embedded default
// without and with its audit event: each op writes one Observation (its own transaction,
// group-committed) and, audited, appends the event after it.
func BenchmarkRequestWrite(b *testing.B) {
	for _, mode := range []string{"unaudited", "audited", "audited-fullsync"} {
		audited := mode != "unaudited"
		b.Run(mode, func(b *testing.B) {
			dir := b.TempDir()
			st, err := sqlite.Open(context.Background(), dir)
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			var l *Log
			if audited {
				l = open(b, Config{DataDir: dir, FullSync: mode == "audited-fullsync"})
			}
			ctx := context.Background()
			var n atomic.Int64
			b.SetParallelism(16)
			cpu := cpuTime()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(n.Add(1))
					id := fmt.Sprintf("o%d", i)
					patient := fmt.Sprintf("p%d", i%1000)
					res, err := fhir.Parse([]byte(`{"resourceType":"Observation","id":"` + id + `","status":"final","code":{"text":"heart rate"},"subject":{"reference":"Patient/` + patient + `"},"valueQuantity":{"value":72,"unit":"/min"}}`))
					if err != nil {
						b.Error(err)
						return
					}
					ix := &search.Index{References: []search.ReferenceRow{{Param: search.ParamID("Observation", "subject"), TargetType: "Patient", TargetID: patient}}}
					var rec *store.Record
					err = st.Update(ctx, func(tx store.Tx) error {
						rec, err = tx.Put(ctx, &store.Put{Resource: res, Index: ix})
						return err
					})
					if err != nil {
						b.Error(err)
						return
					}
					if l == nil {
						continue
					}
					e := readEvent(i, fmt.Sprintf("u%d", i%50), "ORG", patient)
					e.Interaction = Create
					e.Resources = []Resource{{Type: "Observation", ID: id, Version: fmt.Sprint(rec.Version)}}
					if err := l.Append(ctx, e); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
			reportCPU(b, cpu)
		})
	}
}
