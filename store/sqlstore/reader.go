package sqlstore

import (
	"context"
	"fmt"
	"strconv"
)

// Reader runs the read statements of searches and reads ("?" placeholders, as the dialect
// rebinds them). The default goes through database/sql; a backend may supply one that
// reaches its engine directly (SQLite's costs a third less per row than database/sql and
// its driver, which convert and copy every value).
type Reader interface {
	// Query runs query and calls row for each result row, in order.
	Query(ctx context.Context, query string, args []any, row func(Row) error) error
	Close() error
}

// Row is the current result row of a Reader query. Values are valid only during the
// callback that received the Row.
type Row interface {
	Int64(col int) int64
	Float64(col int) float64
	// Text returns the column as a string the caller may keep.
	Text(col int) string
	// Len is the length in bytes of a text or blob column.
	Len(col int) int
	// AppendBytes appends the column's bytes to dst.
	AppendBytes(col int, dst []byte) []byte
}

// sqlReader is the database/sql Reader.
type sqlReader struct{ q querier }

func (r sqlReader) Close() error { return nil }

func (r sqlReader) Query(ctx context.Context, query string, args []any, row func(Row) error) error {
	rows, err := r.q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	vals := make(sqlRow, len(cols))
	dest := make([]any, len(cols))
	for i := range vals {
		dest[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if err := row(vals); err != nil {
			return err
		}
	}
	return rows.Err()
}

// sqlRow holds one row as the driver returned it.
type sqlRow []any

func (r sqlRow) Int64(col int) int64 {
	switch v := r[col].(type) {
	case int64:
		return v
	case int32:
		return int64(v)
	case int16:
		return int64(v)
	case bool:
		if v {
			return 1
		}
		return 0
	case float64:
		return int64(v)
	case []byte:
		n, _ := strconv.ParseInt(string(v), 10, 64)
		return n
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	return 0
}

func (r sqlRow) Float64(col int) float64 {
	switch v := r[col].(type) {
	case float64:
		return v
	case float32:
		return float64(v)
	case int64:
		return float64(v)
	case []byte:
		f, _ := strconv.ParseFloat(string(v), 64)
		return f
	case string:
		f, _ := strconv.ParseFloat(v, 64)
		return f
	}
	return 0
}

func (r sqlRow) Text(col int) string {
	switch v := r[col].(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case nil:
		return ""
	}
	return fmt.Sprint(r[col])
}

func (r sqlRow) Len(col int) int {
	switch v := r[col].(type) {
	case []byte:
		return len(v)
	case string:
		return len(v)
	}
	return 0
}

func (r sqlRow) AppendBytes(col int, dst []byte) []byte {
	switch v := r[col].(type) {
	case []byte:
		return append(dst, v...)
	case string:
		return append(dst, v...)
	}
	return dst
}
