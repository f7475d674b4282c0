package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/concord-health/concord/store"
)

// History implements store.Store: versions newest first, paged by a keyset cursor of
// (last_updated, rid, version) so that pages stay stable while writes continue.
func (db *DB) History(ctx context.Context, req store.HistoryRequest) (*store.HistoryPage, error) {
	var scope string
	var scopeArgs []any
	switch {
	case req.ID != "":
		scope, scopeArgs = "r.type = ? AND r.id = ?", []any{req.Type, req.ID}
	case req.Type != "":
		scope, scopeArgs = "r.type = ?", []any{req.Type}
	default:
		scope = "1 = 1"
	}
	cte := `WITH v AS (
		SELECT r.rid, r.type, r.id, r.version, r.last_updated, r.deleted, r.body FROM resources r WHERE ` + scope + `
		UNION ALL
		SELECT h.rid, r.type, r.id, h.version, h.last_updated, h.deleted, h.body FROM history h JOIN resources r ON r.rid = h.rid WHERE ` + scope + `
	) `
	args := append(append([]any{}, scopeArgs...), scopeArgs...)
	var conds []string
	if !req.Since.IsZero() {
		conds = append(conds, "v.last_updated >= ?")
		args = append(args, req.Since.UnixMicro())
	}
	if !req.At.IsZero() {
		at := req.At.UnixMicro()
		conds = append(conds, "v.last_updated <= ? AND NOT EXISTS (SELECT 1 FROM v v2 WHERE v2.rid = v.rid AND v2.version > v.version AND v2.last_updated <= ?)")
		args = append(args, at, at)
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	var total int
	if err := db.reads.QueryRowContext(ctx, db.d.Rebind(cte+"SELECT COUNT(*) FROM v"+where), args...).Scan(&total); err != nil {
		return nil, err
	}
	count := req.Count
	if count <= 0 {
		count = 50
	}
	if req.Cursor != "" {
		var lu, rid, ver int64
		if _, err := fmt.Sscanf(req.Cursor, "%d.%d.%d", &lu, &rid, &ver); err != nil {
			return nil, fmt.Errorf("%w: bad history cursor", store.ErrBadCursor)
		}
		c := "(v.last_updated < ? OR (v.last_updated = ? AND (v.rid < ? OR (v.rid = ? AND v.version < ?))))"
		if where == "" {
			where = " WHERE " + c
		} else {
			where += " AND " + c
		}
		args = append(args, lu, lu, rid, rid, ver)
	}
	q := cte + "SELECT v.rid, v.type, v.id, v.version, v.last_updated, v.deleted, v.body FROM v" + where +
		fmt.Sprintf(" ORDER BY v.last_updated DESC, v.rid DESC, v.version DESC LIMIT %d", count+1)
	rows, err := db.reads.QueryContext(ctx, db.d.Rebind(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	page := &store.HistoryPage{Total: total}
	var lastRID, prevRID int64
	for rows.Next() {
		r := &store.Record{}
		var lu int64
		var del int
		if err := rows.Scan(&lastRID, &r.Type, &r.ID, &r.Version, &lu, &del, &r.Body); err != nil {
			return nil, err
		}
		r.LastUpdated = micros(lu)
		r.Deleted = del != 0
		if len(page.Records) == count {
			last := page.Records[count-1]
			page.Next = fmt.Sprintf("%d.%d.%d", last.LastUpdated.UnixMicro(), prevRID, last.Version)
			break
		}
		prevRID = lastRID
		page.Records = append(page.Records, r)
	}
	return page, rows.Err()
}
