// Package pgtest gives tests a PostgreSQL schema of their own in the scratch database named
// by CONCORD_TEST_POSTGRES, so that tests of several packages can share one database.
package pgtest

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver for the admin connection
)

// Env names the variable holding the scratch database's URL.
const Env = "CONCORD_TEST_POSTGRES"

// URL returns the scratch database's URL, skipping the test when it is not set.
func URL(tb testing.TB) string {
	u := os.Getenv(Env)
	if u == "" {
		tb.Skip(Env + " is not set; set it to a postgres:// URL of a scratch database to run the PostgreSQL tests")
	}
	return u
}

// FreshSchema creates an empty schema, dropped when the test ends, and returns a URL whose
// connections use it.
func FreshSchema(tb testing.TB) string {
	base := URL(tb)
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
