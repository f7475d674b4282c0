// Package sqlite is the embedded default backend: SQLite (pure Go, modernc.org/sqlite) in WAL
// mode, one write connection and a pool of readers, behind the shared SQL store.
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"

	"github.com/concord-health/concord/store/sqlstore"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Dialect is SQLite's flavour of the shared schema.
var dialect = sqlstore.Dialect{
	Name:      "sqlite",
	RIDColumn: "INTEGER PRIMARY KEY",
	BlobType:  "BLOB",
	RealType:  "REAL",
	MaxParams: 32766,
	// Index tables clustered on their value key: two b-trees per table instead of three, and
	// both of a search's lookups answered from one of them. One resource may yield the same
	// row twice (two identical codings); the key keeps one.
	ClusteredIndexTables: true,
	InsertVerb:           "INSERT OR IGNORE INTO",
	ByRowKey:             " NOT INDEXED",
	GroupCommit:          true,
	ListOpen:             "SELECT value FROM json_each(",
	ListClose:            ")",
	// analysis_limit bounds the rows sampled per index, so a refresh stays in milliseconds.
	Analyze: "PRAGMA analysis_limit=1000; ANALYZE",
}

// FileName is the database file inside the data directory.
const FileName = "concord.db"

// Open opens (creating if needed) the store in dir.
func Open(ctx context.Context, dir string) (*sqlstore.DB, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	return OpenFile(ctx, filepath.Join(dir, FileName))
}

// Pools opens a SQLite database file the way Concord uses one: WAL, one write connection
// that takes the write lock at BEGIN (SQLite serialises writes anyway, and one connection
// keeps prepared statements and its page cache warm), and up to readers read-only
// connections. pragmas are applied after the defaults, so "synchronous(FULL)" overrides
// theirs.
func Pools(path string, readers int, pragmas ...string) (write, read *sql.DB, err error) {
	// synchronous=NORMAL in WAL mode loses at most the last commits on power failure, never
	// consistency; busy_timeout covers checkpoints racing readers; a large autocheckpoint
	// interval means fewer checkpoints, which run inside a commit.
	q := url.Values{}
	for _, p := range append([]string{"journal_mode(WAL)", "synchronous(NORMAL)", "busy_timeout(10000)",
		"wal_autocheckpoint(10000)"}, pragmas...) {
		q.Add("_pragma", p)
	}
	dsn := "file:" + path + "?" + q.Encode()
	if write, err = sql.Open("sqlite", dsn+"&_txlock=immediate"); err != nil {
		return nil, nil, err
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	if read, err = sql.Open("sqlite", dsn+"&mode=ro"); err != nil {
		write.Close()
		return nil, nil, err
	}
	read.SetMaxOpenConns(readers)
	read.SetMaxIdleConns(readers)
	read.SetConnMaxLifetime(0)
	return write, read, nil
}

// OpenFile opens the store in one database file.
func OpenFile(ctx context.Context, path string) (*sqlstore.DB, error) {
	// Searches and reads run on the engine reader's connections; the read pool serves only
	// history and vread, so two connections (each with its own page cache) suffice.
	write, read, err := Pools(path, 2, "foreign_keys(OFF)", "cache_size(-65536)", "temp_store(MEMORY)")
	if err != nil {
		return nil, err
	}
	n := max(4, 2*runtime.GOMAXPROCS(0))
	d := dialect
	d.NewReader = func() (sqlstore.Reader, error) { return newEngineReader(path, n) }
	db, err := sqlstore.Open(ctx, write, read, &d)
	if err != nil {
		write.Close()
		read.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}
