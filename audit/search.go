package audit

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Query selects entries for "who has seen my record": every field given must match.
type Query struct {
	Patient      string // the Patient resource id
	User         string
	Organization string    // ODS code
	Since, Until time.Time // Since inclusive, Until exclusive; zero means unbounded
	Count        int       // entries per page: 20 when 0, at most MaxCount
	Cursor       string    // the next cursor of the previous page
}

// MaxCount bounds a page.
const MaxCount = 1000

// Entry is one logged event.
type Entry struct {
	Seq  int64
	Time time.Time
	// JSON is the AuditEvent with its id set to Seq (the stored body has none).
	JSON []byte
}

// Search returns the matching entries newest first, a page at a time, and the cursor of the
// next page ("" after the last). Pages are keyset ranges of the sequence number, so a page
// costs the same however deep it is and entries appended meanwhile do not shift it.
func (l *Log) Search(ctx context.Context, q Query) ([]Entry, string, error) {
	count := q.Count
	if count <= 0 {
		count = 20
	}
	count = min(count, MaxCount)
	var where []string
	var args []any
	from, seqCol := "audit_log l", "l.seq"
	if q.Patient != "" {
		// The keyset is then audit_patient's (patient, seq) key, read backwards, not sorted.
		from, seqCol = "audit_patient p JOIN audit_log l ON l.seq = p.seq", "p.seq"
		where = append(where, "p.patient = ?")
		args = append(args, q.Patient)
	}
	if q.User != "" {
		where = append(where, "l.user_id = ?")
		args = append(args, q.User)
	}
	if q.Organization != "" {
		where = append(where, "l.organization = ?")
		args = append(args, q.Organization)
	}
	if !q.Since.IsZero() {
		where = append(where, "l.time >= ?")
		args = append(args, q.Since.UnixMicro())
	}
	if !q.Until.IsZero() {
		where = append(where, "l.time < ?")
		args = append(args, q.Until.UnixMicro())
	}
	if q.Cursor != "" {
		before, err := parseCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		where = append(where, seqCol+" < ?")
		args = append(args, before)
	}
	stmt := "SELECT l.seq, l.time, l.body FROM " + from
	if len(where) > 0 {
		stmt += " WHERE " + strings.Join(where, " AND ")
	}
	stmt += fmt.Sprintf(" ORDER BY %s DESC LIMIT %d", seqCol, count+1)
	rows, err := l.read.QueryContext(ctx, l.rebind(stmt), args...)
	if err != nil {
		return nil, "", fmt.Errorf("audit: search: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var micros int64
		var body []byte
		if err := rows.Scan(&e.Seq, &micros, &body); err != nil {
			return nil, "", fmt.Errorf("audit: search: %w", err)
		}
		e.Time = time.UnixMicro(micros).UTC()
		e.JSON = withID(body, e.Seq)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("audit: search: %w", err)
	}
	next := ""
	if len(out) > count {
		out = out[:count]
		next = cursor(out[count-1].Seq)
	}
	return out, next, nil
}

const bodyPrefix = `{"resourceType":"AuditEvent",`

// withID sets the AuditEvent's id, which in canonical order follows resourceType.
func withID(body []byte, seq int64) []byte {
	if !strings.HasPrefix(string(body), bodyPrefix) {
		return body
	}
	out := make([]byte, 0, len(body)+32)
	out = append(out, bodyPrefix...)
	out = append(out, `"id":"`...)
	out = strconv.AppendInt(out, seq, 10)
	out = append(out, `",`...)
	return append(out, body[len(bodyPrefix):]...)
}

// Cursors are opaque to clients: the last sequence number of a page, encoded.
const cursorPrefix = "a1:"

func cursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(seq, 10)))
}

func parseCursor(c string) (int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		if s, ok := strings.CutPrefix(string(raw), cursorPrefix); ok {
			if seq, err := strconv.ParseInt(s, 10, 64); err == nil && seq > 0 {
				return seq, nil
			}
		}
	}
	return 0, fmt.Errorf("audit: invalid cursor %q", c)
}
