package audit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/concord-health/concord/store/postgres/pgtest"
)

// backend opens logs of one kind for a test.
type backend struct {
	name string
	// config returns a fresh place for a log; each call to Open on it reaches the same log.
	config func(t *testing.T) Config
}

// backends are SQLite always, PostgreSQL when CONCORD_TEST_POSTGRES is set.
func backends() []backend {
	return []backend{
		{"sqlite", func(t *testing.T) Config { return Config{DataDir: t.TempDir()} }},
		{"postgres", func(t *testing.T) Config { return Config{DatabaseURL: pgtest.FreshSchema(t)} }},
	}
}

// eachBackend runs f per backend, each on a fresh log.
func eachBackend(t *testing.T, f func(t *testing.T, cfg Config)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { f(t, b.config(t)) })
	}
}

func open(t testing.TB, cfg Config) *Log {
	t.Helper()
	l, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

var epoch = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// readEvent is a user's read of one patient's resource at epoch plus i seconds.
func readEvent(i int, user, org, patient string) *Event {
	return &Event{
		Time:          epoch.Add(time.Duration(i) * time.Second),
		UserID:        user,
		UserName:      "Dr " + user,
		Organization:  org,
		Role:          "R8000",
		Purpose:       "TREAT",
		Patients:      []Patient{{ID: patient}},
		Resources:     []Resource{{Type: "Observation", ID: fmt.Sprintf("obs-%d", i), Version: "1"}},
		Interaction:   Read,
		Outcome:       Success,
		Source:        "https://concord.example.nhs.uk/fhir",
		ClientAddress: "10.0.0.1",
	}
}

func appendN(t testing.TB, l *Log, n int) {
	t.Helper()
	for i := range n {
		if err := l.Append(context.Background(), readEvent(i, fmt.Sprintf("u%d", i%3), fmt.Sprintf("ORG%d", i%2), fmt.Sprintf("p%d", i%5))); err != nil {
			t.Fatal(err)
		}
	}
}

func verify(t *testing.T, l *Log, anchors ...Anchor) Report {
	t.Helper()
	rep, err := Verify(context.Background(), l, anchors...)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// exec runs raw SQL on the log's database, as someone tampering with it would.
func rawExec(t *testing.T, l *Log, query string, args ...any) {
	t.Helper()
	if _, err := l.write.Exec(l.rebind(query), args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}
