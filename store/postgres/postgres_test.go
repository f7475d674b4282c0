package postgres

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver for the admin connection

	"github.com/concord-health/concord/store"
	"github.com/concord-health/concord/store/storetest"
)

// testURL is the database the tests use; each test works in a schema of its own within it.
func testURL(tb testing.TB) string {
	u := os.Getenv("CONCORD_TEST_POSTGRES")
	if u == "" {
		tb.Skip("CONCORD_TEST_POSTGRES is not set; set it to a postgres:// URL of a scratch database to run the PostgreSQL tests")
	}
	return u
}

// freshSchema creates an empty schema, dropped when the test ends, and returns a URL whose
// connections use it.
func freshSchema(tb testing.TB) string {
	base := testURL(tb)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatal(err)
	}
	b := make([]byte, 8)
	rand.Read(b)
	schema := "concord_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		admin.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("options", "-c search_path="+schema)
	// pgx does not read "+" as a space in query values.
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	return u.String()
}

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
