package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// SchemaVersion identifies the layout below. A database written by another layout is refused
// at open with a clear error rather than read wrongly.
const SchemaVersion = "2"

// The schema is the same on every backend; dialects substitute the few column types that
// differ ({{rid}} for the resource row key, {{blob}} for bodies, {{real}} for floats,
// {{ctext}} for text compared by prefix ranges, which must sort by bytes).
//
// resources holds the current version of each resource (a deletion keeps its row with
// deleted=1 and no body); history holds the older versions. Index rows reference resources
// by the integer rid and name their parameter by search.ParamID; they exist only for live
// (not deleted) current versions. Dates are microseconds since the Unix epoch.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS concord_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS resources (
		rid {{rid}},
		type TEXT NOT NULL,
		id TEXT NOT NULL,
		version BIGINT NOT NULL,
		last_updated BIGINT NOT NULL,
		deleted SMALLINT NOT NULL,
		body {{blob}},
		UNIQUE (type, id)
	)`,
	// A search without a filter to start from walks one type in rid order.
	`CREATE INDEX IF NOT EXISTS resources_type ON resources (type, rid)`,
	`CREATE INDEX IF NOT EXISTS resources_last_updated ON resources (last_updated)`,
	`CREATE TABLE IF NOT EXISTS history (
		rid BIGINT NOT NULL,
		version BIGINT NOT NULL,
		last_updated BIGINT NOT NULL,
		deleted SMALLINT NOT NULL,
		body {{blob}},
		PRIMARY KEY (rid, version)
	)`,
	`CREATE INDEX IF NOT EXISTS history_last_updated ON history (last_updated)`,
}

// indexTable describes one table of search index rows. Searches read it two ways, and both
// must be answered from an index alone (a covering index), since a lookup of the table row
// per index entry costs as much again:
//   - byValue: the rows with a parameter's value, giving the rids a search starts from;
//   - byRID: one candidate's rows, to test a further filter or compute a sort key.
//
// Where the dialect allows (SQLite's WITHOUT ROWID), the table itself is clustered on
// byValue followed by its remaining columns, which saves a b-tree per table on every write;
// its secondary indexes then carry those key columns implicitly. Elsewhere the table is a heap
// and both indexes list the columns they must cover.
type indexTable struct {
	name    string
	columns string   // column definitions
	byValue []string // the value columns a search fixes, then rid (so equal values list rids in order)
	byRID   []string // starts with rid
	others  []otherIndex
	// clustered: the table may be clustered on byValue (all its columns fit a key).
	clustered bool
}

var indexSchema = []indexTable{
	{name: "idx_string", columns: "rid BIGINT NOT NULL, pid BIGINT NOT NULL, norm {{ctext}} NOT NULL, exact {{ctext}} NOT NULL",
		byValue: []string{"pid", "norm", "exact", "rid"}, byRID: []string{"rid", "pid", "norm"}, clustered: true},
	{name: "idx_token", columns: "rid BIGINT NOT NULL, pid BIGINT NOT NULL, system TEXT NOT NULL, code TEXT NOT NULL",
		byValue: []string{"pid", "code", "system", "rid"}, byRID: []string{"rid", "pid", "code", "system"}, clustered: true},
	{name: "idx_date", columns: "rid BIGINT NOT NULL, pid BIGINT NOT NULL, lo BIGINT NOT NULL, hi BIGINT NOT NULL",
		byValue: []string{"pid", "lo", "hi", "rid"}, byRID: []string{"rid", "pid", "lo", "hi"}, clustered: true},
	{name: "idx_number", columns: "rid BIGINT NOT NULL, pid BIGINT NOT NULL, value {{real}} NOT NULL, lo {{real}} NOT NULL, hi {{real}} NOT NULL",
		byValue: []string{"pid", "value", "lo", "hi", "rid"}, byRID: []string{"rid", "pid", "value", "lo", "hi"}, clustered: true},
	{name: "idx_quantity", columns: "rid BIGINT NOT NULL, pid BIGINT NOT NULL, system TEXT NOT NULL, code TEXT NOT NULL, unit TEXT NOT NULL, value {{real}} NOT NULL, lo {{real}} NOT NULL, hi {{real}} NOT NULL",
		byValue: []string{"pid", "value", "code", "system", "unit", "lo", "hi", "rid"}, byRID: []string{"rid", "pid"}, clustered: true},
	{name: "idx_reference", columns: "rid BIGINT NOT NULL, pid BIGINT NOT NULL, target_type TEXT NOT NULL, target_id TEXT NOT NULL, url TEXT NOT NULL, version TEXT NOT NULL",
		byValue: []string{"target_id", "pid", "target_type", "rid", "url", "version"}, byRID: []string{"rid", "pid", "target_type", "target_id"},
		// Absolute references are rare; relative ones (url '') stay out of the url index.
		others: []otherIndex{{cols: []string{"url", "pid", "rid"}, where: "url <> ''"}}, clustered: true},
	{name: "idx_uri", columns: "rid BIGINT NOT NULL, pid BIGINT NOT NULL, uri {{ctext}} NOT NULL",
		byValue: []string{"pid", "uri", "rid"}, byRID: []string{"rid", "pid", "uri"}, clustered: true},
	// Composite rows are wide and rare: a heap with plain indexes.
	{name: "idx_composite", columns: `rid BIGINT NOT NULL, pid BIGINT NOT NULL,
		s1 TEXT NOT NULL, c1 {{ctext}} NOT NULL, lo1 {{real}} NOT NULL, hi1 {{real}} NOT NULL,
		s2 TEXT NOT NULL, c2 {{ctext}} NOT NULL, lo2 {{real}} NOT NULL, hi2 {{real}} NOT NULL,
		s3 TEXT NOT NULL, c3 {{ctext}} NOT NULL, lo3 {{real}} NOT NULL, hi3 {{real}} NOT NULL`,
		byValue: []string{"pid", "c1", "rid"}, byRID: []string{"rid", "pid"}},
	// patient_date serves the commonest clinical listing, a patient's resources newest (or
	// oldest) first (Observation?patient=X&_sort=-date): one row per resource and Patient its
	// patient parameter names, for the date parameter "date", with the resource's lowest and
	// highest instant. Read in key order it gives a patient's resources newest first, where
	// idx_reference and idx_date would need every one of them looked up and sorted; oldest
	// first sorts one contiguous range.
	{name: "patient_date", columns: "patient_id TEXT NOT NULL, ref_pid BIGINT NOT NULL, date_pid BIGINT NOT NULL, lo BIGINT NOT NULL, hi BIGINT NOT NULL, rid BIGINT NOT NULL",
		byValue: []string{"patient_id", "ref_pid", "date_pid", "hi DESC", "rid", "lo"}, byRID: []string{"rid"}, clustered: true},
	// compartment lists the Patient compartments a live resource belongs to.
	{name: "compartment", columns: "patient_id TEXT NOT NULL, rid BIGINT NOT NULL",
		byValue: []string{"patient_id", "rid"}, byRID: []string{"rid"}, clustered: true},
}

// otherIndex is a further index of an index table, partial when where is set (queries that
// use it must state the condition themselves for the planner to see it applies).
type otherIndex struct {
	cols  []string
	where string
}

// indexTables are the tables keyed by rid that a new version or a deletion clears.
var indexTables = func() []string {
	var out []string
	for _, t := range indexSchema {
		out = append(out, t.name)
	}
	return out
}()

func (d *Dialect) schemaStatements() []string {
	ctext := "TEXT"
	if d.ByteOrderText != "" {
		ctext = d.ByteOrderText
	}
	r := strings.NewReplacer("{{rid}}", d.RIDColumn, "{{blob}}", d.BlobType, "{{real}}", d.RealType, "{{ctext}}", ctext)
	var out []string
	for _, s := range schema {
		out = append(out, r.Replace(s))
	}
	for _, s := range inboxSchema {
		out = append(out, r.Replace(s))
	}
	for _, s := range eventsSchema {
		out = append(out, r.Replace(s))
	}
	for _, t := range indexSchema {
		cols := r.Replace(t.columns)
		index := func(suffix string, key []string, where string) {
			s := "CREATE INDEX IF NOT EXISTS " + t.name + "_" + suffix + " ON " + t.name + " (" + strings.Join(key, ", ") + ")"
			if where != "" {
				s += " WHERE " + where
			}
			out = append(out, s)
		}
		if t.clustered && d.ClusteredIndexTables {
			out = append(out, "CREATE TABLE IF NOT EXISTS "+t.name+" ("+cols+", PRIMARY KEY ("+strings.Join(t.byValue, ", ")+")) WITHOUT ROWID")
		} else {
			out = append(out, "CREATE TABLE IF NOT EXISTS "+t.name+" ("+cols+")")
			index("value", t.byValue, "")
		}
		index("rid", t.byRID, "")
		for i, o := range t.others {
			index(fmt.Sprintf("x%d", i+1), o.cols, o.where)
		}
	}
	return out
}

// checkSchemaVersion records the layout in a new database and refuses one written by another.
func checkSchemaVersion(ctx context.Context, tx *sql.Tx, d *Dialect) error {
	var v string
	err := tx.QueryRowContext(ctx, d.Rebind("SELECT value FROM concord_meta WHERE key = ?"), "schema_version").Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM resources").Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("the database holds resources in an older storage layout: export them and import into a new database")
		}
		_, err = tx.ExecContext(ctx, d.Rebind("INSERT INTO concord_meta (key, value) VALUES (?, ?)"), "schema_version", SchemaVersion)
		return err
	case err != nil:
		return err
	case v != SchemaVersion:
		return fmt.Errorf("the database uses storage layout %s; this version of Concord reads layout %s", v, SchemaVersion)
	}
	return nil
}
