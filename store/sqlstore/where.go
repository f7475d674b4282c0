package sqlstore

import (
	"fmt"

	"github.com/concord-health/concord/search"
)

// filter writes the SQL condition for one search filter over the resources row alias r.
func (b *builder) filter(f *search.Filter, r string) error {
	if f.Param == nil {
		return fmt.Errorf("filter without parameter")
	}
	pid := search.ParamID(f.ResourceType, f.Param.Code)
	switch {
	case f.Param.Code == "_id":
		b.w(r, ".id IN (")
		for i, v := range f.Values {
			if i > 0 {
				b.w(", ")
			}
			b.arg(v.Code)
		}
		b.w(")")
		return nil
	case f.Param.Type == "token":
		b.w("(")
		for i, v := range f.Values {
			if i > 0 {
				b.w(" OR ")
			}
			b.w(r, ".rid IN (SELECT rid FROM idx_token WHERE pid = ")
			b.arg(pid)
			b.w(" AND code = ")
			b.arg(v.Code)
			if v.HasSystem {
				b.w(" AND system = ")
				b.arg(v.System)
			}
			b.w(")")
		}
		b.w(")")
		return nil
	case f.Param.Type == "reference":
		b.w("(")
		for i, v := range f.Values {
			if i > 0 {
				b.w(" OR ")
			}
			b.w(r, ".rid IN (SELECT rid FROM idx_reference WHERE target_id = ")
			b.arg(v.RefID)
			b.w(" AND pid = ")
			b.arg(pid)
			if v.RefType != "" {
				b.w(" AND target_type = ")
				b.arg(v.RefType)
			}
			b.w(")")
		}
		b.w(")")
		return nil
	}
	return fmt.Errorf("search parameter type %s not supported", f.Param.Type)
}

// sortKey writes the ORDER BY expression for one sort key.
func (b *builder) sortKey(q *search.Query, s search.Sort, r string) error {
	pid := search.ParamID(q.Type, s.Param.Code)
	dir := " ASC"
	if s.Desc {
		dir = " DESC"
	}
	switch s.Param.Type {
	case "date":
		if s.Desc {
			b.w("(SELECT MAX(hi) FROM idx_date x WHERE x.rid = ", r, ".rid AND x.pid = ")
		} else {
			b.w("(SELECT MIN(lo) FROM idx_date x WHERE x.rid = ", r, ".rid AND x.pid = ")
		}
	case "string":
		b.w("(SELECT MIN(norm) FROM idx_string x WHERE x.rid = ", r, ".rid AND x.pid = ")
	case "token":
		b.w("(SELECT MIN(code) FROM idx_token x WHERE x.rid = ", r, ".rid AND x.pid = ")
	default:
		return fmt.Errorf("cannot sort by %s parameter %s", s.Param.Type, s.Param.Code)
	}
	b.arg(pid)
	b.w(")", dir)
	return nil
}
