package sqlstore

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/search"
)

// Every condition reads an index table through an index: (pid, value) when it selects the
// rows a search starts from, (rid, pid) when it tests a candidate, so the database never
// walks every resource of the type when a filter can say where to start. Several values of
// one parameter are a UNION ALL of selects, which both SQLite and PostgreSQL plan as separate
// index lookups (an OR inside one select they may not).
//
// String prefixes are byte ranges (norm >= p AND norm < successor(p)) rather than LIKE, which
// SQLite cannot run on an index when the pattern is a parameter. The ranges assume a binary
// (code point) collation of the text columns: SQLite's default, and "C" on PostgreSQL.

// mode is how a filter's condition is written: as the set of rows the search starts from
// (drive: rid IN (SELECT rid FROM idx_… WHERE pid = ? AND value …), one index range scan), or
// as a test of one candidate found otherwise (check: EXISTS (… WHERE rid = r.rid …), a probe
// of the (rid, pid) index). SQLite materializes every IN list in full before it probes it, so
// two drive conditions cost as much as the larger of their lists even when the other holds
// one row: a search should drive from its most selective filter and check the rest.
type mode int

const (
	drive mode = iota
	check
	// source writes the driving condition as a select of rids ("SELECT rid FROM …"), to stand
	// in a FROM clause in place of the resources table (see sourceDriver).
	source
)

// filters writes " AND <condition>" for every filter of q: the one most likely to select the
// fewest rows drives and the others check, and none drives when the compartment (written by
// scope as an IN on compartment) already does; the filter a FROM clause selects by is left out.
func (b *builder) filters(q *search.Query, r string) error {
	driver := pickDriver(q)
	for i, f := range q.Filters {
		if f == b.sourced {
			continue // the FROM clause selects by it
		}
		b.and()
		m := check
		if i == driver {
			m = drive
		}
		if err := b.cond(f, r, nil, m); err != nil {
			return err
		}
	}
	return nil
}

// pickDriver returns the index of the filter that drives q, or -1 when none does (no filter
// can, or the compartment does).
func pickDriver(q *search.Query) int {
	driver, best := -1, never
	if q.Compartment == nil {
		for i, f := range q.Filters {
			if k := rank(f); k < best {
				driver, best = i, k
			}
		}
	}
	return driver
}

// drivenByRID reports whether q's driving condition names the rids to read (r.rid IN …), as
// every driver does except _id and _has, which name ids.
func drivenByRID(q *search.Query) bool {
	if q.Compartment != nil {
		return true
	}
	i := pickDriver(q)
	if i < 0 {
		return false
	}
	f := q.Filters[i]
	return f.Has == nil && f.Param != nil && f.Param.Code != "_id"
}

// sourceDriver returns the filter that can replace the resources table as the FROM source of
// a search (its rids, as index rows select them), or -1. That holds when the driver is a
// plain index condition, which implies the live/type tests, and every other condition needs
// only the candidate's rid: the search then reads no resources rows at all until the page's
// bodies, and where the driver's index lists rids in order no sort is needed to group them.
func sourceDriver(q *search.Query) int {
	if q.Compartment != nil {
		return -1
	}
	d := pickDriver(q)
	if d < 0 {
		return -1
	}
	f := q.Filters[d]
	if f.Has != nil || f.Chain != nil || f.Param == nil || f.Param.Code == "_id" || f.Modifier == "missing" {
		return -1
	}
	for i, g := range q.Filters {
		if i != d && (g.Has != nil || g.Param == nil || g.Param.Code == "_id" || g.Param.Code == "_lastUpdated") {
			return -1
		}
	}
	return d
}

// never is the rank of filters that cannot drive: negations, :missing and conditions on the
// resources row itself.
const never = 100

// rank orders filters by how few rows they typically select, from what the parameter and
// modifier say (identifiers and references name few resources; a status or a date range
// names many).
func rank(f *search.Filter) int {
	switch {
	case f.Has != nil:
		if f.Has.Filter == nil {
			return never
		}
		return min(never, rank(f.Has.Filter)+1)
	case f.Param == nil:
		return never
	case f.Chain != nil:
		return rank(f.Chain)
	case f.Modifier == "missing" || f.Modifier == "not" || f.Modifier == "not-in":
		return never
	case f.Param.Code == "_id":
		return 0
	case f.Param.Code == "_lastUpdated":
		return never
	}
	switch f.Param.Type {
	case "reference":
		return 1
	case "token":
		switch {
		case f.Modifier == "text":
			return 5
		case f.NeedsCodes():
			n := 0
			for _, v := range f.Values {
				for _, codes := range v.Codes {
					n += len(codes)
				}
			}
			if n > maxInlineCodes {
				return 5
			}
			return 3
		case strings.Contains(f.Param.Code, "identifier"):
			return 1
		}
		return 3
	case "string":
		switch f.Modifier {
		case "exact":
			return 1
		case "contains":
			return 6
		}
		return 2
	case "uri":
		if f.Modifier == "" {
			return 1
		}
		return 5
	case "composite":
		return 3
	}
	return 4
}

// cond writes f's condition on alias r in mode m. types are the resource types r may be when
// f.ResourceType is "" (a system search, or a chain whose reference has several target
// types); nil means every type.
func (b *builder) cond(f *search.Filter, r string, types []string, m mode) error {
	if f.Has != nil {
		return b.has(f, r, m)
	}
	if f.Param == nil {
		return fmt.Errorf("filter without parameter")
	}
	types = b.typesOf(f, types)
	if f.Chain != nil {
		return b.chain(f, r, types, m)
	}
	switch f.Param.Code {
	case "_id":
		b.w(r, ".id ")
		if f.Modifier == "not" {
			b.w("NOT ")
		}
		b.w("IN (")
		for i, v := range f.Values {
			if i > 0 {
				b.w(", ")
			}
			b.arg(v.Code)
		}
		b.w(")")
		return nil
	case "_lastUpdated":
		b.w("(")
		for i, v := range f.Values {
			if i > 0 {
				b.w(" OR ")
			}
			b.w("(")
			b.dateCond(r+".last_updated", r+".last_updated", v)
			b.w(")")
		}
		b.w(")")
		return nil
	}
	pids := b.pids(types, f.Param.Code, search.ParamID)
	if f.Modifier == "missing" {
		return b.missing(f, r, pids)
	}
	if len(f.Values) == 0 {
		return fmt.Errorf("search parameter %s without a value", f.Param.Code)
	}
	not := false
	var brs []branch
	add := func(table string, conds func() error) { brs = append(brs, branch{table, conds}) }
	for _, v := range f.Values {
		switch f.Param.Type {
		case "string":
			add("idx_string", func() error { b.stringConds(pids, f.Modifier, v.Raw); return nil })
		case "token":
			switch f.Modifier {
			case "text":
				tp := b.pids(types, f.Param.Code, search.TextParamID)
				add("idx_string", func() error { b.stringConds(tp, "", v.Raw); return nil })
			default:
				if f.NeedsCodes() && v.Codes == nil {
					return fmt.Errorf("search parameter %s:%s has not been resolved through the terminology", f.Param.Code, f.Modifier)
				}
				not = f.Modifier == "not" || f.Modifier == "not-in"
				add("idx_token", func() error { b.tokenConds(pids, v); return nil })
			}
		case "reference":
			if f.Modifier == "identifier" {
				ip := b.pids(types, f.Param.Code, search.IdentifierParamID)
				add("idx_token", func() error { b.tokenConds(ip, v); return nil })
				break
			}
			if v.RefID != "" || v.URL == "" {
				add("idx_reference", func() error { b.referenceConds(pids, v); return nil })
			}
			if v.URL != "" {
				// The store does not know its own base URL, so an absolute reference matches
				// both the literal reference it names and references written as that URL.
				add("idx_reference", func() error { b.urlConds(pids, v); return nil })
			}
		case "date":
			add("idx_date", func() error {
				b.pidCond("pid", pids)
				b.w(" AND ")
				b.dateCond("lo", "hi", v)
				return nil
			})
		case "number", "quantity":
			table := "idx_number"
			if f.Param.Type == "quantity" {
				table = "idx_quantity"
			}
			add(table, func() error {
				b.pidCond("pid", pids)
				b.w(" AND ")
				b.numberCond("value", "lo", "hi", v)
				if table == "idx_quantity" {
					b.unitCond("system", "code", "unit", v)
				}
				return nil
			})
		case "uri":
			add("idx_uri", func() error { b.uriConds(pids, f.Modifier, v.Raw); return nil })
		case "composite":
			add("idx_composite", func() error { return b.compositeConds(f, types, pids, v) })
		default:
			return fmt.Errorf("search parameter type %s not supported", f.Param.Type)
		}
	}
	if (m == drive || m == source) && !not {
		if m == drive {
			b.w(r, ".rid IN (")
		}
		for i, br := range brs {
			if i > 0 {
				b.w(" UNION ALL ")
			}
			b.w("SELECT rid FROM ", br.table, " WHERE ")
			if err := br.conds(); err != nil {
				return err
			}
		}
		if m == drive {
			b.w(")")
		}
		return nil
	}
	if not {
		b.w("NOT ")
	}
	b.w("(")
	for i, br := range brs {
		if i > 0 {
			b.w(" OR ")
		}
		x := b.alias("c")
		b.w("EXISTS (SELECT 1 FROM ", br.table, " ", x, " WHERE ", x, ".rid = ", r, ".rid AND ")
		if err := br.conds(); err != nil {
			return err
		}
		b.w(")")
	}
	b.w(")")
	return nil
}

// branch is one index-table test of a filter: its table and the conditions on that table's
// columns, written unqualified so that they serve in either form.
type branch struct {
	table string
	conds func() error
}

// typesOf narrows the candidate types to those f's parameter applies to.
func (b *builder) typesOf(f *search.Filter, types []string) []string {
	if f.ResourceType != "" {
		return []string{f.ResourceType}
	}
	if types == nil {
		types = b.reg.ResourceTypes()
	}
	var out []string
	for _, t := range types {
		if b.reg.SearchParam(t, f.Param.Code) != nil {
			out = append(out, t)
		}
	}
	return out
}

// pids lists the parameter ids of code on each type (index rows carry the type's own id).
func (b *builder) pids(types []string, code string, id func(string, string) int64) []any {
	out := make([]any, 0, len(types))
	for _, t := range types {
		out = append(out, id(t, code))
	}
	return out
}

func (b *builder) pidCond(col string, pids []any) {
	if len(pids) == 1 {
		b.w(col, " = ")
		b.arg(pids[0])
		return
	}
	if len(pids) == 0 {
		b.w("1 = 0")
		return
	}
	b.w(col, " IN (")
	b.list(pids)
	b.w(")")
}

// missing: the reverse tests run per candidate on the (rid, pid) index, since a table's
// rows for one parameter may be most of the table.
func (b *builder) missing(f *search.Filter, r string, pids []any) error {
	table := map[string]string{"string": "idx_string", "token": "idx_token", "reference": "idx_reference",
		"date": "idx_date", "number": "idx_number", "quantity": "idx_quantity", "uri": "idx_uri",
		"composite": "idx_composite"}[f.Param.Type]
	if table == "" {
		return fmt.Errorf("search parameter type %s not supported", f.Param.Type)
	}
	if len(f.Values) == 0 {
		return fmt.Errorf(":missing without a value")
	}
	x := b.alias("m")
	if f.Values[0].Missing {
		b.w("NOT ")
	}
	b.w("EXISTS (SELECT 1 FROM ", table, " ", x, " WHERE ", x, ".rid = ", r, ".rid AND ")
	b.pidCond(x+".pid", pids)
	b.w(")")
	return nil
}

// prefixRange writes col's starts-with test on a normalized value.
func (b *builder) prefixRange(col, p string) {
	if p == "" {
		b.w("1 = 1")
		return
	}
	b.w(col, " >= ")
	b.arg(p)
	if s, ok := successor(p); ok {
		b.w(" AND ", col, " < ")
		b.arg(s)
	}
}

// successor returns the least string greater than every string that starts with p, in code
// point order; ok is false when there is none (p is all U+10FFFF).
func successor(p string) (string, bool) {
	rs := []rune(p)
	for i := len(rs) - 1; i >= 0; i-- {
		r := rs[i] + 1
		if r >= 0xD800 && r <= 0xDFFF {
			r = 0xE000 // surrogates cannot be encoded
		}
		if r <= utf8.MaxRune {
			rs[i] = r
			return string(rs[:i+1]), true
		}
	}
	return "", false
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func (b *builder) stringConds(pids []any, mod, raw string) {
	norm := search.NormalizeString(raw)
	b.pidCond("pid", pids)
	b.w(" AND ")
	switch mod {
	case "exact":
		// Equal values have equal normal forms, so the norm test puts the index to work.
		b.w("norm = ")
		b.arg(norm)
		b.w(" AND exact = ")
		b.arg(raw)
	case "contains":
		b.w(`norm LIKE `)
		b.arg("%" + likeEscape(norm) + "%")
		b.w(` ESCAPE '\'`)
	default:
		b.prefixRange("norm", norm)
	}
}

func (b *builder) tokenConds(pids []any, v search.Value) {
	b.pidCond("pid", pids)
	if v.Codes != nil {
		b.codeSetConds(v.Codes)
		return
	}
	if v.Code != "" {
		b.w(" AND code = ")
		b.arg(v.Code)
	}
	if v.HasSystem {
		b.w(" AND system = ")
		b.arg(v.System)
	}
}

// codeSetConds matches the codes a terminology modifier resolved to, system by system.
func (b *builder) codeSetConds(codes map[string][]string) {
	systems := slices.Sorted(maps.Keys(codes)) // the same text for the same query
	b.w(" AND (")
	n := 0
	for _, system := range systems {
		list := codes[system]
		if len(list) == 0 {
			continue
		}
		if n > 0 {
			b.w(" OR ")
		}
		n++
		b.w("(system = ")
		b.arg(system)
		b.w(" AND code IN (")
		if len(list) <= maxInlineCodes || b.d.ListOpen == "" {
			for i, c := range list {
				if i > 0 {
					b.w(", ")
				}
				b.arg(c)
			}
		} else {
			js, _ := json.Marshal(list)
			b.w(b.d.ListOpen)
			b.arg(string(js))
			b.w(b.d.ListClose)
		}
		b.w("))")
	}
	if n == 0 {
		b.w("1 = 0")
	}
	b.w(")")
}

// maxInlineCodes is the longest code list written as one placeholder per code; longer ones
// go as one JSON array parameter, which keeps statements short and their text stable.
const maxInlineCodes = 64

func (b *builder) referenceConds(pids []any, v search.Value) {
	if v.RefID == "" {
		b.w("1 = 0")
		return
	}
	b.w("target_id = ")
	b.arg(v.RefID)
	b.w(" AND ")
	b.pidCond("pid", pids)
	if v.RefType != "" {
		b.w(" AND target_type = ")
		b.arg(v.RefType)
	}
}

func (b *builder) urlConds(pids []any, v search.Value) {
	b.w("url <> '' AND url = ") // the url index holds only non-empty urls
	b.arg(v.URL)
	b.w(" AND ")
	b.pidCond("pid", pids)
	if v.Code != "" {
		b.w(" AND version = ")
		b.arg(v.Code)
	}
}

func (b *builder) uriConds(pids []any, mod, u string) {
	b.pidCond("pid", pids)
	switch mod {
	case "above":
		// Every ancestor of u is one of its prefixes ending before a '/', so the test is an
		// IN list on the (pid, uri) index.
		var ps []any
		for i := len(u); i > 0; i = strings.LastIndexByte(u[:i], '/') {
			if p := u[:i]; !strings.HasSuffix(p, ":/") && !strings.HasSuffix(p, ":") {
				ps = append(ps, p)
			}
		}
		b.w(" AND uri IN (")
		b.list(ps)
		b.w(")")
	case "below":
		base := strings.TrimSuffix(u, "/")
		b.w(" AND (uri = ")
		b.arg(base)
		b.w(" OR (uri >= ")
		b.arg(base + "/")
		b.w(" AND uri < ")
		b.arg(base + "0") // '0' follows '/'
		b.w("))")
	default:
		b.w(" AND uri = ")
		b.arg(u)
	}
}

// dateCond compares a row's [lo, hi] (inclusive microseconds) with the value's range, as the
// specification's prefix table defines. Conditions on lo come first and are bounded where
// the semantics allow, so the (pid, lo) index narrows the scan.
func (b *builder) dateCond(lo, hi string, v search.Value) {
	vlo, vhi := v.DateLo, v.DateHi
	switch v.Prefix {
	case "", "eq":
		b.w(lo, " >= ")
		b.arg(vlo)
		b.w(" AND ", lo, " <= ")
		b.arg(vhi)
		b.w(" AND ", hi, " <= ")
		b.arg(vhi)
	case "ne":
		b.w("(", lo, " < ")
		b.arg(vlo)
		b.w(" OR ", hi, " > ")
		b.arg(vhi)
		b.w(")")
	case "gt":
		b.w(hi, " > ")
		b.arg(vhi)
	case "lt":
		b.w(lo, " < ")
		b.arg(vlo)
	case "ge":
		// Above the value, or within it: since lo <= hi, hi > vhi OR lo >= vlo.
		b.w("(", hi, " > ")
		b.arg(vhi)
		b.w(" OR ", lo, " >= ")
		b.arg(vlo)
		b.w(")")
	case "le":
		// Below the value, or within it: lo < vlo OR hi <= vhi.
		b.w("(", lo, " < ")
		b.arg(vlo)
		b.w(" OR ", hi, " <= ")
		b.arg(vhi)
		b.w(")")
	case "sa":
		b.w(lo, " > ")
		b.arg(vhi)
	case "eb":
		b.w(lo, " < ")
		b.arg(vlo)
		b.w(" AND ", hi, " < ")
		b.arg(vlo)
	case "ap":
		// The specification suggests 10% of the gap between now and the date.
		now := time.Now().UnixMicro()
		mid := vlo/2 + vhi/2
		gap := now - mid
		if gap < 0 {
			gap = -gap
		}
		gap /= 10
		b.w(lo, " <= ")
		b.arg(search.SaturatingAdd(vhi, gap))
		b.w(" AND ", hi, " >= ")
		b.arg(search.SaturatingAdd(vlo, -gap))
	default:
		b.w("1 = 0")
	}
}

// numberCond compares a row's value (and its precision range lo..hi) with a search number.
// eq is "the row's value lies in the search value's precision range" [vlo, vhi); gt and lt
// compare with the number itself, so ge = gt ∪ eq and le = lt ∪ eq.
func (b *builder) numberCond(value, lo, hi string, v search.Value) {
	switch v.Prefix {
	case "", "eq":
		b.w(value, " >= ")
		b.arg(v.NumLo)
		b.w(" AND ", value, " < ")
		b.arg(v.NumHi)
	case "ne":
		b.w("(", value, " < ")
		b.arg(v.NumLo)
		b.w(" OR ", value, " >= ")
		b.arg(v.NumHi)
		b.w(")")
	case "gt":
		b.w(value, " > ")
		b.arg(v.Number)
	case "lt":
		b.w(value, " < ")
		b.arg(v.Number)
	case "ge":
		b.w(value, " >= ")
		b.arg(v.NumLo)
	case "le":
		b.w(value, " < ")
		b.arg(v.NumHi)
	case "sa":
		b.w(lo, " >= ")
		b.arg(v.NumHi)
	case "eb":
		b.w(hi, " <= ")
		b.arg(v.NumLo)
	case "ap":
		d := math.Abs(v.Number) / 10
		b.w(value, " >= ")
		b.arg(min(v.NumLo, v.Number-d))
		b.w(" AND ", value, " <= ")
		b.arg(max(v.NumHi, v.Number+d))
	default:
		b.w("1 = 0")
	}
}

// unitCond restricts a quantity to the value's unit: system and code when a system is given,
// else the code or the human unit text.
func (b *builder) unitCond(system, code, unit string, v search.Value) {
	switch {
	case v.System != "":
		b.w(" AND ", system, " = ")
		b.arg(v.System)
		b.w(" AND ", code, " = ")
		b.arg(v.Code)
	case v.Code != "":
		b.w(" AND (", code, " = ")
		b.arg(v.Code)
		if unit != "" {
			b.w(" OR ", unit, " = ")
			b.arg(v.Code)
		}
		b.w(")")
	}
}

// compositeConds matches all the value's components in the same idx_composite row.
func (b *builder) compositeConds(f *search.Filter, types []string, pids []any, v search.Value) error {
	b.pidCond("pid", pids)
	if len(v.Parts) > 3 {
		return fmt.Errorf("composite %s has more than 3 components", f.Param.Code)
	}
	for i, part := range v.Parts {
		var cp *definitions.SearchParam
		for _, t := range types {
			if cp = search.ComponentParam(b.reg, t, f.Param, i); cp != nil {
				break
			}
		}
		if cp == nil {
			return fmt.Errorf("composite %s: component %d is not defined", f.Param.Code, i+1)
		}
		n := string(rune('1' + i))
		s, c, lo, hi := "s"+n, "c"+n, "lo"+n, "hi"+n
		b.w(" AND ")
		switch cp.Type {
		case "token":
			b.w("1 = 1")
			if part.Code != "" {
				b.w(" AND ", c, " = ")
				b.arg(part.Code)
			}
			if part.HasSystem {
				b.w(" AND ", s, " = ")
				b.arg(part.System)
			}
		case "string":
			b.prefixRange(c, search.NormalizeString(part.Raw))
		case "uri":
			b.w(c, " = ")
			b.arg(part.Raw)
		case "reference":
			switch {
			case part.RefType != "":
				b.w(c, " = ")
				b.arg(part.RefType + "/" + part.RefID)
			case part.RefID != "":
				b.w(c, " LIKE ")
				b.arg("%/" + likeEscape(part.RefID))
				b.w(` ESCAPE '\'`)
			default:
				b.w(c, " = ")
				b.arg(part.URL)
			}
		case "date":
			// Composite bounds are stored as floats, exact for microsecond instants
			// within a few centuries of 1970.
			b.dateCond(lo, hi, part)
		case "number", "quantity":
			b.numberCond("(("+lo+" + "+hi+") / 2)", lo, hi, part)
			if cp.Type == "quantity" {
				b.unitCond(s, c, "", part)
			}
		default:
			return fmt.Errorf("composite %s: %s components are not supported", f.Param.Code, cp.Type)
		}
	}
	return nil
}

// chain matches resources whose reference parameter points at a live resource matching the
// chained filter.
func (b *builder) chain(f *search.Filter, r string, types []string, m mode) error {
	next := f.Chain.Param
	code := ""
	switch {
	case f.Chain.Has != nil:
		return fmt.Errorf("_has cannot follow a chain")
	case next != nil:
		code = next.Code
	}
	targets := search.ChainTargets(b.reg, types, f.Param.Code, f.Modifier, code)
	if f.Chain.ResourceType != "" {
		targets = []string{f.Chain.ResourceType}
	}
	if len(targets) == 0 {
		b.w("1 = 0")
		return nil
	}
	x, t := b.alias("x"), b.alias("t")
	from := "FROM idx_reference " + x + " JOIN resources " + t + " ON " + t + ".type = " + x + ".target_type AND " + t + ".id = " + x + ".target_id WHERE "
	if m == drive {
		b.w(r, ".rid IN (SELECT ", x, ".rid ", from)
	} else {
		b.w("EXISTS (SELECT 1 ", from, x, ".rid = ", r, ".rid AND ")
	}
	b.pidCond(x+".pid", b.pids(types, f.Param.Code, search.ParamID))
	b.w(" AND ", t, ".deleted = 0 AND ")
	b.pidCond(t+".type", anyStrings(targets))
	b.w(" AND ")
	if err := b.cond(f.Chain, t, targets, m); err != nil {
		return err
	}
	b.w(")")
	return nil
}

// has matches resources that a live resource of Has.Type points at through Has.Param and
// that matches Has.Filter. The reference's target type must be the candidate's own, or a
// Patient would match an Observation about a Group with the same id.
func (b *builder) has(f *search.Filter, r string, m mode) error {
	h := f.Has
	if h.Param == nil || h.Filter == nil {
		return fmt.Errorf("_has without parameter or filter")
	}
	x, s := b.alias("x"), b.alias("h")
	from := "FROM idx_reference " + x + " JOIN resources " + s + " ON " + s + ".rid = " + x + ".rid WHERE "
	if m == drive {
		b.w(r, ".id IN (SELECT ", x, ".target_id ", from)
	} else {
		b.w("EXISTS (SELECT 1 ", from, x, ".target_id = ", r, ".id AND ")
	}
	b.w(x, ".pid = ")
	b.arg(search.ParamID(h.Type, h.Param.Code))
	b.w(" AND ", x, ".target_type = ")
	if f.ResourceType != "" {
		b.arg(f.ResourceType)
	} else {
		b.w(r, ".type")
	}
	b.w(" AND ", s, ".deleted = 0 AND ", s, ".type = ")
	b.arg(h.Type)
	b.w(" AND ")
	if err := b.cond(h.Filter, s, []string{h.Type}, m); err != nil {
		return err
	}
	b.w(")")
	return nil
}

func anyStrings(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// sortKey is how one _sort key is computed and ordered. Keys kept in an index table are
// read through a LEFT JOIN of that table (alias, table, pids); a search sorted this way groups
// by r.rid, and the key is the MIN (ascending) or MAX (descending) of the resource's values,
// the order the specification asks for when a resource has several. Joining reads each
// candidate's keys in one pass where correlated subqueries would run a lookup per candidate
// per key.
type sortKey struct {
	desc bool
	// kind is how the key's value reads back for a paging cursor: "int", "text" or "float".
	kind string
	// value is the key's SQL expression over r and alias; null is, if set, an expression
	// that is 1 for a resource without a value (which sorts last either way) and 0 otherwise.
	value, null string
	// The joined index table, if any.
	alias, table string
	pids         []any
}

// sortKeys plans the keys of q.Sort over the resources alias r.
func (b *builder) sortKeys(q *search.Query, r string) ([]*sortKey, error) {
	out := make([]*sortKey, len(q.Sort))
	for i, s := range q.Sort {
		k := &sortKey{desc: s.Desc}
		out[i] = k
		switch s.Param.Code {
		case "_id":
			k.value, k.kind = r+".id", "text"
			continue
		case "_lastUpdated":
			k.value, k.kind = r+".last_updated", "int"
			continue
		}
		agg := "MIN"
		if s.Desc {
			agg = "MAX"
		}
		k.alias = b.alias("k")
		c := k.alias + "."
		var expr string
		switch s.Param.Type {
		case "date":
			// Stored dates lie well inside int64, so an extreme stands for "no value".
			k.table, expr, k.kind = "idx_date", c+"lo", "int"
			missing := "9223372036854775807"
			if s.Desc {
				expr, missing = c+"hi", "-9223372036854775808"
			}
			k.value = "COALESCE(" + agg + "(" + expr + "), " + missing + ")"
		case "string":
			k.table, expr, k.kind = "idx_string", c+"norm", "text"
		case "token":
			k.table, expr, k.kind = "idx_token", c+"code", "text"
		case "number":
			k.table, expr, k.kind = "idx_number", c+"value", "float"
		case "quantity":
			k.table, expr, k.kind = "idx_quantity", c+"value", "float"
		case "reference":
			k.table, k.kind = "idx_reference", "text"
			expr = "CASE WHEN " + c + "target_id = '' THEN " + c + "url ELSE " + c + "target_type || '/' || " + c + "target_id END"
		case "uri":
			k.table, expr, k.kind = "idx_uri", c+"uri", "text"
		default:
			return nil, fmt.Errorf("cannot sort by %s parameter %s", s.Param.Type, s.Param.Code)
		}
		if k.value == "" {
			k.value = agg + "(" + expr + ")"
			// An integer rather than a boolean: cursors compare it with a bound value, which
			// PostgreSQL will not do for a boolean.
			k.null = "CASE WHEN " + k.value + " IS NULL THEN 1 ELSE 0 END"
		}
		var types []string
		if q.Type != "" {
			types = []string{q.Type}
		} else {
			types = q.Types
			if len(types) == 0 {
				types = b.reg.ResourceTypes()
			}
			types = slices.DeleteFunc(slices.Clone(types), func(t string) bool { return b.reg.SearchParam(t, s.Param.Code) == nil })
		}
		k.pids = b.pids(types, s.Param.Code, search.ParamID)
	}
	return out, nil
}

// grouped reports whether any key joins an index table (so the search groups by r.rid).
func grouped(keys []*sortKey) bool {
	return slices.ContainsFunc(keys, func(k *sortKey) bool { return k.table != "" })
}

// sortColumns writes the keys as output columns n<i> (null test) and s<i> (value), so that an
// ORDER BY can name them: PostgreSQL orders by output columns only by bare name.
func (b *builder) sortColumns(keys []*sortKey) {
	for i, k := range keys {
		n := strconv.Itoa(i)
		if k.null != "" {
			b.w(", ", k.null, " AS n", n)
		}
		b.w(", ", k.value, " AS s", n)
	}
}

// sortJoinClauses writes the LEFT JOIN of each key kept in an index table.
func (b *builder) sortJoinClauses(keys []*sortKey, r string) {
	for _, k := range keys {
		if k.table == "" {
			continue
		}
		b.w(" LEFT JOIN ", k.table, " ", k.alias, " ON ", k.alias, ".rid = ", r, ".rid AND ")
		b.pidCond(k.alias+".pid", k.pids)
	}
}

// sortOrder writes the ORDER BY list over the output columns of sortColumns as seen through
// prefix ("" or "p."), ending with the rid that makes the order total; reversed, every
// direction flips (a page read backwards from a cursor). A resource without a value sorts
// last either way: the n<i> column is 0 before 1 on every backend.
func (b *builder) sortOrder(keys []*sortKey, prefix string, reversed bool) {
	dir := func(desc bool) {
		if desc != reversed {
			b.w(" DESC")
		}
	}
	for i, k := range keys {
		n := strconv.Itoa(i)
		if k.null != "" {
			b.w(prefix, "n", n)
			dir(false)
			b.w(", ")
		}
		b.w(prefix, "s", n)
		dir(k.desc)
		b.w(", ")
	}
	b.w(prefix, "rid")
	dir(false)
}
