package audit

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Report is what Verify found.
type Report struct {
	Entries  int64  // entries checked
	HeadSeq  int64  // the last entry's sequence number
	HeadHash string // the last entry's hash, hex
	// Broken is the sequence number of the first broken entry, 0 when the chain is intact;
	// Problem says what is wrong with it.
	Broken  int64
	Problem string
}

// OK reports whether the chain is intact.
func (r Report) OK() bool { return r.Broken == 0 }

// Err returns nil for an intact chain, else an error naming the first broken entry.
func (r Report) Err() error {
	if r.OK() {
		return nil
	}
	return fmt.Errorf("audit chain broken at entry %d: %s", r.Broken, r.Problem)
}

// String is a one-line summary.
func (r Report) String() string {
	if !r.OK() {
		return r.Err().Error()
	}
	return fmt.Sprintf("audit chain intact: %d entries, head %d:%s", r.Entries, r.HeadSeq, r.HeadHash)
}

// Anchor is an entry's hash recorded outside the log (a previous verification's head, kept
// elsewhere): the chain must still hold that entry with that hash. The chain alone cannot
// show that its newest entries were cut off; an anchor can.
type Anchor struct {
	Seq  int64
	Hash []byte
}

// ParseAnchor reads an anchor written as SEQ:HASH (hex).
func ParseAnchor(s string) (Anchor, error) {
	seqText, hashText, ok := strings.Cut(s, ":")
	seq, err := strconv.ParseInt(seqText, 10, 64)
	if !ok || err != nil || seq < 1 {
		return Anchor{}, fmt.Errorf("anchor %q is not SEQ:HASH", s)
	}
	hash, err := hex.DecodeString(hashText)
	if err != nil || len(hash) != HashSize {
		return Anchor{}, fmt.Errorf("anchor %q: the hash is not %d hex bytes", s, HashSize)
	}
	return Anchor{seq, hash}, nil
}

// Verify walks the whole chain and reports the first broken entry: one whose hash does not
// match its contents (changed), whose sequence number or prev_hash does not follow from the
// entry before (deleted, inserted or reordered), whose indexed columns disagree with its body,
// or whose patient index rows differ from its body. The chain must also reach the head this
// Log has written or seen, and every anchor given. The error is for failures to read, not for
// a broken chain.
func Verify(ctx context.Context, l *Log, anchors ...Anchor) (Report, error) {
	var rep Report
	// What this Log has committed, taken before the walk so that appends during it cannot
	// look like entries gone missing.
	known, _ := l.Head()
	// Bound both walks by one head, so that entries appended meanwhile are not half seen.
	var limit int64
	if err := l.read.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_log`).Scan(&limit); err != nil {
		return rep, fmt.Errorf("audit: %w", err)
	}
	rows, err := l.read.QueryContext(ctx, l.rebind(`SELECT seq, time, patient, user_id, organization, body, prev_hash, hash
		FROM audit_log WHERE seq <= ? ORDER BY seq`), limit)
	if err != nil {
		return rep, fmt.Errorf("audit: %w", err)
	}
	defer rows.Close()
	pats, err := l.read.QueryContext(ctx, l.rebind(`SELECT seq, patient FROM audit_patient WHERE seq <= ? ORDER BY seq, patient`), limit)
	if err != nil {
		return rep, fmt.Errorf("audit: %w", err)
	}
	defer pats.Close()
	pw := patientWalk{rows: pats}

	anchorAt := map[int64][]byte{}
	for _, a := range anchors {
		anchorAt[a.Seq] = a.Hash
	}
	want := int64(1)
	prev := genesis
	broken := func(seq int64, format string, args ...any) (Report, error) {
		rep.Broken, rep.Problem = seq, fmt.Sprintf(format, args...)
		return rep, nil
	}
	for rows.Next() {
		var seq, micros int64
		var patient, user, org string
		var body, prevHash, hash []byte
		if err := rows.Scan(&seq, &micros, &patient, &user, &org, &body, &prevHash, &hash); err != nil {
			return rep, fmt.Errorf("audit: %w", err)
		}
		switch {
		case seq > want:
			return broken(want, "missing (the next entry is %d)", seq)
		case seq < want: // cannot happen with seq the primary key, but a copy may lack it
			return broken(seq, "out of order")
		case !bytes.Equal(prevHash, prev):
			return broken(seq, "prev_hash does not match entry %d's hash (an entry was removed or the entries reordered)", seq-1)
		}
		if !bytes.Equal(entryHash(prevHash, seq, micros, body), hash) {
			return broken(seq, "hash mismatch: the entry was changed")
		}
		if a, ok := anchorAt[seq]; ok && !bytes.Equal(a, hash) {
			return broken(seq, "hash differs from the anchor %x", a)
		}
		c, err := indexed(body)
		if err != nil {
			return broken(seq, "body is not an AuditEvent: %v", err)
		}
		first := ""
		if len(c.patients) > 0 {
			first = c.patients[0]
		}
		if user != c.user || org != c.organization || patient != first {
			return broken(seq, "indexed columns (patient %q, user %q, organization %q) disagree with the body", patient, user, org)
		}
		got, stray, err := pw.upTo(seq)
		if err != nil {
			return rep, err
		}
		if stray != 0 {
			return broken(stray, "patient index rows for an entry that does not exist")
		}
		wantPatients := slices.Clone(c.patients)
		slices.Sort(wantPatients)
		wantPatients = slices.Compact(wantPatients)
		if !slices.Equal(got, wantPatients) {
			return broken(seq, "patient index rows %q disagree with the body's patients %q", got, wantPatients)
		}
		rep.Entries++
		rep.HeadSeq, rep.HeadHash = seq, hex.EncodeToString(hash)
		prev = hash
		want = seq + 1
	}
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("audit: %w", err)
	}
	if _, stray, err := pw.upTo(limit + 1); err != nil {
		return rep, err
	} else if stray != 0 {
		return broken(stray, "patient index rows for an entry that does not exist")
	}
	for _, a := range anchors {
		known = max(known, a.Seq)
	}
	if known > rep.HeadSeq {
		return broken(rep.HeadSeq+1, "missing: the log ends at entry %d but reached entry %d (its newest entries were removed)", rep.HeadSeq, known)
	}
	return rep, nil
}

// patientWalk reads audit_patient in entry order alongside the log.
type patientWalk struct {
	rows    *sql.Rows
	pending bool
	seq     int64
	patient string
	done    bool
}

// upTo returns the patients of entry seq, and the first entry below seq that has patient rows
// but was not asked for (rows left behind by a removed entry), or 0.
func (w *patientWalk) upTo(seq int64) (patients []string, stray int64, err error) {
	for {
		if !w.pending {
			if w.done || !w.rows.Next() {
				w.done = true
				if err := w.rows.Err(); err != nil {
					return nil, 0, fmt.Errorf("audit: %w", err)
				}
				return patients, 0, nil
			}
			if err := w.rows.Scan(&w.seq, &w.patient); err != nil {
				return nil, 0, fmt.Errorf("audit: %w", err)
			}
			w.pending = true
		}
		switch {
		case w.seq < seq:
			return nil, w.seq, nil
		case w.seq > seq:
			return patients, 0, nil
		}
		patients = append(patients, w.patient)
		w.pending = false
	}
}
