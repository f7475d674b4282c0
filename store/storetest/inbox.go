package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/concord-health/concord/store"
)

// RunInbox is the suite a store that is also a store.Inbox must pass.
func RunInbox(t *testing.T, open func(t *testing.T) store.Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s store.Store, in store.Inbox)
	}{
		{"ReceiveAndDuplicates", testInboxReceive},
		{"AppliedWithTransaction", testInboxApplied},
		{"FailRetryReplay", testInboxFailReplay},
		{"ConcurrentDuplicates", testInboxConcurrentDuplicates},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			in, ok := s.(store.Inbox)
			if !ok {
				t.Fatalf("%T is not a store.Inbox", s)
			}
			tc.fn(t, s, in)
		})
	}
}

func receive(t *testing.T, in store.Inbox, channel, dedup, key string) (int64, bool) {
	t.Helper()
	seq, dup, err := in.Receive(context.Background(), &store.InboxMessage{Channel: channel, DedupKey: dedup, OrderKey: key,
		Type: "ADT^A01", Body: []byte("MSH|^~\\&|" + dedup)})
	if err != nil {
		t.Fatal(err)
	}
	return seq, dup
}

func pendingSeqs(t *testing.T, in store.Inbox, channel string) []int64 {
	t.Helper()
	list, err := in.Pending(context.Background(), channel, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, m := range list {
		out = append(out, m.Seq)
	}
	return out
}

func testInboxReceive(t *testing.T, _ store.Store, in store.Inbox) {
	ctx := context.Background()
	a, dup := receive(t, in, "pas", "PAS|1", "p1")
	if dup {
		t.Fatal("first message reported as a duplicate")
	}
	b, _ := receive(t, in, "pas", "PAS|2", "p2")
	again, dup := receive(t, in, "pas", "PAS|1", "p1")
	if !dup || again != a {
		t.Errorf("duplicate: seq %d dup %v, want %d true", again, dup, a)
	}
	// The same key on another channel is another message; no key means no check.
	other, dup := receive(t, in, "lab", "PAS|1", "p1")
	n1, _ := receive(t, in, "lab", "", "p1")
	n2, dup2 := receive(t, in, "lab", "", "p1")
	if dup || dup2 || n1 == n2 {
		t.Errorf("messages without a duplicate: %d %d %v %v", n1, n2, dup, dup2)
	}
	if !(a < b && b < other && other < n1) {
		t.Errorf("seqs not in arrival order: %d %d %d %d", a, b, other, n1)
	}
	sameInts(t, "pending pas", pendingSeqs(t, in, "pas"), []int64{a, b})
	m, err := in.Get(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if m.Channel != "pas" || m.DedupKey != "PAS|1" || m.OrderKey != "p1" || m.Type != "ADT^A01" || string(m.Body) != "MSH|^~\\&|PAS|1" ||
		m.State != store.InboxPending || m.Received.IsZero() {
		t.Errorf("Get = %+v", m)
	}
	if _, err := in.Get(ctx, 999999); !errors.Is(err, store.ErrInboxNotFound) {
		t.Errorf("Get of an absent message: %v", err)
	}
	c, err := in.Counts(ctx, "pas")
	if err != nil {
		t.Fatal(err)
	}
	if c.Pending != 2 || c.Applied != 0 || c.Failed != 0 || c.LastReceived.IsZero() {
		t.Errorf("Counts = %+v", c)
	}
}

func testInboxApplied(t *testing.T, s store.Store, in store.Inbox) {
	ctx := context.Background()
	a, _ := receive(t, in, "pas", "PAS|1", "p1")
	b, _ := receive(t, in, "pas", "PAS|2", "p1")
	// A transaction that fails leaves the message pending and writes nothing.
	err := s.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Put(ctx, patient(t, "p1", "Smith")); err != nil {
			return err
		}
		if err := tx.(store.InboxTx).InboxApplied(ctx, a); err != nil {
			return err
		}
		return errors.New("mapping failed late")
	})
	if err == nil {
		t.Fatal("the failing transaction succeeded")
	}
	sameInts(t, "pending after rollback", pendingSeqs(t, in, "pas"), []int64{a, b})
	if _, err := s.Read(ctx, "Patient", "p1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rolled-back write is visible: %v", err)
	}
	err = s.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Put(ctx, patient(t, "p1", "Smith")); err != nil {
			return err
		}
		return tx.(store.InboxTx).InboxApplied(ctx, a)
	})
	if err != nil {
		t.Fatal(err)
	}
	sameInts(t, "pending after apply", pendingSeqs(t, in, "pas"), []int64{b})
	// Applying twice is refused, so a message cannot be applied twice.
	err = s.Update(ctx, func(tx store.Tx) error { return tx.(store.InboxTx).InboxApplied(ctx, a) })
	if err == nil {
		t.Error("a message was marked applied twice")
	}
	m, _ := in.Get(ctx, a)
	if m.State != store.InboxApplied || m.Attempts != 1 {
		t.Errorf("applied message: %+v", m)
	}
}

func testInboxFailReplay(t *testing.T, _ store.Store, in store.Inbox) {
	ctx := context.Background()
	a, _ := receive(t, in, "lab", "LAB|1", "p1")
	b, _ := receive(t, in, "lab", "LAB|2", "p1")
	if err := in.Retry(ctx, a, "database busy"); err != nil {
		t.Fatal(err)
	}
	if err := in.Fail(ctx, a, "PID-3: no identifier"); err != nil {
		t.Fatal(err)
	}
	sameInts(t, "pending", pendingSeqs(t, in, "lab"), []int64{b})
	failed := store.InboxFailed
	list, err := in.List(ctx, store.InboxFilter{Channel: "lab", State: &failed})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Seq != a || list[0].Reason != "PID-3: no identifier" || list[0].Attempts != 2 {
		t.Fatalf("dead letters = %+v", list)
	}
	if err := in.Fail(ctx, a, "again"); err == nil {
		t.Error("a failed message failed again")
	}
	if err := in.Replay(ctx, b); err == nil {
		t.Error("a pending message was replayed")
	}
	if err := in.Replay(ctx, a); err != nil {
		t.Fatal(err)
	}
	sameInts(t, "pending after replay", pendingSeqs(t, in, "lab"), []int64{a, b})
	m, _ := in.Get(ctx, a)
	if m.State != store.InboxPending || m.Attempts != 0 || m.Reason != "" {
		t.Errorf("replayed message: %+v", m)
	}
	if err := in.Replay(ctx, 999999); !errors.Is(err, store.ErrInboxNotFound) {
		t.Errorf("replay of an absent message: %v", err)
	}
	all, err := in.List(ctx, store.InboxFilter{After: a, Limit: 10})
	if err != nil || len(all) != 1 || all[0].Seq != b {
		t.Errorf("List after %d = %v, %v", a, all, err)
	}
}

func testInboxConcurrentDuplicates(t *testing.T, _ store.Store, in store.Inbox) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	seqs := map[int64]int{}
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seq, _, err := in.Receive(context.Background(), &store.InboxMessage{Channel: "pas", DedupKey: fmt.Sprintf("PAS|%d", i%5), Body: []byte("x")})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			seqs[seq]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(seqs) != 5 {
		t.Errorf("%d distinct messages stored for 5 keys: %v", len(seqs), seqs)
	}
}

func sameInts(t *testing.T, what string, got, want []int64) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: %v, want %v", what, got, want)
	}
}
