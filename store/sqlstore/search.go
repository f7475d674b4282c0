package sqlstore

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/search"
	"github.com/concord-health/concord/store"
)

// DefaultCount is the page size when a search gives no _count: 20, as HAPI FHIR and Medplum
// use, a screenful for a clinician and a small first response; clients that want more pages
// at once ask with _count (up to search.MaxCount).
const DefaultCount = 20

// builder accumulates one SQL statement and its arguments.
type builder struct {
	d    *Dialect
	reg  *definitions.Registry
	sb   strings.Builder
	args []any
	n    int // alias counter
	// conds counts the top-level conditions written (see and).
	conds int
	// sourced is the filter the FROM clause selects by, which filters skips.
	sourced *search.Filter
}

func (b *builder) w(s ...string) {
	for _, x := range s {
		b.sb.WriteString(x)
	}
}

func (b *builder) arg(v any) { b.args = append(b.args, v); b.sb.WriteByte('?') }

func (b *builder) alias(prefix string) string {
	b.n++
	return prefix + strconv.Itoa(b.n)
}

// scope writes the conditions every match satisfies: live, of the searched type(s), in the
// compartment, and every filter.
func (b *builder) scope(q *search.Query, r string) error {
	// Index rows exist only for live current versions, and their parameter ids name the
	// resource type: when an index table drives, its rids are live resources of the
	// searched types, and testing the resources row again would cost a read per match.
	if q.Compartment != nil || !drivenByRID(q) {
		b.and()
		b.w(r, ".deleted = 0")
		switch {
		case q.Type != "":
			b.w(" AND ", r, ".type = ")
			b.arg(q.Type)
		case len(q.Types) > 0:
			b.w(" AND ", r, ".type IN (")
			b.list(anyStrings(q.Types))
			b.w(")")
		}
	}
	if c := q.Compartment; c != nil {
		b.and()
		b.w(r, ".rid IN (SELECT rid FROM compartment WHERE patient_id = ")
		b.arg(c.ID)
		b.w(")")
	}
	return b.filters(q, r)
}

// and starts a top-level condition of the WHERE clause.
func (b *builder) and() {
	if b.conds > 0 {
		b.w(" AND ")
	}
	b.conds++
}

// from writes the FROM clause of a search over resources r, up to WHERE.
func (b *builder) from(q *search.Query) {
	b.w(" FROM resources r")
	if drivenByRID(q) {
		b.w(b.d.ByRowKey)
	}
	b.w(" WHERE ")
}

// compileMatch builds the id query used by conditional interactions.
func compileMatch(d *Dialect, q *search.Query, limit int) (string, []any, error) {
	b := &builder{d: d, reg: definitions.R4()}
	b.w("SELECT r.id")
	b.from(q)
	if err := b.scope(q, "r"); err != nil {
		return "", nil, err
	}
	b.w(" ORDER BY r.rid LIMIT " + strconv.Itoa(limit))
	return d.Rebind(b.sb.String()), b.args, nil
}

type match struct {
	rid int64
	rec *store.Record
}

// Search implements store.Store. Pages are keyset ranges: without _sort, of rid in insertion
// order ("a<rid>" after, "b<rid>" before); with _sort, of the sort keys and rid (cursor.go).
func (db *DB) Search(ctx context.Context, q *search.Query) (*store.Result, error) {
	count := q.Count
	if count <= 0 {
		count = DefaultCount
	}
	res := &store.Result{Total: -1}
	countAll := func() error {
		b := &builder{d: db.d, reg: definitions.R4()}
		b.w("SELECT COUNT(*)")
		b.from(q)
		if err := b.scope(q, "r"); err != nil {
			return err
		}
		return db.reader.Query(ctx, db.d.Rebind(b.sb.String()), b.args, func(r Row) error {
			res.Total = int(r.Int64(0))
			return nil
		})
	}
	if q.Summary == "count" {
		if err := countAll(); err != nil {
			return nil, err
		}
		return res, nil
	}

	var matches []match
	var more, firstPage bool
	var err error
	if len(q.Sort) > 0 {
		matches, more, firstPage, err = db.searchSorted(ctx, q, count, res)
	} else {
		matches, more, firstPage, err = db.searchByRID(ctx, q, count, res)
	}
	if err != nil {
		return nil, err
	}
	// A first page that holds every match is its own count. Otherwise the COUNT query, which
	// costs as much as the search, runs only when the search asks for a total.
	switch {
	case !more && firstPage:
		res.Total = len(matches)
	case q.Total == "accurate" || q.Total == "estimate":
		if err := countAll(); err != nil {
			return nil, err
		}
	}
	for _, m := range matches {
		res.Matches = append(res.Matches, m.rec)
	}
	if len(q.Includes) > 0 && len(matches) > 0 {
		inc, err := db.includes(ctx, q, matches)
		if err != nil {
			return nil, err
		}
		res.Included = inc
	}
	return res, nil
}

// searchByRID finds a page of an unsorted search: matches in rid order, after or before the
// cursor's rid. It sets res's links and reports whether more matches lie beyond the page in
// its direction and whether this is the first page.
func (db *DB) searchByRID(ctx context.Context, q *search.Query, count int, res *store.Result) ([]match, bool, bool, error) {
	var after, before int64 = -1, -1
	if c := q.Cursor; c != "" {
		n, err := strconv.ParseInt(c[min(1, len(c)):], 10, 64)
		if err != nil || len(c) < 2 || (c[0] != 'a' && c[0] != 'b') {
			return nil, false, false, fmt.Errorf("%w: %q", store.ErrBadCursor, c)
		}
		if c[0] == 'a' {
			after = n
		} else {
			before = n
		}
	}
	b := &builder{d: db.d, reg: definitions.R4()}
	b.w("SELECT r.rid, r.type, r.id, r.version, r.last_updated, r.body")
	b.from(q)
	if err := b.scope(q, "r"); err != nil {
		return nil, false, false, err
	}
	if before >= 0 {
		b.w(" AND r.rid < ")
		b.arg(before)
		b.w(" ORDER BY r.rid DESC LIMIT ", strconv.Itoa(count+1))
	} else {
		if after >= 0 {
			b.w(" AND r.rid > ")
			b.arg(after)
		}
		b.w(" ORDER BY r.rid LIMIT ", strconv.Itoa(count+1))
	}
	matches, err := db.queryRecords(ctx, b, nil)
	if err != nil {
		return nil, false, false, err
	}
	more := len(matches) > count
	if more {
		matches = matches[:count]
	}
	if before >= 0 {
		slices.Reverse(matches)
	}
	if len(matches) > 0 {
		first, last := matches[0].rid, matches[len(matches)-1].rid
		if more || before >= 0 {
			res.Next = "a" + strconv.FormatInt(last, 10)
		}
		if after >= 0 || (before >= 0 && more) {
			res.Prev = "b" + strconv.FormatInt(first, 10)
		}
	}
	return matches, more, after < 0 && before < 0, nil
}

// searchSorted finds a page of a sorted search. The sort runs in a subquery over rids and
// key columns, keeping bodies out of it; the page's bodies are joined to it in the same
// statement, with the key columns that make the page's cursors.
func (db *DB) searchSorted(ctx context.Context, q *search.Query, count int, res *store.Result) ([]match, bool, bool, error) {
	b := &builder{d: db.d, reg: definitions.R4()}
	keys, err := b.sortKeys(q, "r")
	if err != nil {
		return nil, false, false, err
	}
	var dir byte // 's': after the cursor, 'r': before it
	var bound []any
	if c := q.Cursor; c != "" {
		if c[0] != 's' && c[0] != 'r' {
			return nil, false, false, fmt.Errorf("%w: %q", store.ErrBadCursor, c)
		}
		dir = c[0]
		if bound, err = decodeCursor(keys, c[1:]); err != nil {
			return nil, false, false, err
		}
	}
	reversed := dir == 'r'
	if pd := patientDatePlan(q); pd != nil && !reversed {
		matches, more, err := db.searchPatientDates(ctx, q, keys, pd, bound, count, res)
		return matches, more, dir == 0, err
	}
	b.w("SELECT o.rid, o.type, o.id, o.version, o.last_updated, o.body")
	for i, k := range keys {
		n := strconv.Itoa(i)
		if k.null != "" {
			b.w(", p.n", n)
		}
		b.w(", p.s", n)
	}
	b.w(", p.rid FROM (")
	if dir != 0 {
		b.w("SELECT * FROM (")
	}
	b.w("SELECT r.rid AS rid")
	b.sortColumns(keys)
	if d := sourceDriver(q); d >= 0 && !slices.ContainsFunc(keys, func(k *sortKey) bool { return k.table == "" }) {
		// Candidates straight from the driving index; grouping by rid dedups them.
		b.sourced = q.Filters[d]
		b.w(" FROM (")
		if err := b.cond(b.sourced, "r", nil, source); err != nil {
			return nil, false, false, err
		}
		b.w(") r")
	} else {
		b.w(" FROM resources r")
		if drivenByRID(q) {
			b.w(b.d.ByRowKey)
		}
	}
	b.sortJoinClauses(keys, "r")
	b.w(" WHERE ")
	if err := b.scope(q, "r"); err != nil {
		return nil, false, false, err
	}
	if b.conds == 0 {
		b.w("1 = 1") // everything is in the FROM clause
	}
	if grouped(keys) {
		b.w(" GROUP BY r.rid")
	}
	prefix := ""
	if dir != 0 {
		b.w(") k WHERE ")
		b.keysetCond(keys, bound, "k.", reversed)
		prefix = "k."
	}
	b.w(" ORDER BY ")
	b.sortOrder(keys, prefix, reversed)
	b.w(" LIMIT ", strconv.Itoa(count+1), ") p JOIN resources o ON o.rid = p.rid ORDER BY ")
	b.sortOrder(keys, "p.", reversed)
	matches, firstRow, pageEnd, err := db.pageRows(ctx, b, keys, count)
	if err != nil {
		return nil, false, false, err
	}
	more := len(matches) > count
	if more {
		matches = matches[:count]
	}
	if reversed {
		slices.Reverse(matches)
	}
	if len(matches) > 0 {
		switch {
		case reversed:
			res.Next = encodeCursor('s', firstRow) // read backwards: the first row read ends the page
			if more {
				res.Prev = encodeCursor('r', pageEnd)
			}
		default:
			if more {
				res.Next = encodeCursor('s', pageEnd)
			}
			if dir == 's' {
				res.Prev = encodeCursor('r', firstRow)
			}
		}
	}
	return matches, more, dir == 0, nil
}

// queryRecords runs a query whose first columns are rid, type, id, version, last_updated and
// body, and calls extra, if given, with each row for the columns after them.
func (db *DB) queryRecords(ctx context.Context, b *builder, extra func(Row)) ([]match, error) {
	var out []match
	var recs []store.Record // allocated in blocks, as are the bodies
	var arena []byte
	err := db.reader.Query(ctx, db.d.Rebind(b.sb.String()), b.args, func(r Row) error {
		if len(recs) == cap(recs) {
			recs = make([]store.Record, 0, 16)
		}
		recs = recs[:len(recs)+1]
		rec := &recs[len(recs)-1]
		rec.Type, rec.ID, rec.Version = r.Text(1), r.Text(2), r.Int64(3)
		rec.LastUpdated = micros(r.Int64(4))
		if n := r.Len(5); n > cap(arena)-len(arena) {
			arena = make([]byte, 0, max(64<<10, n))
		}
		start := len(arena)
		arena = r.AppendBytes(5, arena)
		rec.Body = arena[start:len(arena):len(arena)]
		out = append(out, match{rid: r.Int64(0), rec: rec})
		if extra != nil {
			extra(r)
		}
		return nil
	})
	return out, err
}

func (db *DB) queryRIDs(ctx context.Context, b *builder) ([]int64, error) {
	var out []int64
	err := db.reader.Query(ctx, db.d.Rebind(b.sb.String()), b.args, func(r Row) error {
		out = append(out, r.Int64(0))
		return nil
	})
	return out, err
}

// fetch reads the live resources with the given rids, in that order.
func (db *DB) fetch(ctx context.Context, rids []int64) ([]match, error) {
	if len(rids) == 0 {
		return nil, nil
	}
	b := &builder{d: db.d}
	b.w("SELECT r.rid, r.type, r.id, r.version, r.last_updated, r.body FROM resources r WHERE r.deleted = 0 AND r.rid IN (")
	vs := make([]any, len(rids))
	for i, rid := range rids {
		vs[i] = rid
	}
	b.paddedList(vs)
	b.w(")")
	found, err := db.queryRecords(ctx, b, nil)
	if err != nil {
		return nil, err
	}
	pos := make(map[int64]int, len(rids))
	for i, rid := range rids {
		pos[rid] = i
	}
	slices.SortFunc(found, func(a, b match) int { return pos[a.rid] - pos[b.rid] })
	return found, nil
}

// queryTargets runs a query of (type, id) pairs and groups the ids by type, leaving out
// those in skip ("type/id").
func (db *DB) queryTargets(ctx context.Context, b *builder, skip map[string]bool) (map[string][]any, error) {
	out := map[string][]any{}
	err := db.reader.Query(ctx, db.d.Rebind(b.sb.String()), b.args, func(r Row) error {
		typ, id := r.Text(0), r.Text(1)
		if !skip[typ+"/"+id] {
			out[typ] = append(out[typ], id)
		}
		return nil
	})
	return out, err
}

// fetchByID reads the live resources with the given ids per type, in rid order.
func (db *DB) fetchByID(ctx context.Context, ids map[string][]any) ([]match, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	types := make([]string, 0, len(ids))
	for t := range ids {
		types = append(types, t)
	}
	slices.Sort(types)
	b := &builder{d: db.d}
	for i, t := range types {
		if i > 0 {
			b.w(" UNION ALL ")
		}
		b.w("SELECT r.rid, r.type, r.id, r.version, r.last_updated, r.body FROM resources r WHERE r.type = ")
		b.arg(t)
		b.w(" AND r.id IN (")
		b.paddedList(ids[t])
		b.w(") AND r.deleted = 0")
	}
	found, err := db.queryRecords(ctx, b, nil)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(found, func(a, b match) int { return cmp.Compare(a.rid, b.rid) })
	return found, nil
}

// maxIncludeDepth bounds :iterate so a reference cycle cannot loop forever.
const maxIncludeDepth = 4

// includes resolves _include and _revinclude over the page's matches (and, with :iterate,
// over what they include), never returning a match twice.
func (db *DB) includes(ctx context.Context, q *search.Query, matches []match) ([]*store.Record, error) {
	reg := definitions.R4()
	seen := map[int64]bool{}
	seenIDs := map[string]bool{} // "type/id"
	for _, m := range matches {
		seen[m.rid] = true
		seenIDs[m.rec.Type+"/"+m.rec.ID] = true
	}
	var out []*store.Record
	add := func(m match) {
		seen[m.rid] = true
		seenIDs[m.rec.Type+"/"+m.rec.ID] = true
		out = append(out, m.rec)
	}
	frontier := matches
	for depth := 0; depth < maxIncludeDepth && len(frontier) > 0; depth++ {
		var next []match
		for _, inc := range q.Includes {
			if depth > 0 && !inc.Iterate {
				continue
			}
			// SourceType "*" (forward only) follows every reference of every match, as
			// $everything does.
			all := inc.SourceType == "*" && !inc.Reverse
			var pids []any
			for _, p := range includeParams(reg, inc) {
				pids = append(pids, search.ParamID(inc.SourceType, p))
			}
			if len(pids) == 0 && !all {
				continue
			}
			b := &builder{d: db.d, reg: reg}
			if !inc.Reverse {
				var rids []any
				for _, m := range frontier {
					if all || m.rec.Type == inc.SourceType {
						rids = append(rids, m.rid)
					}
				}
				if len(rids) == 0 {
					continue
				}
				// The targets named, from the covering (rid, …) index; most of them (the
				// patient, the encounter) are usually in the result already and are not read.
				b.w("SELECT DISTINCT x.target_type, x.target_id FROM idx_reference x WHERE x.rid IN (")
				b.paddedList(rids)
				b.w(") AND x.target_id <> ''")
				if !all {
					b.w(" AND x.pid IN (")
					b.list(pids)
					b.w(")")
				}
				if inc.TargetType != "" {
					b.w(" AND x.target_type = ")
					b.arg(inc.TargetType)
				}
				targets, err := db.queryTargets(ctx, b, seenIDs)
				if err != nil {
					return nil, err
				}
				found, err := db.fetchByID(ctx, targets)
				if err != nil {
					return nil, err
				}
				for _, m := range found {
					if !seen[m.rid] {
						add(m)
						next = append(next, m)
					}
				}
				continue
			}
			// Reverse: the rids of the live sources pointing at the frontier (index rows
			// exist only for live resources, and the parameter ids name the source type).
			var ids []any
			var types = map[string]bool{}
			for _, m := range frontier {
				if inc.TargetType == "" || inc.TargetType == m.rec.Type {
					ids = append(ids, m.rec.ID)
					types[m.rec.Type] = true
				}
			}
			if len(ids) == 0 {
				continue
			}
			b.w("SELECT DISTINCT x.rid FROM idx_reference x WHERE x.target_id IN (")
			b.paddedList(ids)
			b.w(") AND x.pid IN (")
			b.list(pids)
			b.w(") AND x.target_type IN (")
			tl := slices.Sorted(maps.Keys(types))
			b.list(anyStrings(tl))
			b.w(")")
			// The targets' rids first, then the bodies of those not already in the result.
			rids, err := db.queryRIDs(ctx, b)
			if err != nil {
				return nil, err
			}
			rids = slices.DeleteFunc(rids, func(rid int64) bool { return seen[rid] })
			slices.Sort(rids)
			found, err := db.fetch(ctx, rids)
			if err != nil {
				return nil, err
			}
			for _, m := range found {
				add(m)
				next = append(next, m)
			}
		}
		frontier = next
	}
	return out, nil
}

// paddedList writes vs as an IN list whose length is rounded up to a power of two by
// repeating the last value: the same set, and one statement text (prepared once) for every
// list length up to the next power of two.
func (b *builder) paddedList(vs []any) {
	n := 1
	for n < len(vs) {
		n *= 2
	}
	for len(vs) > 0 && len(vs) < n {
		vs = append(vs, vs[len(vs)-1])
	}
	b.list(vs)
}

func (b *builder) list(vs []any) {
	for i, v := range vs {
		if i > 0 {
			b.w(", ")
		}
		b.arg(v)
	}
}

// includeParams lists the reference parameters an include names ("*" = all of them).
func includeParams(reg *definitions.Registry, inc search.Include) []string {
	if inc.Param != "*" {
		return []string{inc.Param}
	}
	var out []string
	for code, p := range reg.SearchParams(inc.SourceType) {
		if p.Type == "reference" {
			out = append(out, code)
		}
	}
	return out
}
