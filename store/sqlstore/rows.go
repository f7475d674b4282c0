package sqlstore

import (
	"context"
	"database/sql"
	"math"
	"strings"

	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/search"
	"github.com/concord-health/concord/store"
)

// tableRows accumulates the rows of one index table as a flat argument list.
type tableRows struct {
	table string
	cols  []string
	args  []any
}

// rowBuffer holds the index rows of a transaction's writes until they are flushed.
type rowBuffer struct {
	tables [11]tableRows
	inited bool
}

// bufferTables are the index tables in rowBuffer order, with the columns add fills, and
// last the event log (events.go), whose rows addEvent fills.
var bufferTables = [11]struct {
	table string
	cols  []string
}{
	{"idx_string", []string{"rid", "pid", "norm", "exact"}},
	{"idx_token", []string{"rid", "pid", "system", "code"}},
	{"idx_date", []string{"rid", "pid", "lo", "hi"}},
	{"idx_number", []string{"rid", "pid", "value", "lo", "hi"}},
	{"idx_quantity", []string{"rid", "pid", "system", "code", "unit", "value", "lo", "hi"}},
	{"idx_reference", []string{"rid", "pid", "target_type", "target_id", "url", "version"}},
	{"idx_uri", []string{"rid", "pid", "uri"}},
	{"idx_composite", []string{"rid", "pid", "s1", "c1", "lo1", "hi1", "s2", "c2", "lo2", "hi2", "s3", "c3", "lo3", "hi3"}},
	{"compartment", []string{"patient_id", "rid"}},
	{"patient_date", []string{"patient_id", "ref_pid", "date_pid", "lo", "hi", "rid"}},
	{"events", eventRowCols},
}

func (b *rowBuffer) init() {
	if b.inited {
		return
	}
	b.inited = true
	for i, bt := range bufferTables {
		b.tables[i] = tableRows{table: bt.table, cols: bt.cols}
	}
}

func (b *rowBuffer) reset() {
	for i := range b.tables {
		b.tables[i].args = b.tables[i].args[:0]
	}
}

// addEvent buffers the event of a version written (lastUpdated at).
func (b *rowBuffer) addEvent(typ, id string, version int64, action store.EventAction, at int64) {
	b.init()
	t := &b.tables[10]
	t.args = append(t.args, typ, id, version, int(action), at)
}

func (b *rowBuffer) add(rid int64, ix *search.Index, pd *patientDateSpec) {
	b.init()
	t := &b.tables
	for _, r := range ix.Strings {
		t[0].args = append(t[0].args, rid, r.Param, r.Norm, r.Exact)
	}
	for _, r := range ix.Tokens {
		t[1].args = append(t[1].args, rid, r.Param, r.System, r.Code)
	}
	for _, r := range ix.Dates {
		t[2].args = append(t[2].args, rid, r.Param, r.Lo, r.Hi)
	}
	for _, r := range ix.Numbers {
		t[3].args = append(t[3].args, rid, r.Param, search.Finite(r.Value), search.Finite(r.Lo), search.Finite(r.Hi))
	}
	for _, r := range ix.Quantities {
		t[4].args = append(t[4].args, rid, r.Param, r.System, r.Code, r.Unit, search.Finite(r.Value), search.Finite(r.Lo), search.Finite(r.Hi))
	}
	for _, r := range ix.References {
		t[5].args = append(t[5].args, rid, r.Param, r.TargetType, r.TargetID, r.URL, r.Version)
	}
	for _, r := range ix.URIs {
		t[6].args = append(t[6].args, rid, r.Param, r.URI)
	}
	for _, r := range ix.Composites {
		var p [3]search.CompositePart
		copy(p[:], r.Parts)
		t[7].args = append(t[7].args, rid, r.Param,
			p[0].System, p[0].Code, search.Finite(p[0].Lo), search.Finite(p[0].Hi),
			p[1].System, p[1].Code, search.Finite(p[1].Lo), search.Finite(p[1].Hi),
			p[2].System, p[2].Code, search.Finite(p[2].Lo), search.Finite(p[2].Hi))
	}
	for _, id := range ix.Patients {
		t[8].args = append(t[8].args, id, rid)
	}
	if pd != nil {
		b.addPatientDates(rid, ix, pd)
	}
}

// addPatientDates adds the patient_date rows of a resource: for each Patient its patient
// parameter names and each date parameter of the spec, its lowest and highest instant, or
// the extremes that sort it last both ways (lo = MaxInt64, hi = MinInt64) when it has no
// value: a patient's resources then read in sort order from one index range, those without
// a date at its end.
func (b *rowBuffer) addPatientDates(rid int64, ix *search.Index, pd *patientDateSpec) {
	type span struct {
		pid    int64
		lo, hi int64
	}
	var dates []span
	for i, r := range ix.References {
		if r.Param != pd.refPid || r.TargetType != "Patient" || r.TargetID == "" {
			continue
		}
		dup := false
		for _, o := range ix.References[:i] {
			if o.Param == r.Param && o.TargetType == "Patient" && o.TargetID == r.TargetID {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		if dates == nil {
			dates = make([]span, len(pd.datePids))
			for i, pid := range pd.datePids {
				dates[i] = span{pid, math.MaxInt64, math.MinInt64}
			}
			for _, d := range ix.Dates {
				for i := range dates {
					if dates[i].pid == d.Param {
						dates[i].lo, dates[i].hi = min(dates[i].lo, d.Lo), max(dates[i].hi, d.Hi)
					}
				}
			}
		}
		t := &b.tables[9]
		for _, d := range dates {
			t.args = append(t.args, r.TargetID, r.Param, d.pid, d.lo, d.hi, rid)
		}
	}
}

// maxChunkRows bounds the rows of one multi-row INSERT. Chunks are this size or a power of two
// below it, so a handful of statement texts cover every batch and stay prepared.
const maxChunkRows = 128

// chunkLimit is the largest chunk for a table of n columns.
func chunkLimit(n int, d *Dialect) int {
	limit := maxChunkRows
	for limit*n > d.MaxParams {
		limit /= 2
	}
	return limit
}

// flush writes the buffered rows in multi-row INSERTs of at most d.MaxParams parameters, or
// through the dialect's bulk copy on conn when a table has enough of them.
func (b *rowBuffer) flush(ctx context.Context, exec func(ctx context.Context, q string, args ...any) error, conn *sql.Conn, d *Dialect) error {
	if !b.inited {
		return nil
	}
	for i := range b.tables {
		tr := &b.tables[i]
		n := len(tr.cols)
		if d.CopyFrom != nil && conn != nil && len(tr.args) >= d.CopyMinRows*n && len(tr.args) > 0 {
			if err := d.CopyFrom(ctx, conn, tr.table, tr.cols, tr.args); err != nil {
				return err
			}
			continue
		}
		limit := chunkLimit(n, d)
		for start := 0; start < len(tr.args); {
			rows := limit
			for rows*n > len(tr.args)-start {
				rows /= 2
			}
			end := start + rows*n
			if err := exec(ctx, insertSQL(d, tr.table, tr.cols, rows), tr.args[start:end]...); err != nil {
				return err
			}
			start = end
		}
	}
	return nil
}

// insertStatements are every multi-row INSERT flush can run.
func insertStatements(d *Dialect) []string {
	var out []string
	for _, bt := range bufferTables {
		for rows := chunkLimit(len(bt.cols), d); rows > 0; rows /= 2 {
			out = append(out, insertSQL(d, bt.table, bt.cols, rows))
		}
	}
	return out
}

func insertSQL(d *Dialect, table string, cols []string, rows int) string {
	var sb strings.Builder
	if d.InsertVerb != "" {
		sb.WriteString(d.InsertVerb)
		sb.WriteByte(' ')
	} else {
		sb.WriteString("INSERT INTO ")
	}
	sb.WriteString(table)
	sb.WriteString(" (")
	sb.WriteString(strings.Join(cols, ", "))
	sb.WriteString(") VALUES ")
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
	for i := 0; i < rows; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(tuple)
	}
	return sb.String()
}

// patientDateSpec is what patient_date holds for a resource type: rows for the Patients its
// patient parameter names, for its date parameter "date".
type patientDateSpec struct {
	refPid   int64
	datePids []int64
}

// patientDateSpecs lists the resource types with both a patient and a date parameter, and
// what patient_date holds for them.
func patientDateSpecs(reg *definitions.Registry) map[string]*patientDateSpec {
	out := map[string]*patientDateSpec{}
	for _, typ := range reg.ResourceTypes() {
		if p := reg.SearchParam(typ, "patient"); p == nil || p.Type != "reference" {
			continue
		}
		if p := reg.SearchParam(typ, "date"); p == nil || p.Type != "date" {
			continue
		}
		out[typ] = &patientDateSpec{refPid: search.ParamID(typ, "patient"), datePids: []int64{search.ParamID(typ, "date")}}
	}
	return out
}
