package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/concord-health/concord/search"
	"github.com/concord-health/concord/store"
)

// RunEvents is the suite a store that is also a store.EventLog and store.EventCursors must
// pass.
func RunEvents(t *testing.T, open func(t *testing.T) store.Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"WrittenWithVersions", testEventsWritten},
		{"RolledBackWritesNone", testEventsRollback},
		{"Paging", testEventsPaging},
		{"Cursors", testEventCursors},
		{"CursorClaimRace", testEventCursorClaimRace},
		{"ConcurrentWritersNoneSkipped", testEventsConcurrentWriters},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func eventLog(t *testing.T, s store.Store) store.EventLog {
	t.Helper()
	l, ok := s.(store.EventLog)
	if !ok {
		t.Fatalf("%T is not a store.EventLog", s)
	}
	return l
}

func allEvents(t *testing.T, l store.EventLog, after int64) []store.Event {
	t.Helper()
	evs, err := l.Events(context.Background(), after, 0)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func eventString(e store.Event) string {
	return fmt.Sprintf("%s %s/%s/%d", e.Action, e.Type, e.ID, e.Version)
}

func testEventsWritten(t *testing.T, s store.Store) {
	l := eventLog(t, s)
	ctx := context.Background()
	if last, err := l.LastEvent(ctx); err != nil || last != 0 {
		t.Fatalf("empty store: LastEvent %d, %v", last, err)
	}
	put(t, s, patient(t, "p1", "Smith"), patient(t, "p2", "Jones"))
	put(t, s, patient(t, "p1", "Smyth"))
	rec := del(t, s, "Patient", "p2")
	put(t, s, patient(t, "p2", "Jones")) // re-created after its deletion: a create
	evs := allEvents(t, l, 0)
	var got []string
	for i, e := range evs {
		got = append(got, eventString(e))
		if i > 0 && e.Seq <= evs[i-1].Seq {
			t.Errorf("seq %d after %d", e.Seq, evs[i-1].Seq)
		}
	}
	sameStrings(t, "events", got, []string{"create Patient/p1/1", "create Patient/p2/1", "update Patient/p1/2",
		"delete Patient/p2/2", "create Patient/p2/3"})
	if len(evs) == 5 && !evs[3].Time.Equal(rec.LastUpdated) {
		t.Errorf("deletion event time %v, version's lastUpdated %v", evs[3].Time, rec.LastUpdated)
	}
	last, err := l.LastEvent(ctx)
	if err != nil || len(evs) == 0 || last != evs[len(evs)-1].Seq {
		t.Errorf("LastEvent %d, %v; want the last seq", last, err)
	}
}

func testEventsRollback(t *testing.T, s store.Store) {
	l := eventLog(t, s)
	ctx := context.Background()
	put(t, s, patient(t, "p1", "Smith"))
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Put(ctx, patient(t, "p2", "Jones")); err != nil {
			return err
		}
		// Flush the buffered rows, so the event row is really written before the rollback.
		if _, err := tx.Match(ctx, &search.Query{Type: "Patient"}, 1); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update: %v", err)
	}
	put(t, s, patient(t, "p3", "Brown"))
	// The rolled-back write may have left a gap in the seqs, which a store may hold readers
	// at until it knows the gap is final: read until the later write's event shows.
	var got []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		got = got[:0]
		for _, e := range allEvents(t, l, 0) {
			got = append(got, eventString(e))
		}
		if len(got) >= 2 || time.Now().After(deadline) {
			break
		}
	}
	sameStrings(t, "events", got, []string{"create Patient/p1/1", "create Patient/p3/1"})
}

func testEventsPaging(t *testing.T, s store.Store) {
	l := eventLog(t, s)
	ctx := context.Background()
	var puts []*store.Put
	for i := range 25 {
		puts = append(puts, patient(t, fmt.Sprintf("p%02d", i), "Smith"))
	}
	put(t, s, puts...)
	var after int64
	n := 0
	for {
		evs, err := l.Events(ctx, after, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		if len(evs) > 10 {
			t.Fatalf("page of %d events, limit 10", len(evs))
		}
		for _, e := range evs {
			if want := fmt.Sprintf("p%02d", n); e.ID != want {
				t.Fatalf("event %d is %s, want %s", n, e.ID, want)
			}
			n++
		}
		after = evs[len(evs)-1].Seq
	}
	if n != 25 {
		t.Errorf("%d events paged, want 25", n)
	}
}

func eventCursors(t *testing.T, s store.Store) store.EventCursors {
	t.Helper()
	c, ok := s.(store.EventCursors)
	if !ok {
		t.Fatalf("%T is not a store.EventCursors", s)
	}
	return c
}

func testEventCursors(t *testing.T, s store.Store) {
	cs := eventCursors(t, s)
	ctx := context.Background()
	if _, err := cs.Cursor(ctx, "sub/1"); !errors.Is(err, store.ErrCursorNotFound) {
		t.Fatalf("missing cursor: %v", err)
	}
	if err := cs.CreateCursors(ctx, []string{"sub/1"}, 7); err != nil {
		t.Fatal(err)
	}
	c, err := cs.Cursor(ctx, "sub/1")
	if err != nil || c.Seq != 7 || c.Owner != "" {
		t.Fatalf("created: %+v, %v", c, err)
	}
	if err := cs.CreateCursors(ctx, []string{"sub/1", "sub/3"}, 99); err != nil {
		t.Fatal(err)
	}
	if c, err = cs.Cursor(ctx, "sub/1"); err != nil || c.Seq != 7 {
		t.Fatalf("created again: %+v, %v; want the existing cursor", c, err)
	}
	if c, err = cs.Cursor(ctx, "sub/3"); err != nil || c.Seq != 99 {
		t.Fatalf("created with another: %+v, %v", c, err)
	}
	now := time.Now()
	held, err := cs.ClaimCursors(ctx, "a", []string{"sub/1", "sub/absent"}, now, now.Add(time.Minute))
	if err != nil || len(held) != 1 || held[0].Name != "sub/1" || held[0].Owner != "a" {
		t.Fatalf("claim by a: %+v, %v", held, err)
	}
	if held, err = cs.ClaimCursors(ctx, "b", []string{"sub/1"}, now, now.Add(time.Minute)); err != nil || len(held) != 0 {
		t.Fatalf("claim by b while a holds it: %+v, %v", held, err)
	}
	if err := cs.AdvanceCursor(ctx, "sub/1", "b", 9); !errors.Is(err, store.ErrCursorLost) {
		t.Fatalf("advance by b: %v", err)
	}
	if err := cs.AdvanceCursor(ctx, "sub/1", "a", 9); err != nil {
		t.Fatal(err)
	}
	if err := cs.AdvanceCursor(ctx, "sub/1", "a", 8); err != nil {
		t.Fatal(err)
	}
	f1, err := cs.FailCursor(ctx, "sub/1", "a", "HTTP 500", now)
	if err != nil {
		t.Fatal(err)
	}
	f2, err := cs.FailCursor(ctx, "sub/1", "a", "timeout", now.Add(time.Second))
	if err != nil || f2.Attempts != 2 || f2.LastError != "timeout" || !f2.FailingSince.Equal(f1.FailingSince) || f2.Seq != 9 {
		t.Fatalf("second failure: %+v, %v", f2, err)
	}
	if _, err := cs.FailCursor(ctx, "sub/1", "b", "x", now); !errors.Is(err, store.ErrCursorLost) {
		t.Fatalf("fail by b: %v", err)
	}
	// The lease expires: b takes the cursor over, with its position and failures.
	later := now.Add(2 * time.Minute)
	held, err = cs.ClaimCursors(ctx, "b", []string{"sub/1"}, later, later.Add(time.Minute))
	if err != nil || len(held) != 1 || held[0].Seq != 9 || held[0].Attempts != 2 || held[0].FailingSince.IsZero() {
		t.Fatalf("claim by b after expiry: %+v, %v", held, err)
	}
	if err := cs.AdvanceCursor(ctx, "sub/1", "a", 10); !errors.Is(err, store.ErrCursorLost) {
		t.Fatalf("advance by a after losing the lease: %v", err)
	}
	if err := cs.AdvanceCursor(ctx, "sub/1", "b", 10); err != nil {
		t.Fatal(err)
	}
	if c, err = cs.Cursor(ctx, "sub/1"); err != nil || c.Seq != 10 || c.Attempts != 0 || !c.FailingSince.IsZero() || c.LastError != "" {
		t.Fatalf("after advance: %+v, %v; want failures cleared", c, err)
	}
	if err := cs.CreateCursors(ctx, []string{"sub/2"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.ClaimCursors(ctx, "b", []string{"sub/2"}, later, later.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := cs.AdvanceCursors(ctx, "b", map[string]int64{"sub/1": 5, "sub/2": 12}); err != nil {
		t.Fatal(err)
	}
	c1, _ := cs.Cursor(ctx, "sub/1")
	c2, _ := cs.Cursor(ctx, "sub/2")
	if c1.Seq != 10 || c2.Seq != 12 {
		t.Errorf("after AdvanceCursors: %d, %d; want 10 (never backwards), 12", c1.Seq, c2.Seq)
	}
	if err := cs.ReleaseCursors(ctx, "b", "sub/1"); err != nil {
		t.Fatal(err)
	}
	if held, err = cs.ClaimCursors(ctx, "a", []string{"sub/1", "sub/2"}, later, later.Add(time.Minute)); err != nil || len(held) != 1 || held[0].Name != "sub/1" {
		t.Fatalf("claim after releasing one: %+v, %v", held, err)
	}
	if err := cs.ReleaseCursors(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if held, err = cs.ClaimCursors(ctx, "a", []string{"sub/1", "sub/2"}, later, later.Add(time.Minute)); err != nil || len(held) != 2 {
		t.Fatalf("claim after releasing all: %+v, %v", held, err)
	}
	if err := cs.DeleteCursor(ctx, "sub/1"); err != nil {
		t.Fatal(err)
	}
	if err := cs.AdvanceCursor(ctx, "sub/1", "a", 11); !errors.Is(err, store.ErrCursorLost) {
		t.Fatalf("advance of a deleted cursor: %v", err)
	}
}

// testEventCursorClaimRace: owners claiming the same free cursors at once end up holding
// each one exactly once.
func testEventCursorClaimRace(t *testing.T, s store.Store) {
	cs := eventCursors(t, s)
	ctx := context.Background()
	var names []string
	for i := range 20 {
		names = append(names, fmt.Sprintf("sub/%d", i))
	}
	if err := cs.CreateCursors(ctx, names, 0); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	holders := make([][]store.EventCursor, 4)
	var wg sync.WaitGroup
	for i := range holders {
		wg.Go(func() {
			held, err := cs.ClaimCursors(ctx, fmt.Sprintf("node%d", i), names, now, now.Add(time.Minute))
			if err != nil {
				t.Error(err)
			}
			holders[i] = held
		})
	}
	wg.Wait()
	count := map[string]int{}
	for _, held := range holders {
		for _, c := range held {
			count[c.Name]++
		}
	}
	for _, n := range names {
		if count[n] != 1 {
			t.Errorf("%s held by %d owners", n, count[n])
		}
	}
}

// testEventsConcurrentWriters: while many transactions write concurrently — some taking
// their seq and then holding the transaction open a while, so that later seqs commit
// first, some rolling back after taking one — a reader that always continues after the last
// event it was given sees every committed event exactly once, in seq order.
func testEventsConcurrentWriters(t *testing.T, s store.Store) {
	l := eventLog(t, s)
	ctx := context.Background()
	const writers, perWriter = 8, 25
	var committed sync.Map // id -> true
	var nCommitted atomic.Int64
	done := make(chan struct{})
	var seen []store.Event
	readerErr := make(chan error, 1)
	go func() {
		var after int64
		var deadline time.Time
		for {
			evs, err := l.Events(ctx, after, 50)
			if err != nil {
				readerErr <- err
				return
			}
			seen = append(seen, evs...)
			if len(evs) > 0 {
				after = evs[len(evs)-1].Seq
				continue
			}
			select {
			case <-done:
				// After the last commit, read on until every committed event has shown (a
				// gap left by a rollback may hold readers back a little) or time is up.
				if deadline.IsZero() {
					deadline = time.Now().Add(10 * time.Second)
				}
				if int64(len(seen)) >= nCommitted.Load() || time.Now().After(deadline) {
					readerErr <- nil
					return
				}
				time.Sleep(time.Millisecond)
			case <-time.After(time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range perWriter {
				id := fmt.Sprintf("w%d-%d", w, i)
				rollback := rng.IntN(6) == 0
				hold := time.Duration(rng.IntN(4)) * time.Millisecond
				err := s.Update(ctx, func(tx store.Tx) error {
					if _, err := tx.Put(ctx, patient(t, id, "Smith")); err != nil {
						return err
					}
					// Match flushes the buffered rows: the event row (and its seq) is written
					// now, and the transaction stays open a while before it commits.
					if _, err := tx.Match(ctx, &search.Query{Type: "Patient", Filters: []*search.Filter{idFilter(t, "Patient", id)}}, 1); err != nil {
						return err
					}
					time.Sleep(hold)
					if rollback {
						return errRolledBack
					}
					return nil
				})
				switch {
				case err == nil:
					committed.Store(id, true)
					nCommitted.Add(1)
				case !errors.Is(err, errRolledBack):
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	lastCommit := time.Now()
	close(done)
	if err := <-readerErr; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d events read; the last %v after the last commit", len(seen), time.Since(lastCommit).Round(time.Millisecond))
	got := map[string]int{}
	for i, e := range seen {
		if i > 0 && e.Seq <= seen[i-1].Seq {
			t.Errorf("seq %d handed out after %d", e.Seq, seen[i-1].Seq)
		}
		got[e.ID]++
		if _, ok := committed.Load(e.ID); !ok {
			t.Errorf("event of %s, which rolled back", e.ID)
		}
	}
	if int64(len(got)) != nCommitted.Load() {
		t.Errorf("reader saw events of %d resources, %d committed", len(got), nCommitted.Load())
	}
	committed.Range(func(k, _ any) bool {
		if got[k.(string)] != 1 {
			t.Errorf("%s: seen %d times, want once", k, got[k.(string)])
		}
		return true
	})
}

var errRolledBack = errors.New("rolled back on purpose")
