package sqlstore

import "strings"

// The schema is the same on every backend; dialects substitute the few column types that
// differ ({{rid}} for the resource row key, {{blob}} for bodies, {{real}} for floats,
// {{ctext}} for text compared by prefix ranges, which must sort by bytes).
//
// resources holds the current version of each resource (a deletion keeps its row with
// deleted=1 and no body); history holds the older versions. Index rows reference resources
// by the integer rid and name their parameter by search.ParamID; they exist only for live
// (not deleted) current versions. Dates are microseconds since the Unix epoch.
var schema = []string{
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

	`CREATE TABLE IF NOT EXISTS idx_string (rid BIGINT NOT NULL, pid BIGINT NOT NULL, norm {{ctext}} NOT NULL, exact {{ctext}} NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS idx_string_value ON idx_string (pid, norm)`,
	`CREATE INDEX IF NOT EXISTS idx_string_rid ON idx_string (rid, pid)`,

	`CREATE TABLE IF NOT EXISTS idx_token (rid BIGINT NOT NULL, pid BIGINT NOT NULL, system TEXT NOT NULL, code TEXT NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS idx_token_value ON idx_token (pid, code, system)`,
	`CREATE INDEX IF NOT EXISTS idx_token_rid ON idx_token (rid, pid)`,

	`CREATE TABLE IF NOT EXISTS idx_date (rid BIGINT NOT NULL, pid BIGINT NOT NULL, lo BIGINT NOT NULL, hi BIGINT NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS idx_date_value ON idx_date (pid, lo)`,
	`CREATE INDEX IF NOT EXISTS idx_date_rid ON idx_date (rid, pid)`,

	`CREATE TABLE IF NOT EXISTS idx_number (rid BIGINT NOT NULL, pid BIGINT NOT NULL, value {{real}} NOT NULL, lo {{real}} NOT NULL, hi {{real}} NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS idx_number_value ON idx_number (pid, value)`,
	`CREATE INDEX IF NOT EXISTS idx_number_rid ON idx_number (rid, pid)`,

	`CREATE TABLE IF NOT EXISTS idx_quantity (rid BIGINT NOT NULL, pid BIGINT NOT NULL, system TEXT NOT NULL, code TEXT NOT NULL, unit TEXT NOT NULL, value {{real}} NOT NULL, lo {{real}} NOT NULL, hi {{real}} NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS idx_quantity_value ON idx_quantity (pid, value)`,
	`CREATE INDEX IF NOT EXISTS idx_quantity_rid ON idx_quantity (rid, pid)`,

	`CREATE TABLE IF NOT EXISTS idx_reference (rid BIGINT NOT NULL, pid BIGINT NOT NULL, target_type TEXT NOT NULL, target_id TEXT NOT NULL, url TEXT NOT NULL, version TEXT NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS idx_reference_target ON idx_reference (target_id, pid, target_type)`,
	`CREATE INDEX IF NOT EXISTS idx_reference_url ON idx_reference (url)`,
	`CREATE INDEX IF NOT EXISTS idx_reference_rid ON idx_reference (rid, pid)`,

	`CREATE TABLE IF NOT EXISTS idx_uri (rid BIGINT NOT NULL, pid BIGINT NOT NULL, uri {{ctext}} NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS idx_uri_value ON idx_uri (pid, uri)`,
	`CREATE INDEX IF NOT EXISTS idx_uri_rid ON idx_uri (rid, pid)`,

	`CREATE TABLE IF NOT EXISTS idx_composite (rid BIGINT NOT NULL, pid BIGINT NOT NULL,
		s1 TEXT NOT NULL, c1 {{ctext}} NOT NULL, lo1 {{real}} NOT NULL, hi1 {{real}} NOT NULL,
		s2 TEXT NOT NULL, c2 {{ctext}} NOT NULL, lo2 {{real}} NOT NULL, hi2 {{real}} NOT NULL,
		s3 TEXT NOT NULL, c3 {{ctext}} NOT NULL, lo3 {{real}} NOT NULL, hi3 {{real}} NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS idx_composite_value ON idx_composite (pid, c1)`,
	`CREATE INDEX IF NOT EXISTS idx_composite_rid ON idx_composite (rid, pid)`,

	// compartment lists the Patient compartments a live resource belongs to.
	`CREATE TABLE IF NOT EXISTS compartment (patient_id TEXT NOT NULL, rid BIGINT NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS compartment_patient ON compartment (patient_id, rid)`,
	`CREATE INDEX IF NOT EXISTS compartment_rid ON compartment (rid)`,
}

// indexTables are the tables keyed by rid that a new version or a deletion clears.
var indexTables = []string{"idx_string", "idx_token", "idx_date", "idx_number", "idx_quantity",
	"idx_reference", "idx_uri", "idx_composite", "compartment"}

func (d *Dialect) schemaStatements() []string {
	ctext := "TEXT"
	if d.ByteOrderText != "" {
		ctext = d.ByteOrderText
	}
	r := strings.NewReplacer("{{rid}}", d.RIDColumn, "{{blob}}", d.BlobType, "{{real}}", d.RealType, "{{ctext}}", ctext)
	out := make([]string, len(schema))
	for i, s := range schema {
		out[i] = r.Replace(s)
	}
	return out
}
