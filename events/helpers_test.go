package events

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/interaction"
	"github.com/concord-health/concord/search"
	"github.com/concord-health/concord/store"
	"github.com/concord-health/concord/store/postgres"
	"github.com/concord-health/concord/store/postgres/pgtest"
	"github.com/concord-health/concord/store/sqlite"
)

var (
	extractorOnce sync.Once
	extractor     *search.Extractor
)

func sharedExtractor(tb testing.TB) *search.Extractor {
	extractorOnce.Do(func() {
		x, err := search.NewExtractor(definitions.R4())
		if err != nil {
			panic(err)
		}
		extractor = x
	})
	return extractor
}

type backend struct {
	name string
	open func(tb testing.TB) store.Store
}

// backends are SQLite, and PostgreSQL when CONCORD_TEST_POSTGRES is set.
func backends() []backend {
	bs := []backend{{"sqlite", func(tb testing.TB) store.Store {
		st, err := sqlite.OpenFile(context.Background(), filepath.Join(tb.TempDir(), "events.db"))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { st.Close() })
		return st
	}}}
	if os.Getenv(pgtest.Env) != "" {
		bs = append(bs, backend{"postgres", func(tb testing.TB) store.Store {
			st, err := postgres.Open(context.Background(), pgtest.FreshSchema(tb))
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { st.Close() })
			return st
		}})
	}
	return bs
}

func eachBackend(t *testing.T, fn func(t *testing.T, be backend)) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) { fn(t, be) })
	}
}

func newService(tb testing.TB, st store.Store) *interaction.Service {
	return interaction.New(st, definitions.R4(), sharedExtractor(tb))
}

// testOptions retry fast and poll often.
func testOptions(owner string) Options {
	return Options{
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		PollInterval: 5 * time.Millisecond, Lease: 2 * time.Second, Owner: owner,
		Extractor: extractor, Client: &http.Client{Timeout: 2 * time.Second},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

// running is a dispatcher running in the background.
type running struct {
	d      *Dispatcher
	cancel context.CancelFunc
	done   chan error
}

func startDispatcher(tb testing.TB, st store.Store, svc *interaction.Service, opts Options) *running {
	tb.Helper()
	sharedExtractor(tb)
	if opts.Extractor == nil {
		opts.Extractor = extractor
	}
	d, err := NewDispatcher(st, svc, opts)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{d: d, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- d.Run(ctx) }()
	tb.Cleanup(r.stop)
	return r
}

func (r *running) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
	r.cancel = nil
}

// delivery is one request a receiver got.
type delivery struct {
	Method, ContentType, Location, Auth string
	Event                               int64
	Body                                []byte
	At                                  time.Time
}

// receiver is an HTTP endpoint recording what it receives; answer decides the status (200
// when nil).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []delivery
	answer func(n int, r *http.Request) int
	calls  int
	notify chan struct{}
}

func newReceiver(tb testing.TB, answer func(n int, r *http.Request) int) *receiver {
	rc := &receiver{answer: answer, notify: make(chan struct{}, 1)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.calls++
		n := rc.calls
		rc.mu.Unlock()
		status := 200
		if rc.answer != nil {
			status = rc.answer(n, r)
		}
		if status == 200 {
			seq, _ := strconv.ParseInt(r.Header.Get("X-Concord-Event"), 10, 64)
			rc.mu.Lock()
			rc.got = append(rc.got, delivery{Method: r.Method, ContentType: r.Header.Get("Content-Type"),
				Location: r.Header.Get("Content-Location"), Auth: r.Header.Get("Authorization"), Event: seq, Body: body, At: time.Now()})
			rc.mu.Unlock()
			select {
			case rc.notify <- struct{}{}:
			default:
			}
		}
		w.WriteHeader(status)
	}))
	tb.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

// waitFor waits until the receiver has n deliveries (failing the test after timeout).
func (rc *receiver) waitFor(tb testing.TB, n int, timeout time.Duration) []delivery {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := rc.deliveries()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d deliveries after %v, want %d", len(got), timeout, n)
		}
		select {
		case <-rc.notify:
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// do runs an interaction and fails the test on an error status.
func do(tb testing.TB, svc *interaction.Service, method, path, body string) *interaction.Response {
	tb.Helper()
	resp := svc.Do(context.Background(), &interaction.Request{Method: method, Path: path, Body: []byte(body),
		ContentType: "application/fhir+json"})
	if resp.Err != nil {
		tb.Fatalf("%s %s: %v", method, path, resp.Err)
	}
	return resp
}

// subscriptionJSONFor builds a Subscription resource.
func subscriptionJSONFor(id, status, criteria, endpoint, payload string, headers ...string) string {
	ch := map[string]any{"type": "rest-hook", "endpoint": endpoint}
	if payload != "" {
		ch["payload"] = payload
	}
	if len(headers) > 0 {
		ch["header"] = headers
	}
	m := map[string]any{"resourceType": "Subscription", "id": id, "status": status, "reason": "test",
		"criteria": criteria, "channel": ch}
	b, _ := json.Marshal(m)
	return string(b)
}

// subscriptionState reads a Subscription's status and error.
func subscriptionState(tb testing.TB, st store.Store, id string) (status, errText string) {
	tb.Helper()
	r, err := st.Read(context.Background(), "Subscription", id)
	if err != nil {
		tb.Fatal(err)
	}
	var s struct{ Status, Error string }
	json.Unmarshal(r.Body, &s)
	return s.Status, s.Error
}

// waitStatus waits for a Subscription to reach a status.
func waitStatus(tb testing.TB, st store.Store, id, want string, timeout time.Duration) string {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		status, errText := subscriptionState(tb, st, id)
		if status == want {
			return errText
		}
		if time.Now().After(deadline) {
			tb.Fatalf("subscription %s is %s (%s) after %v, want %s", id, status, errText, timeout, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func encounterJSON(id, status, patient string) string {
	return fmt.Sprintf(`{"resourceType":"Encounter","id":%q,"status":%q,"class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/%s"}}`,
		id, status, patient)
}
