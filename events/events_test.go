package events

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/interaction"
	"github.com/concord-health/concord/store"
)

// TestDischargeNotified: a rest-hook subscription to finished Encounters is activated and
// notified, with its headers and the full resource, when a transaction finishes an
// Encounter and adds a discharge summary; the writes before (an Encounter in progress) and
// of other types notify nothing.
func TestDischargeNotified(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		st := be.open(t)
		svc := newService(t, st)
		rc := newReceiver(t, nil)
		startDispatcher(t, st, svc, testOptions("node1"))
		do(t, svc, "PUT", "Subscription/gp", subscriptionJSONFor("gp", "requested", "Encounter?status=finished",
			rc.URL+"/hook", "application/fhir+json", "Authorization: Bearer gp-practice-token"))
		waitStatus(t, st, "gp", "active", 5*time.Second)

		do(t, svc, "PUT", "Encounter/e1", encounterJSON("e1", "in-progress", "p1"))
		do(t, svc, "POST", "", `{"resourceType":"Bundle","type":"transaction","entry":[
			{"resource":`+encounterJSON("e1", "finished", "p1")+`,"request":{"method":"PUT","url":"Encounter/e1"}},
			{"fullUrl":"urn:uuid:0c0a8a5e-3f0c-4b4f-9a59-6a8e7e0c7b11","resource":{"resourceType":"DocumentReference","status":"current",
			 "type":{"coding":[{"system":"http://snomed.info/sct","code":"373942005","display":"Discharge summary"}]},
			 "subject":{"reference":"Patient/p1"},"context":{"encounter":[{"reference":"Encounter/e1"}]},
			 "content":[{"attachment":{"contentType":"text/plain","data":"ZGlzY2hhcmdlZA=="}}]},
			 "request":{"method":"POST","url":"DocumentReference"}}]}`)
		got := rc.waitFor(t, 1, 5*time.Second)
		time.Sleep(100 * time.Millisecond) // nothing else may arrive
		if got = rc.deliveries(); len(got) != 1 {
			t.Fatalf("%d notifications, want 1: %+v", len(got), got)
		}
		n := got[0]
		if n.Method != "POST" || n.Auth != "Bearer gp-practice-token" || !strings.HasPrefix(n.ContentType, "application/fhir+json") ||
			n.Location != "Encounter/e1/_history/2" {
			t.Errorf("notification %+v", n)
		}
		var enc struct{ ResourceType, ID, Status string }
		if err := json.Unmarshal(n.Body, &enc); err != nil || enc.ResourceType != "Encounter" || enc.ID != "e1" || enc.Status != "finished" {
			t.Errorf("payload %s (%v)", n.Body, err)
		}
	})
}

// TestPayloads: no payload is an empty POST; id-only an empty POST naming the version.
func TestPayloads(t *testing.T) {
	st := backends()[0].open(t)
	svc := newService(t, st)
	none, idOnly := newReceiver(t, nil), newReceiver(t, nil)
	startDispatcher(t, st, svc, testOptions("node1"))
	do(t, svc, "PUT", "Subscription/none", subscriptionJSONFor("none", "requested", "Patient?family=Smith", none.URL, ""))
	do(t, svc, "PUT", "Subscription/ids", `{"resourceType":"Subscription","id":"ids","status":"requested","reason":"test",
		"criteria":"Patient?family=Smith","channel":{"type":"rest-hook","endpoint":"`+idOnly.URL+`","payload":"application/fhir+json",
		"_payload":{"extension":[{"url":"`+payloadContentURL+`","valueCode":"id-only"}]}}}`)
	waitStatus(t, st, "none", "active", 5*time.Second)
	waitStatus(t, st, "ids", "active", 5*time.Second)
	do(t, svc, "PUT", "Patient/p1", `{"resourceType":"Patient","id":"p1","name":[{"family":"Jones"}]}`)
	do(t, svc, "PUT", "Patient/p2", `{"resourceType":"Patient","id":"p2","name":[{"family":"Smithson"}]}`)
	a, b := none.waitFor(t, 1, 5*time.Second)[0], idOnly.waitFor(t, 1, 5*time.Second)[0]
	if len(a.Body) != 0 || a.Location != "" || a.ContentType != "" {
		t.Errorf("empty payload: %+v", a)
	}
	if len(b.Body) != 0 || b.Location != "Patient/p2/_history/1" {
		t.Errorf("id-only payload: %+v", b)
	}
}

// TestInvalidSubscriptions: a subscription the server cannot serve is refused at write with
// a 422 naming the element; one already in the store is set to error, with the reason.
func TestInvalidSubscriptions(t *testing.T) {
	st := backends()[0].open(t)
	svc := newService(t, st)
	startDispatcher(t, st, svc, testOptions("node1"))
	for _, tc := range []struct {
		id, criteria, endpoint, payload, want, element string
	}{
		{"unknown-param", "Encounter?bogus=1", "https://gp.example.org/hook", "", "bogus", "Subscription.criteria"},
		{"bad-date", "Encounter?date=notadate", "https://gp.example.org/hook", "", "date", "Subscription.criteria"},
		{"no-type", "Nonsense?status=finished", "https://gp.example.org/hook", "", "resource type", "Subscription.criteria"},
		{"absolute", "https://other.example.org/fhir/Encounter?status=finished", "https://gp.example.org/hook", "", "relative", "Subscription.criteria"},
		{"plain-http", "Encounter?status=finished", "http://gp.example.org/hook", "", "https", "Subscription.channel.endpoint"},
		{"ftp", "Encounter?status=finished", "ftp://gp.example.org/hook", "", "https", "Subscription.channel.endpoint"},
		{"xml", "Encounter?status=finished", "https://gp.example.org/hook", "application/fhir+xml", "payload", "Subscription.channel.payload"},
	} {
		body := subscriptionJSONFor(tc.id, "requested", tc.criteria, tc.endpoint, tc.payload)
		res, err := fhir.Parse([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		ferr := CheckSubscription(definitions.R4(), res)
		if ferr == nil || ferr.Status != 422 || !strings.Contains(ferr.Error(), tc.want) || ferr.Issues[0].Expression[0] != tc.element {
			t.Errorf("%s: CheckSubscription %v", tc.id, ferr)
		}
		resp := svc.Do(context.Background(), &interaction.Request{Method: "PUT", Path: "Subscription/" + tc.id, Body: []byte(body),
			ContentType: "application/fhir+json"})
		if resp.Status != 422 || !strings.Contains(string(resp.Body), tc.element) {
			t.Errorf("%s: PUT answered %d %s", tc.id, resp.Status, resp.Body)
		}
		// Written to the store directly, as by an older version of the server: the
		// dispatcher takes it up from the event log.
		err = st.Update(context.Background(), func(tx store.Tx) error {
			_, err := tx.Put(context.Background(), &store.Put{Resource: res, Index: extractor.Extract(res)})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"unknown-param", "bad-date", "no-type", "absolute", "plain-http", "ftp", "xml"} {
		if msg := waitStatus(t, st, id, "error", 5*time.Second); msg == "" {
			t.Errorf("%s: status error without Subscription.error", id)
		}
	}
	// Token systems are URLs too.
	res, _ := fhir.Parse([]byte(subscriptionJSONFor("x", "requested", "Observation?code=http://loinc.org|8867-4", "https://gp.example.org/hook", "")))
	if ferr := CheckSubscription(definitions.R4(), res); ferr != nil {
		t.Errorf("criteria with a system: %v", ferr)
	}
	// Loopback hosts may use http.
	for _, ep := range []string{"http://127.0.0.1:9/hook", "http://[::1]:9/hook", "http://localhost:9/hook"} {
		res, _ := fhir.Parse([]byte(subscriptionJSONFor("x", "requested", "Encounter?status=finished", ep, "")))
		if ferr := CheckSubscription(definitions.R4(), res); ferr != nil {
			t.Errorf("%s: %v", ep, ferr)
		}
	}
}

// TestCriteriaThroughSearch: criteria beyond the in-memory kinds (a chain, a date) are
// decided by the server's search; deletions notify nothing (R4).
func TestCriteriaThroughSearch(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		st := be.open(t)
		svc := newService(t, st)
		rc := newReceiver(t, nil)
		startDispatcher(t, st, svc, testOptions("node1"))
		do(t, svc, "PUT", "Patient/p1", `{"resourceType":"Patient","id":"p1","name":[{"family":"Smith"}]}`)
		do(t, svc, "PUT", "Patient/p2", `{"resourceType":"Patient","id":"p2","name":[{"family":"Jones"}]}`)
		do(t, svc, "PUT", "Subscription/chain", subscriptionJSONFor("chain", "requested",
			"Observation?subject:Patient.family=Smith&date=ge2024-01-01", rc.URL, "application/fhir+json"))
		waitStatus(t, st, "chain", "active", 5*time.Second)
		obs := func(id, patient, date string) string {
			return fmt.Sprintf(`{"resourceType":"Observation","id":%q,"status":"final","code":{"text":"x"},"subject":{"reference":"Patient/%s"},"effectiveDateTime":%q}`, id, patient, date)
		}
		do(t, svc, "PUT", "Observation/o1", obs("o1", "p2", "2024-05-01")) // wrong patient
		do(t, svc, "PUT", "Observation/o2", obs("o2", "p1", "2023-05-01")) // too early
		do(t, svc, "PUT", "Observation/o3", obs("o3", "p1", "2024-05-01")) // matches
		got := rc.waitFor(t, 1, 5*time.Second)
		do(t, svc, "DELETE", "Observation/o3", "")
		time.Sleep(150 * time.Millisecond)
		if got = rc.deliveries(); len(got) != 1 || got[0].Location != "Observation/o3/_history/1" {
			t.Fatalf("notifications %+v, want o3 only", got)
		}
	})
}

// TestFailingReceiverThenBack: the receiver answers 500 for a while, then 200: every
// notification arrives, in order, none twice.
func TestFailingReceiverThenBack(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		st := be.open(t)
		svc := newService(t, st)
		var down atomic.Bool
		down.Store(true)
		rc := newReceiver(t, func(int, *http.Request) int {
			if down.Load() {
				return 500
			}
			return 200
		})
		startDispatcher(t, st, svc, testOptions("node1"))
		do(t, svc, "PUT", "Subscription/s", subscriptionJSONFor("s", "requested", "Encounter?status=finished", rc.URL, "application/fhir+json"))
		waitStatus(t, st, "s", "active", 5*time.Second)
		const n = 30
		for i := range n {
			do(t, svc, "PUT", fmt.Sprintf("Encounter/e%02d", i), encounterJSON(fmt.Sprintf("e%02d", i), "finished", "p1"))
		}
		time.Sleep(300 * time.Millisecond)
		if got := rc.deliveries(); len(got) != 0 {
			t.Fatalf("%d deliveries while the receiver is down", len(got))
		}
		if c, err := st.(store.EventCursors).Cursor(context.Background(), cursorName("s")); err != nil || c.Attempts == 0 || c.LastError == "" {
			t.Errorf("cursor while failing: %+v, %v", c, err)
		}
		down.Store(false)
		got := rc.waitFor(t, n, 10*time.Second)
		time.Sleep(50 * time.Millisecond)
		got = rc.deliveries()
		if len(got) != n {
			t.Fatalf("%d deliveries, want %d", len(got), n)
		}
		for i, g := range got {
			if want := fmt.Sprintf("Encounter/e%02d/_history/1", i); g.Location != want {
				var all []string
				for _, g := range got {
					all = append(all, strings.TrimPrefix(strings.TrimSuffix(g.Location, "/_history/1"), "Encounter/"))
				}
				t.Fatalf("delivery %d is %s, want %s; all: %v", i, g.Location, want, all)
			}
		}
		if status, _ := subscriptionState(t, st, "s"); status != "active" {
			t.Errorf("status %s after recovery", status)
		}
	})
}

// TestDeadEndpointGoesToError: a receiver that never answers times out on each attempt;
// another subscriber is not held up meanwhile; past the retry window the subscription is
// set to error with Subscription.error saying why.
func TestDeadEndpointGoesToError(t *testing.T) {
	st := backends()[0].open(t)
	svc := newService(t, st)
	hang := make(chan struct{})
	dead := newReceiver(t, func(int, *http.Request) int { <-hang; return 200 })
	t.Cleanup(func() { close(hang) }) // runs before the receiver closes
	live := newReceiver(t, nil)
	failing := newReceiver(t, func(int, *http.Request) int { return 500 })
	opts := testOptions("node1")
	opts.Client = &http.Client{Timeout: 100 * time.Millisecond}
	opts.RetryWindow = 700 * time.Millisecond
	opts.Concurrency = 2
	startDispatcher(t, st, svc, opts)
	do(t, svc, "PUT", "Subscription/dead", subscriptionJSONFor("dead", "requested", "Encounter?status=finished", dead.URL, ""))
	do(t, svc, "PUT", "Subscription/failing", subscriptionJSONFor("failing", "requested", "Encounter?status=finished", failing.URL, ""))
	do(t, svc, "PUT", "Subscription/live", subscriptionJSONFor("live", "requested", "Encounter?status=finished", live.URL, ""))
	for _, id := range []string{"dead", "failing", "live"} {
		waitStatus(t, st, id, "active", 5*time.Second)
	}
	start := time.Now()
	for i := range 5 {
		do(t, svc, "PUT", fmt.Sprintf("Encounter/e%d", i), encounterJSON(fmt.Sprintf("e%d", i), "finished", "p1"))
	}
	live.waitFor(t, 5, 5*time.Second)
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Errorf("the live subscriber waited %v", d)
	}
	msg := waitStatus(t, st, "dead", "error", 10*time.Second)
	if !strings.Contains(msg, dead.URL) || !strings.Contains(msg, "Timeout") {
		t.Errorf("dead endpoint error: %q", msg)
	}
	msg = waitStatus(t, st, "failing", "error", 10*time.Second)
	if !strings.Contains(msg, "500") {
		t.Errorf("failing endpoint error: %q", msg)
	}
	if status, _ := subscriptionState(t, st, "live"); status != "active" {
		t.Errorf("live subscription is %s", status)
	}
	// Set back to requested (its endpoint repaired), the subscription resumes where it
	// stopped: nothing was lost.
	do(t, svc, "PUT", "Subscription/failing", subscriptionJSONFor("failing", "requested", "Encounter?status=finished", live.URL, ""))
	waitStatus(t, st, "failing", "active", 5*time.Second)
	live.waitFor(t, 10, 5*time.Second)
}

// TestRestartMidDelivery: a dispatcher stopped in the middle of delivering and a new one
// started on the same store deliver every notification, in order.
func TestRestartMidDelivery(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		st := be.open(t)
		svc := newService(t, st)
		rc := newReceiver(t, func(int, *http.Request) int { time.Sleep(20 * time.Millisecond); return 200 })
		first := startDispatcher(t, st, svc, testOptions("node1"))
		do(t, svc, "PUT", "Subscription/s", subscriptionJSONFor("s", "requested", "Encounter?status=finished", rc.URL, "application/fhir+json"))
		waitStatus(t, st, "s", "active", 5*time.Second)
		const n = 40
		for i := range n / 2 {
			do(t, svc, "PUT", fmt.Sprintf("Encounter/e%02d", i), encounterJSON(fmt.Sprintf("e%02d", i), "finished", "p1"))
		}
		rc.waitFor(t, 5, 5*time.Second)
		first.stop()
		// Written while no dispatcher runs.
		for i := n / 2; i < n; i++ {
			do(t, svc, "PUT", fmt.Sprintf("Encounter/e%02d", i), encounterJSON(fmt.Sprintf("e%02d", i), "finished", "p1"))
		}
		startDispatcher(t, st, newService(t, st), testOptions("node2"))
		waitDistinct(t, rc, n, 20*time.Second)
		checkInOrder(t, rc.deliveries(), n)
	})
}

// waitDistinct waits until the receiver has n different notifications.
func waitDistinct(t *testing.T, rc *receiver, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		seen := map[string]bool{}
		for _, g := range rc.deliveries() {
			seen[g.Location] = true
		}
		if len(seen) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d notifications after %v, want %d", len(seen), timeout, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkInOrder: the deliveries name e00..e(n-1) in order; a notification may be repeated
// (at least once) only right after itself, as a redelivery of the one in flight.
func checkInOrder(t *testing.T, got []delivery, n int) {
	t.Helper()
	next := 0
	for i, g := range got {
		want := fmt.Sprintf("Encounter/e%02d/_history/1", next)
		if g.Location == want {
			next++
			continue
		}
		if next > 0 && g.Location == fmt.Sprintf("Encounter/e%02d/_history/1", next-1) {
			continue // redelivered
		}
		var all []string
		for _, g := range got {
			all = append(all, strings.TrimPrefix(strings.TrimSuffix(g.Location, "/_history/1"), "Encounter/"))
		}
		t.Fatalf("delivery %d is %s, want %s; all: %v", i, g.Location, want, all)
	}
	if next != n {
		var all []string
		for _, g := range got {
			all = append(all, strings.TrimPrefix(strings.TrimSuffix(g.Location, "/_history/1"), "Encounter/"))
		}
		t.Fatalf("%d of %d notifications delivered: %v", next, n, all)
	}
}

// TestTwoDispatchersDeliverOnce: two dispatchers (two nodes) on one database deliver each
// notification once between them.
func TestTwoDispatchersDeliverOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		st := be.open(t)
		svc1, svc2 := newService(t, st), newService(t, st)
		var receivers []*receiver
		startDispatcher(t, st, svc1, testOptions("node1"))
		startDispatcher(t, st, svc2, testOptions("node2"))
		for i := range 6 {
			rc := newReceiver(t, nil)
			receivers = append(receivers, rc)
			id := fmt.Sprintf("s%d", i)
			do(t, svc1, "PUT", "Subscription/"+id, subscriptionJSONFor(id, "requested", "Encounter?status=finished", rc.URL, "application/fhir+json"))
		}
		for i := range 6 {
			waitStatus(t, st, fmt.Sprintf("s%d", i), "active", 5*time.Second)
		}
		const n = 20
		var wg sync.WaitGroup
		for i := range n {
			svc := svc1
			if i%2 == 1 {
				svc = svc2
			}
			wg.Go(func() {
				do(t, svc, "PUT", fmt.Sprintf("Encounter/e%02d", i), encounterJSON(fmt.Sprintf("e%02d", i), "finished", "p1"))
			})
		}
		wg.Wait()
		for _, rc := range receivers {
			rc.waitFor(t, n, 10*time.Second)
		}
		time.Sleep(100 * time.Millisecond)
		for i, rc := range receivers {
			got := rc.deliveries()
			seen := map[string]bool{}
			var last int64
			for _, g := range got {
				if seen[g.Location] {
					t.Errorf("s%d: %s delivered twice", i, g.Location)
				}
				seen[g.Location] = true
				if g.Event <= last {
					t.Errorf("s%d: event %d after %d", i, g.Event, last)
				}
				last = g.Event
			}
			if len(seen) != n {
				t.Errorf("s%d: %d notifications, want %d", i, len(seen), n)
			}
		}
	})
}

// TestSubscriptionOffAndDeleted: a subscription set off, or deleted, is notified no more.
func TestSubscriptionOffAndDeleted(t *testing.T) {
	st := backends()[0].open(t)
	svc := newService(t, st)
	a, b := newReceiver(t, nil), newReceiver(t, nil)
	startDispatcher(t, st, svc, testOptions("node1"))
	do(t, svc, "PUT", "Subscription/a", subscriptionJSONFor("a", "requested", "Encounter?status=finished", a.URL, ""))
	do(t, svc, "PUT", "Subscription/b", subscriptionJSONFor("b", "requested", "Encounter?status=finished", b.URL, ""))
	waitStatus(t, st, "a", "active", 5*time.Second)
	waitStatus(t, st, "b", "active", 5*time.Second)
	do(t, svc, "PUT", "Encounter/e1", encounterJSON("e1", "finished", "p1"))
	a.waitFor(t, 1, 5*time.Second)
	b.waitFor(t, 1, 5*time.Second)
	do(t, svc, "PUT", "Subscription/a", subscriptionJSONFor("a", "off", "Encounter?status=finished", a.URL, ""))
	do(t, svc, "DELETE", "Subscription/b", "")
	if _, err := st.(store.EventCursors).Cursor(context.Background(), cursorName("b")); err == nil {
		// The dispatcher forgets the cursor once it has read the deletion.
		time.Sleep(100 * time.Millisecond)
	}
	do(t, svc, "PUT", "Encounter/e2", encounterJSON("e2", "finished", "p1"))
	time.Sleep(200 * time.Millisecond)
	if len(a.deliveries()) != 1 || len(b.deliveries()) != 1 {
		t.Errorf("after off/delete: %d and %d notifications, want 1 each", len(a.deliveries()), len(b.deliveries()))
	}
	if _, err := st.(store.EventCursors).Cursor(context.Background(), cursorName("b")); err == nil {
		t.Errorf("the deleted subscription's cursor is kept")
	}
}

// TestTakeOver: when one of two dispatchers stops, the other takes its subscriptions over
// (reading their backlog once for all of them) and delivers what the first left, in order,
// without repeating what either delivered.
func TestTakeOver(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		st := be.open(t)
		svc := newService(t, st)
		first := startDispatcher(t, st, svc, testOptions("node1"))
		var receivers []*receiver
		for i := range 12 {
			rc := newReceiver(t, nil)
			receivers = append(receivers, rc)
			id := fmt.Sprintf("s%02d", i)
			do(t, svc, "PUT", "Subscription/"+id, subscriptionJSONFor(id, "requested", "Encounter?status=finished", rc.URL, "application/fhir+json"))
		}
		for i := range 12 {
			waitStatus(t, st, fmt.Sprintf("s%02d", i), "active", 5*time.Second)
		}
		startDispatcher(t, st, newService(t, st), testOptions("node2"))
		const n = 20
		for i := range n / 2 {
			do(t, svc, "PUT", fmt.Sprintf("Encounter/e%02d", i), encounterJSON(fmt.Sprintf("e%02d", i), "finished", "p1"))
		}
		for _, rc := range receivers {
			waitDistinct(t, rc, n/2, 10*time.Second)
		}
		first.stop()
		for i := n / 2; i < n; i++ {
			do(t, svc, "PUT", fmt.Sprintf("Encounter/e%02d", i), encounterJSON(fmt.Sprintf("e%02d", i), "finished", "p1"))
		}
		for _, rc := range receivers {
			waitDistinct(t, rc, n, 10*time.Second)
		}
		time.Sleep(50 * time.Millisecond)
		for i, rc := range receivers {
			got := rc.deliveries()
			if len(got) != n {
				var all []string
				for _, g := range got {
					all = append(all, fmt.Sprintf("%s@%d", strings.TrimPrefix(strings.TrimSuffix(g.Location, "/_history/1"), "Encounter/"), g.Event))
				}
				t.Errorf("s%02d: %d deliveries, want %d: %v", i, len(got), n, all)
			}
			checkInOrder(t, got, n)
		}
	})
}

// TestSubscriptionEnd: a subscription whose end has passed is set off, and one that ends
// later is served until then.
func TestSubscriptionEnd(t *testing.T) {
	st := backends()[0].open(t)
	svc := newService(t, st)
	rc := newReceiver(t, nil)
	startDispatcher(t, st, svc, testOptions("node1"))
	withEnd := func(id string, end time.Time) string {
		js := subscriptionJSONFor(id, "requested", "Encounter?status=finished", rc.URL, "")
		return strings.Replace(js, `"status"`, `"end":"`+end.UTC().Format(time.RFC3339)+`","status"`, 1)
	}
	do(t, svc, "PUT", "Subscription/past", withEnd("past", time.Now().Add(-time.Hour)))
	do(t, svc, "PUT", "Subscription/soon", withEnd("soon", time.Now().Add(1500*time.Millisecond)))
	waitStatus(t, st, "past", "off", 5*time.Second)
	waitStatus(t, st, "soon", "active", 5*time.Second)
	do(t, svc, "PUT", "Encounter/e1", encounterJSON("e1", "finished", "p1"))
	rc.waitFor(t, 1, 5*time.Second)
	waitStatus(t, st, "soon", "off", 5*time.Second)
	do(t, svc, "PUT", "Encounter/e2", encounterJSON("e2", "finished", "p1"))
	time.Sleep(100 * time.Millisecond)
	if got := rc.deliveries(); len(got) != 1 {
		t.Errorf("%d notifications, want 1 (before the end)", len(got))
	}
}
