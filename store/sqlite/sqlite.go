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

// OpenFile opens the store in one database file.
func OpenFile(ctx context.Context, path string) (*sqlstore.DB, error) {
	// synchronous=NORMAL in WAL mode loses at most the last commits on power failure, never
	// consistency; busy_timeout covers checkpoints racing readers.
	pragmas := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(NORMAL)", "busy_timeout(10000)",
		"foreign_keys(OFF)", "cache_size(-65536)", "temp_store(MEMORY)", "wal_autocheckpoint(10000)"} {
		pragmas.Add("_pragma", p)
	}
	dsn := "file:" + path + "?" + pragmas.Encode()
	write, err := sql.Open("sqlite", dsn+"&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	// One writer: SQLite serialises writes anyway, and one connection keeps the write path's
	// statements prepared and its page cache warm.
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	read, err := sql.Open("sqlite", dsn+"&mode=ro")
	if err != nil {
		write.Close()
		return nil, err
	}
	// Searches and reads run on the engine reader's connections; this pool serves only
	// history and vread, so two connections (each with its own page cache) suffice.
	n := max(4, 2*runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(2)
	read.SetMaxIdleConns(2)
	read.SetConnMaxLifetime(0)
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
