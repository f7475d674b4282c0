package sqlstore

import (
	"context"
	"strconv"

	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/search"
	"github.com/concord-health/concord/store"
)

// patientDate is a sorted search the patient_date table answers: the patient parameter
// (patient=Patient/X) drives it, its single sort key is the date parameter "date", and every
// other filter needs only the candidate's rid.
type patientDate struct {
	driver          *search.Filter
	patientID       string
	refPid, datePid int64
	desc            bool
}

func patientDatePlan(q *search.Query) *patientDate {
	if q.Type == "" || len(q.Sort) != 1 || q.Sort[0].Param.Code != "date" {
		return nil
	}
	d := sourceDriver(q)
	if d < 0 {
		return nil
	}
	f := q.Filters[d]
	if f.Chain != nil || f.Param.Code != "patient" || len(f.Values) != 1 || (f.Modifier != "" && f.Modifier != "Patient") {
		return nil
	}
	v := f.Values[0]
	if v.RefID == "" || v.URL != "" || !(v.RefType == "Patient" || v.RefType == "" && f.Modifier == "Patient") {
		return nil
	}
	return &patientDate{driver: f, patientID: v.RefID, desc: q.Sort[0].Desc,
		refPid: search.ParamID(q.Type, f.Param.Code), datePid: search.ParamID(q.Type, q.Sort[0].Param.Code)}
}

// searchPatientDates reads a forward page of such a search from patient_date in index order:
// resources with a date for the parameter by it, then those without one (stored with the
// extremes that sort them last), in rid order. The order, and so the cursors, are those of
// the general sorted search.
func (db *DB) searchPatientDates(ctx context.Context, q *search.Query, keys []*sortKey, pd *patientDate, bound []any, count int, res *store.Result) ([]match, bool, error) {
	col, order := "r.lo", ""
	if pd.desc {
		col, order = "r.hi", " DESC"
	}
	b := &builder{d: db.d, reg: definitions.R4()}
	b.w("SELECT o.rid, o.type, o.id, o.version, o.last_updated, o.body, p.s0, p.rid FROM (SELECT * FROM (SELECT r.rid AS rid, ", col, " AS s0 FROM patient_date r WHERE r.patient_id = ")
	b.arg(pd.patientID)
	b.w(" AND r.ref_pid = ")
	b.arg(pd.refPid)
	b.w(" AND r.date_pid = ")
	b.arg(pd.datePid)
	b.sourced = pd.driver // the table's own conditions stand for it
	b.conds = 1
	if err := b.filters(q, "r"); err != nil {
		return nil, false, err
	}
	b.w(") k")
	if bound != nil {
		b.w(" WHERE ")
		b.keysetCond(keys, bound, "k.", false)
	}
	b.w(" ORDER BY k.s0", order, ", k.rid LIMIT ", strconv.Itoa(count+1), ") p JOIN resources o ON o.rid = p.rid ORDER BY p.s0", order, ", p.rid")
	matches, firstRow, pageEnd, err := db.pageRows(ctx, b, keys, count)
	if err != nil {
		return nil, false, err
	}
	more := len(matches) > count
	if more {
		matches = matches[:count]
		res.Next = encodeCursor('s', pageEnd)
	}
	if bound != nil && len(matches) > 0 {
		res.Prev = encodeCursor('r', firstRow)
	}
	return matches, more, nil
}
