package postgres

import (
	"context"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver for the admin connection

	"github.com/concord-health/concord/store"
	"github.com/concord-health/concord/store/postgres/pgtest"
	"github.com/concord-health/concord/store/storetest"
)

func testURL(tb testing.TB) string { return pgtest.URL(tb) }

func freshSchema(tb testing.TB) string { return pgtest.FreshSchema(tb) }

func open(tb testing.TB) store.Store {
	u := freshSchema(tb)
	s, err := Open(context.Background(), u)
	if err != nil {
		tb.Fatal(err)
	}
	// Registered after freshSchema's cleanup, so it runs first: connections close before the
	// schema is dropped.
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	testURL(t)
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

func TestInbox(t *testing.T) {
	testURL(t)
	storetest.RunInbox(t, func(t *testing.T) store.Store { return open(t) })
}

func TestEvents(t *testing.T) {
	testURL(t)
	storetest.RunEvents(t, func(t *testing.T) store.Store { return open(t) })
}

// TestConcurrentOpen starts several processes' worth of stores on one empty schema at once:
// schema creation must not race.
func TestConcurrentOpen(t *testing.T) {
	u := freshSchema(t)
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 6 {
		wg.Go(func() {
			s, err := Open(context.Background(), u)
			if err != nil {
				errs <- err
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func BenchmarkPut(b *testing.B) { storetest.BenchPut(b, open) }
