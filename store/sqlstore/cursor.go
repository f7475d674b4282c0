package sqlstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/concord-health/concord/store"
)

// Sorted searches page by keyset, like unsorted ones: a cursor holds the sort-key values and
// the rid of the row a page ends on ('s', the next page starts after it) or begins with ('r',
// the previous page ends before it). A page therefore costs the same however deep it is, and
// rows written between two page reads neither repeat nor go missing from the pages after.
//
// The values are the output columns of sortColumns, in order (n<i> where a key has one, then
// s<i>), then the rid, as a JSON array in base64url. A null s<i> (no value) is JSON null.

// cursorColumns is the number of output columns a cursor holds, rid included.
func cursorColumns(keys []*sortKey) int {
	n := 1
	for _, k := range keys {
		if k.null != "" {
			n++
		}
		n++
	}
	return n
}

// rowCursor reads the cursor values of a result row whose sort columns start at col.
func rowCursor(keys []*sortKey, r Row, col int) []any {
	vals := make([]any, 0, cursorColumns(keys))
	for _, k := range keys {
		null := false
		if k.null != "" {
			null = r.Int64(col) != 0
			vals = append(vals, r.Int64(col))
			col++
		}
		switch {
		case null:
			vals = append(vals, nil)
		case k.kind == "int":
			vals = append(vals, r.Int64(col))
		case k.kind == "float":
			vals = append(vals, r.Float64(col))
		default:
			vals = append(vals, r.Text(col))
		}
		col++
	}
	return append(vals, r.Int64(col))
}

func encodeCursor(prefix byte, vals []any) string {
	raw, _ := json.Marshal(vals)
	return string(prefix) + base64.RawURLEncoding.EncodeToString(raw)
}

// decodeCursor turns the body of a sorted cursor back into typed values for keys, refusing
// anything the store did not make.
func decodeCursor(keys []*sortKey, s string) ([]any, error) {
	bad := fmt.Errorf("%w: not a cursor of this search", store.ErrBadCursor)
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil || len(items) != cursorColumns(keys) {
		return nil, bad
	}
	integer := func(m json.RawMessage) (int64, bool) {
		n, err := strconv.ParseInt(string(m), 10, 64)
		return n, err == nil
	}
	vals := make([]any, 0, len(items))
	i := 0
	for _, k := range keys {
		null := false
		if k.null != "" {
			n, ok := integer(items[i])
			if !ok || n < 0 || n > 1 {
				return nil, bad
			}
			null = n == 1
			vals = append(vals, n)
			i++
		}
		m := items[i]
		i++
		switch {
		case null:
			if !bytes.Equal(m, []byte("null")) {
				return nil, bad
			}
			vals = append(vals, nil)
		case k.kind == "int":
			n, ok := integer(m)
			if !ok {
				return nil, bad
			}
			vals = append(vals, n)
		case k.kind == "float":
			f, err := strconv.ParseFloat(string(m), 64)
			if err != nil {
				return nil, bad
			}
			vals = append(vals, f)
		default:
			var t string
			if json.Unmarshal(m, &t) != nil {
				return nil, bad
			}
			vals = append(vals, t)
		}
	}
	rid, ok := integer(items[i])
	if !ok {
		return nil, bad
	}
	return append(vals, rid), nil
}

// keysetCond writes the condition "the row of output columns (through prefix) comes after
// vals in the sort order" — or before it, when reversed — as the lexicographic comparison
// over every key and the rid.
func (b *builder) keysetCond(keys []*sortKey, vals []any, prefix string, reversed bool) {
	type column struct {
		name string
		desc bool
		val  any
		skip bool // a key's value column when the bound row has none: equal by its n<i>
	}
	var cols []column
	i := 0
	for j, k := range keys {
		n := strconv.Itoa(j)
		null := false
		if k.null != "" {
			cols = append(cols, column{name: prefix + "n" + n, val: vals[i]})
			null = vals[i].(int64) == 1
			i++
		}
		cols = append(cols, column{name: prefix + "s" + n, desc: k.desc, val: vals[i], skip: null})
		i++
	}
	cols = append(cols, column{name: prefix + "rid", val: vals[i]})
	b.w("(")
	first := true
	for j, c := range cols {
		if c.skip {
			continue // nothing lies after a missing value within the same n<i>
		}
		if !first {
			b.w(" OR ")
		}
		first = false
		b.w("(")
		for _, e := range cols[:j] {
			if e.skip {
				continue
			}
			b.w(e.name, " = ")
			b.arg(e.val)
			b.w(" AND ")
		}
		op := " > "
		if c.desc != reversed {
			op = " < "
		}
		b.w(c.name, op)
		b.arg(c.val)
		b.w(")")
	}
	b.w(")")
}

// pageRows reads a sorted page (query columns after the record's six: the sort columns, then
// the rid) and keeps the cursor values of the rows its links need: the first row read and
// the page's last (row count-1), whichever way the page was read.
func (db *DB) pageRows(ctx context.Context, b *builder, keys []*sortKey, count int) (matches []match, firstRow, pageEnd []any, err error) {
	row := 0
	matches, err = db.queryRecords(ctx, b, func(r Row) {
		if row == 0 {
			firstRow = rowCursor(keys, r, 6)
		}
		if row == count-1 {
			pageEnd = rowCursor(keys, r, 6)
		}
		row++
	})
	return matches, firstRow, pageEnd, err
}
