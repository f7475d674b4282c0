package events

import (
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/search"
)

// Matching. A Subscription's criteria are a search; a changed resource matches when that
// search, restricted to the resource, finds it. Criteria whose every filter is one of the
// common, exactly decidable kinds — _id, a token without modifier, a literal reference
// (optionally typed), a string (default, :exact, :contains), a date, number or quantity
// without modifier, a uri (exact, :below, :above) — are decided in memory from the index
// rows of the event's version, which the search extractor makes exactly as the store's
// index does, with the comparisons of the store's search compiler. Any other criteria
// (chains, _has, composites, _lastUpdated, terminology modifiers, :missing, :not…) run as
// the server's own search with an added _id, so every search feature of the server
// applies; they see the resource as it stands when matched (normally the event's version,
// or a newer one if it has changed again since; a resource deleted before it is matched is
// not notified).
//
// Subscriptions with the same criteria form one group, decided once per event; groups are
// indexed by resource type and, where one of their filters requires particular token codes,
// reference targets or ids, by those values: an event only considers the groups its own index
// rows name, plus the few whose criteria have no such filter. With thousands of
// subscriptions naming one patient or one code each, a write costs a few map lookups.

// criteria is one group's compiled criteria.
type criteria struct {
	key  string // canonical criteria text (type?sorted params)
	typ  string
	q    *search.Query
	text string
	// inMemory: every filter is decidable from index rows.
	inMemory bool
	// keys index the group: one of which the event's index rows must hold.
	keys []string
}

// canonicalCriteria is Type?params with parameters and values in a fixed order.
func canonicalCriteria(typ string, params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(typ)
	b.WriteByte('?')
	for i, k := range keys {
		vs := append([]string(nil), params[k]...)
		sort.Strings(vs)
		for j, v := range vs {
			if i > 0 || j > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(k))
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(v))
		}
	}
	return b.String()
}

func compileCriteria(reg *definitions.Registry, s *Subscription) *criteria {
	c := &criteria{key: canonicalCriteria(s.Type, s.Params), typ: s.Type, q: s.Query, text: s.Criteria, inMemory: true}
	for _, f := range s.Query.Filters {
		if !memFilter(reg, f) {
			c.inMemory = false
		}
	}
	// The group is indexed under one filter's values: the most selective kind there is (ids,
	// then references, which name one resource, then tokens, whose codes many share).
	best := 0
	for _, f := range s.Query.Filters {
		ks := filterKeys(reg, s.Type, f)
		if ks == nil {
			continue
		}
		rank := 1 // token
		switch {
		case f.Param.Code == "_id":
			rank = 3
		case f.Param.Type == "reference":
			rank = 2
		}
		if rank > best {
			best, c.keys = rank, ks
		}
	}
	return c
}

// memFilter reports whether f is decided exactly by memFilterMatch.
func memFilter(reg *definitions.Registry, f *search.Filter) bool {
	if f.Param == nil || f.Chain != nil || f.Has != nil || len(f.Values) == 0 {
		return false
	}
	switch {
	case f.Param.Code == "_id":
		return f.Modifier == "" || f.Modifier == "not"
	case f.Param.Code == "_lastUpdated":
		return false
	}
	switch f.Param.Type {
	case "token":
		if f.Modifier != "" {
			return false
		}
		for _, v := range f.Values {
			if v.Codes != nil {
				return false
			}
		}
		return true
	case "reference":
		if f.Modifier != "" && !reg.IsResource(f.Modifier) {
			return false
		}
		for _, v := range f.Values {
			if v.URL != "" || v.RefID == "" {
				return false
			}
		}
		return true
	case "string":
		return f.Modifier == "" || f.Modifier == "exact" || f.Modifier == "contains"
	case "date", "number", "quantity":
		return f.Modifier == ""
	case "uri":
		return f.Modifier == "" || f.Modifier == "below" || f.Modifier == "above"
	}
	return false
}

// filterKeys are the index keys one of which a resource matching f must have, or nil when
// f does not narrow that way.
func filterKeys(reg *definitions.Registry, typ string, f *search.Filter) []string {
	if !memFilter(reg, f) || f.Modifier == "not" {
		return nil
	}
	var keys []string
	switch {
	case f.Param.Code == "_id":
		for _, v := range f.Values {
			keys = append(keys, idKey(v.Code))
		}
		return keys
	case f.Param.Type == "token":
		pid := search.ParamID(typ, f.Param.Code)
		for _, v := range f.Values {
			if v.Code == "" {
				return nil
			}
			keys = append(keys, tokenKey(pid, v.Code))
		}
		return keys
	case f.Param.Type == "reference":
		pid := search.ParamID(typ, f.Param.Code)
		for _, v := range f.Values {
			keys = append(keys, refKey(pid, v.RefID))
		}
		return keys
	}
	return nil
}

func idKey(id string) string { return "i|" + id }
func tokenKey(pid int64, code string) string {
	return "t|" + strconv.FormatInt(pid, 36) + "|" + code
}
func refKey(pid int64, id string) string { return "r|" + strconv.FormatInt(pid, 36) + "|" + id }

// memFilterMatch decides one in-memory filter against a resource's id and index rows (its
// values ORed), as the store's search compiler has it.
func memFilterMatch(typ string, f *search.Filter, id string, ix *search.Index) bool {
	if f.Param.Code == "_id" {
		in := false
		for _, v := range f.Values {
			in = in || v.Code == id
		}
		if f.Modifier == "not" {
			return !in
		}
		return in
	}
	pid := search.ParamID(typ, f.Param.Code)
	for _, v := range f.Values {
		switch f.Param.Type {
		case "token":
			for _, r := range ix.Tokens {
				if r.Param == pid && (v.Code == "" || r.Code == v.Code) && (!v.HasSystem || r.System == v.System) {
					return true
				}
			}
		case "reference":
			for _, r := range ix.References {
				if r.Param == pid && r.TargetID == v.RefID && (v.RefType == "" || r.TargetType == v.RefType) {
					return true
				}
			}
		case "date":
			for _, r := range ix.Dates {
				if r.Param == pid && dateMatch(r.Lo, r.Hi, v) {
					return true
				}
			}
		case "number":
			for _, r := range ix.Numbers {
				if r.Param == pid && numberMatch(search.Finite(r.Value), search.Finite(r.Lo), search.Finite(r.Hi), v) {
					return true
				}
			}
		case "quantity":
			for _, r := range ix.Quantities {
				if r.Param == pid && numberMatch(search.Finite(r.Value), search.Finite(r.Lo), search.Finite(r.Hi), v) && unitMatch(r, v) {
					return true
				}
			}
		case "uri":
			for _, r := range ix.URIs {
				if r.Param == pid && uriMatch(r.URI, f.Modifier, v.Raw) {
					return true
				}
			}
		case "string":
			norm := search.NormalizeString(v.Raw)
			for _, r := range ix.Strings {
				if r.Param != pid {
					continue
				}
				switch f.Modifier {
				case "exact":
					if r.Norm == norm && r.Exact == v.Raw {
						return true
					}
				case "contains":
					if strings.Contains(r.Norm, norm) {
						return true
					}
				default:
					if strings.HasPrefix(r.Norm, norm) {
						return true
					}
				}
			}
		}
	}
	return false
}

// group is the subscriptions sharing one criteria.
type group struct {
	c    *criteria
	subs map[string]*worker // by subscription id
}

// typeIndex holds the groups of one resource type.
type typeIndex struct {
	byKey map[string][]*group
	// unkeyed groups are considered for every event of the type.
	unkeyed []*group
}

// matchIndex is every group of the subscriptions a dispatcher serves, by resource type.
type matchIndex struct {
	groups map[string]*group // by criteria key
	types  map[string]*typeIndex
}

func newMatchIndex() *matchIndex {
	return &matchIndex{groups: map[string]*group{}, types: map[string]*typeIndex{}}
}

func (m *matchIndex) add(c *criteria, w *worker) {
	g := m.groups[c.key]
	if g == nil {
		g = &group{c: c, subs: map[string]*worker{}}
		m.groups[c.key] = g
		ti := m.types[c.typ]
		if ti == nil {
			ti = &typeIndex{byKey: map[string][]*group{}}
			m.types[c.typ] = ti
		}
		if c.keys == nil {
			ti.unkeyed = append(ti.unkeyed, g)
		}
		for _, k := range c.keys {
			ti.byKey[k] = append(ti.byKey[k], g)
		}
	}
	g.subs[w.id] = w
}

func (m *matchIndex) remove(c *criteria, id string) {
	g := m.groups[c.key]
	if g == nil {
		return
	}
	delete(g.subs, id)
	if len(g.subs) > 0 {
		return
	}
	delete(m.groups, c.key)
	ti := m.types[c.typ]
	drop := func(list []*group) []*group {
		out := list[:0]
		for _, o := range list {
			if o != g {
				out = append(out, o)
			}
		}
		return out
	}
	ti.unkeyed = drop(ti.unkeyed)
	for _, k := range c.keys {
		if ti.byKey[k] = drop(ti.byKey[k]); len(ti.byKey[k]) == 0 {
			delete(ti.byKey, k)
		}
	}
	if len(ti.unkeyed) == 0 && len(ti.byKey) == 0 {
		delete(m.types, c.typ)
	}
}

// candidates lists the groups of typ that a resource with this id and index could match.
func (ti *typeIndex) candidates(typ, id string, ix *search.Index) []*group {
	out := append([]*group(nil), ti.unkeyed...)
	if len(ti.byKey) == 0 {
		return out
	}
	seen := map[*group]bool{}
	add := func(k string) {
		for _, g := range ti.byKey[k] {
			if !seen[g] {
				seen[g] = true
				out = append(out, g)
			}
		}
	}
	add(idKey(id))
	for _, r := range ix.Tokens {
		add(tokenKey(r.Param, r.Code))
	}
	for _, r := range ix.References {
		if r.TargetID != "" {
			add(refKey(r.Param, r.TargetID))
		}
	}
	return out
}

// The comparisons below are those of the store's search compiler (store/sqlstore/where.go),
// applied to index rows in memory.

// dateMatch compares a row's [lo, hi] (inclusive microseconds) with a date value's range.
func dateMatch(lo, hi int64, v search.Value) bool {
	vlo, vhi := v.DateLo, v.DateHi
	switch v.Prefix {
	case "", "eq":
		return lo >= vlo && lo <= vhi && hi <= vhi
	case "ne":
		return lo < vlo || hi > vhi
	case "gt":
		return hi > vhi
	case "lt":
		return lo < vlo
	case "ge":
		return hi > vhi || lo >= vlo
	case "le":
		return lo < vlo || hi <= vhi
	case "sa":
		return lo > vhi
	case "eb":
		return lo < vlo && hi < vlo
	case "ap":
		gap := time.Now().UnixMicro() - (vlo/2 + vhi/2)
		if gap < 0 {
			gap = -gap
		}
		gap /= 10
		return lo <= search.SaturatingAdd(vhi, gap) && hi >= search.SaturatingAdd(vlo, -gap)
	}
	return false
}

// numberMatch compares a row's value and precision range with a number value.
func numberMatch(value, lo, hi float64, v search.Value) bool {
	switch v.Prefix {
	case "", "eq":
		return value >= v.NumLo && value < v.NumHi
	case "ne":
		return value < v.NumLo || value >= v.NumHi
	case "gt":
		return value > v.Number
	case "lt":
		return value < v.Number
	case "ge":
		return value >= v.NumLo
	case "le":
		return value < v.NumHi
	case "sa":
		return lo >= v.NumHi
	case "eb":
		return hi <= v.NumLo
	case "ap":
		d := math.Abs(v.Number) / 10
		return value >= min(v.NumLo, v.Number-d) && value <= max(v.NumHi, v.Number+d)
	}
	return false
}

// unitMatch restricts a quantity to the value's unit: system and code when a system is
// given, else the code or the human unit text.
func unitMatch(r search.QuantityRow, v search.Value) bool {
	switch {
	case v.System != "":
		return r.System == v.System && r.Code == v.Code
	case v.Code != "":
		return r.Code == v.Code || r.Unit == v.Code
	}
	return true
}

// uriMatch compares a uri row: equal, or (below) the value or under it, or (above) the value
// or one of its ancestors.
func uriMatch(uri, modifier, u string) bool {
	switch modifier {
	case "below":
		base := strings.TrimSuffix(u, "/")
		return uri == base || strings.HasPrefix(uri, base+"/")
	case "above":
		for i := len(u); i > 0; i = strings.LastIndexByte(u[:i], '/') {
			if p := u[:i]; !strings.HasSuffix(p, ":/") && !strings.HasSuffix(p, ":") && uri == p {
				return true
			}
		}
		return false
	}
	return uri == u
}
