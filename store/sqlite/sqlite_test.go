package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/search"
	"github.com/concord-health/concord/store"
	"github.com/concord-health/concord/store/storetest"
)

func open(tb testing.TB) store.Store {
	s, err := Open(context.Background(), tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

func TestInbox(t *testing.T) {
	storetest.RunInbox(t, func(t *testing.T) store.Store { return open(t) })
}

func TestEvents(t *testing.T) {
	storetest.RunEvents(t, func(t *testing.T) store.Store { return open(t) })
}

func BenchmarkPut(b *testing.B) { storetest.BenchPut(b, open) }

// TestGroupCommitContainsPanics: a write transaction that panics inside a commit group is
// reported to its caller as an error and rolled back; the writers grouped with it commit.
func TestGroupCommitContainsPanics(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Update(ctx, func(tx store.Tx) error {
				r, err := fhir.Parse([]byte(fmt.Sprintf(`{"resourceType":"Patient","id":"p%d"}`, i)))
				if err != nil {
					return err
				}
				if _, err := tx.Put(ctx, &store.Put{Resource: r, Index: &search.Index{}}); err != nil {
					return err
				}
				if i%4 == 0 {
					panic("writer bug")
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		_, rerr := s.Read(ctx, "Patient", fmt.Sprintf("p%d", i))
		if i%4 == 0 {
			if err == nil || !strings.Contains(err.Error(), "panicked") || !errors.Is(rerr, store.ErrNotFound) {
				t.Errorf("p%d: update error %v, read error %v; want a panic error and nothing written", i, err, rerr)
			}
			continue
		}
		if err != nil || rerr != nil {
			t.Errorf("p%d: update error %v, read error %v", i, err, rerr)
		}
	}
}

// TestUpdateAfterClose: a write arriving after Close fails cleanly instead of hanging.
func TestUpdateAfterClose(t *testing.T) {
	s, err := Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	err = s.Update(context.Background(), func(store.Tx) error { return nil })
	if err == nil {
		t.Fatal("Update after Close succeeded")
	}
}

// TestPlannerStatisticsRefreshed: creating resources (not only updating them) counts toward
// the refresh of the planner's statistics.
func TestPlannerStatisticsRefreshed(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	err = s.Update(ctx, func(tx store.Tx) error {
		for i := range 600 {
			r, err := fhir.Parse([]byte(fmt.Sprintf(`{"resourceType":"Patient","id":"p%d"}`, i)))
			if err != nil {
				return err
			}
			ix := &search.Index{Tokens: []search.TokenRow{{Param: search.ParamID("Patient", "_id"), Code: r.ID}}}
			if _, err := tx.Put(ctx, &store.Put{Resource: r, Index: ix}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, FileName)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var n int
		err := db.QueryRow("SELECT COUNT(*) FROM sqlite_stat1").Scan(&n)
		if err == nil && n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no planner statistics after 600 creates (%v)", err)
		}
	}
}

// TestSearchCancelled: a search whose request has gone away stops with the context's error.
func TestSearchCancelled(t *testing.T) {
	s := open(t)
	r, err := fhir.Parse([]byte(`{"resourceType":"Patient","id":"p1"}`))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(context.Background(), func(tx store.Tx) error {
		_, err := tx.Put(context.Background(), &store.Put{Resource: r, Index: &search.Index{}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Search(ctx, &search.Query{Type: "Patient"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled search: %v", err)
	}
	if _, err := s.Read(ctx, "Patient", "p1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled read: %v", err)
	}
}
