package search

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
)

// MaxCount caps _count: a client asking for more gets pages of this size.
const MaxCount = 1000

// PageParam is the query parameter that carries the store's paging cursor in the links of a
// searchset Bundle.
const PageParam = "_page"

// prefixes are the comparison prefixes of ordered parameter types.
var prefixes = []string{"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"}

// Parse turns the query parameters of a search on resourceType ("" for a system-level
// search) into a Query.
//
// A parameter the server does not know or cannot evaluate is an error when strict (the
// client sent Prefer: handling=strict) and otherwise ignored and reported as a warning issue,
// which the server adds to the searchset as an OperationOutcome. A parameter it knows but
// cannot read (a bad date, an unknown modifier, a chain through a non-reference) is always
// an error. Errors are *fhir.Error with status 400 and one issue naming the parameter.
//
// Values are decoded per parameter type into Value: dates and numbers into the ranges their
// precision implies; references into RefType/RefID and, for absolute or canonical ones, URL
// (with a canonical's |version in Code); tokens into System/Code. Repeated parameters become
// separate (ANDed) filters, comma-separated values one filter's (ORed) values. _count=0 sets
// Summary "count", since Count 0 means the default page size.
func Parse(reg *definitions.Registry, resourceType string, params url.Values, strict bool) (*Query, []fhir.Issue, error) {
	p := &parser{reg: reg, strict: strict}
	q := &Query{Type: resourceType}
	if resourceType != "" && !reg.IsResource(resourceType) {
		return nil, nil, fhir.Errorf(404, fhir.IssueNotFound, "unknown resource type %q", resourceType)
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	// _type decides which parameters the other keys may use, so it goes first.
	types := []string{resourceType}
	if vs, ok := params["_type"]; ok {
		if resourceType != "" {
			if err := p.unknown("_type", "_type applies only to a search across all types"); err != nil {
				return nil, nil, err
			}
		} else {
			for _, v := range vs {
				for _, t := range strings.Split(v, ",") {
					t = strings.TrimSpace(t)
					if t == "" {
						continue
					}
					if !reg.IsResource(t) {
						return nil, nil, paramError("_type", "unknown resource type %q", t)
					}
					if !slices.Contains(q.Types, t) {
						q.Types = append(q.Types, t)
					}
				}
			}
		}
	}
	if resourceType == "" {
		types = q.Types
		if len(types) == 0 {
			types = reg.ResourceTypes()
		}
	}

	for _, key := range keys {
		vals := params[key]
		name, mod, _ := strings.Cut(key, ":")
		var err error
		switch name {
		case "_type", "_format", "_pretty":
			// _type is read above; the format parameters are the server's business.
		case PageParam:
			q.Cursor = last(vals)
		case "_count":
			err = p.count(q, key, last(vals))
		case "_sort":
			err = p.sort(q, types, key, vals)
		case "_include", "_revinclude":
			err = p.includes(q, types, name, mod, vals)
		case "_total":
			q.Total = last(vals)
			if !slices.Contains([]string{"", "none", "estimate", "accurate"}, q.Total) {
				err = paramError(key, "must be none, estimate or accurate, not %q", q.Total)
			}
		case "_summary":
			s := last(vals)
			if !slices.Contains([]string{"", "true", "text", "data", "count", "false"}, s) {
				err = paramError(key, "must be true, text, data, count or false, not %q", s)
			} else if s != "" && q.Summary != "count" {
				q.Summary = s
			}
		case "_elements":
			for _, v := range vals {
				for _, e := range strings.Split(v, ",") {
					if e = strings.TrimSpace(e); e != "" && !slices.Contains(q.Elements, e) {
						q.Elements = append(q.Elements, e)
					}
				}
			}
		case "_contained", "_containedType", "_query", "_filter", "_list", "_text", "_content":
			err = p.unsupported(key, "is not supported")
		default:
			for _, v := range vals {
				if strings.TrimSpace(v) == "" {
					continue // the spec has servers ignore empty parameters
				}
				var f *Filter
				f, err = p.filter(types, key, v)
				if err != nil {
					break
				}
				if f != nil {
					q.Filters = append(q.Filters, f)
				}
			}
		}
		if err != nil {
			return nil, nil, err
		}
	}
	return q, p.warnings, nil
}

func last(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return strings.TrimSpace(vs[len(vs)-1])
}

type parser struct {
	reg      *definitions.Registry
	strict   bool
	warnings []fhir.Issue
}

func paramError(key, format string, args ...any) *fhir.Error {
	return fhir.Errorf(400, fhir.IssueInvalid, "search parameter %q: %s", key, fmt.Sprintf(format, args...))
}

// unknown rejects (strict) or records (lenient) a parameter the server does not know.
func (p *parser) unknown(key, format string, args ...any) error {
	msg := fmt.Sprintf("search parameter %q: %s", key, fmt.Sprintf(format, args...))
	if p.strict {
		return fhir.Errorf(400, fhir.IssueNotSupported, "%s", msg)
	}
	p.warnings = append(p.warnings, fhir.Issue{Severity: fhir.SeverityWarning, Code: fhir.IssueNotSupported, Diagnostics: msg + "; ignored"})
	return nil
}

// unsupported is for a parameter the specification defines but this server cannot evaluate:
// like an unknown one, ignoring it widens the result, which lenient handling allows.
func (p *parser) unsupported(key, format string, args ...any) error {
	return p.unknown(key, format, args...)
}

// errSkip marks a filter that lenient handling dropped.
var errSkip = errors.New("skipped")

func (p *parser) count(q *Query, key, v string) error {
	if v == "" {
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return paramError(key, "must be a non-negative integer, not %q", v)
	}
	if n == 0 {
		q.Summary = "count"
	}
	q.Count = min(n, MaxCount)
	return nil
}

func (p *parser) sort(q *Query, types []string, key string, vals []string) error {
	q.Sort = q.Sort[:0]
	for _, v := range vals {
		for _, code := range strings.Split(v, ",") {
			code = strings.TrimSpace(code)
			if code == "" {
				continue
			}
			desc := strings.HasPrefix(code, "-")
			code = strings.TrimPrefix(code, "-")
			sp, _, err := p.lookup(types, code)
			if err != nil {
				return paramError(key, "%v", err)
			}
			if sp == nil {
				return paramError(key, "unknown search parameter %q", code)
			}
			switch sp.Type {
			case "composite", "special":
				return paramError(key, "cannot sort by %s parameter %q", sp.Type, code)
			}
			q.Sort = append(q.Sort, Sort{Param: sp, Desc: desc})
		}
	}
	return nil
}

func (p *parser) includes(q *Query, types []string, name, mod string, vals []string) error {
	key := name
	iterate := false
	switch mod {
	case "":
	case "iterate", "recurse": // recurse is the STU3 name
		iterate = true
		key += ":" + mod
	default:
		return paramError(name+":"+mod, "unknown modifier %q", mod)
	}
	for _, v := range vals {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		inc := Include{Reverse: name == "_revinclude", Iterate: iterate}
		parts := strings.Split(v, ":")
		switch {
		case v == "*" && len(types) == 1 && types[0] != "":
			inc.SourceType, inc.Param = types[0], "*"
		case len(parts) == 2 || len(parts) == 3:
			inc.SourceType, inc.Param = parts[0], parts[1]
			if len(parts) == 3 {
				inc.TargetType = parts[2]
			}
		default:
			return paramError(key, "%q is not of the form Type:parameter[:targetType]", v)
		}
		if !p.reg.IsResource(inc.SourceType) {
			return paramError(key, "unknown resource type %q", inc.SourceType)
		}
		if inc.Param != "*" {
			sp := p.reg.SearchParam(inc.SourceType, inc.Param)
			if sp == nil || sp.Type != "reference" {
				return paramError(key, "%s has no reference parameter %q", inc.SourceType, inc.Param)
			}
			if inc.TargetType != "" && !targets(sp, inc.TargetType) {
				return paramError(key, "%s:%s cannot refer to %s", inc.SourceType, inc.Param, inc.TargetType)
			}
		} else if inc.TargetType != "" && !p.reg.IsResource(inc.TargetType) {
			return paramError(key, "unknown resource type %q", inc.TargetType)
		}
		q.Includes = append(q.Includes, inc)
	}
	return nil
}

// targets reports whether reference parameter sp may point at resources of type t.
func targets(sp *definitions.SearchParam, t string) bool {
	return len(sp.Targets) == 0 || slices.Contains(sp.Targets, t) || slices.Contains(sp.Targets, "Resource")
}

// lookup finds parameter code on every type of types. A parameter shared by several types
// (a system search, or a chain whose reference can point at several types) must have one
// parameter type on all of them; the Filter then has ResourceType "". It returns a nil
// parameter when some type lacks it.
func (p *parser) lookup(types []string, code string) (*definitions.SearchParam, string, error) {
	var first *definitions.SearchParam
	for _, t := range types {
		sp := p.reg.SearchParam(t, code)
		if sp == nil {
			return nil, "", nil
		}
		if first == nil {
			first = sp
		} else if sp.Type != first.Type {
			return nil, "", fmt.Errorf("parameter %q is a %s on %s but a %s on %s; name the type", code, first.Type, types[0], sp.Type, t)
		}
	}
	if first == nil {
		return nil, "", nil
	}
	rt := ""
	if len(types) == 1 {
		rt = types[0]
	}
	return first, rt, nil
}

// ChainTargets lists the resource types a chain through reference parameter code of types
// can continue on: the type modifier's, else every target type that has the next
// parameter (nextCode).
func ChainTargets(reg *definitions.Registry, types []string, code, modifier, nextCode string) []string {
	var cands []string
	if modifier != "" {
		cands = []string{modifier}
	} else {
		for _, t := range types {
			sp := reg.SearchParam(t, code)
			if sp == nil {
				continue
			}
			for _, tt := range sp.Targets {
				if tt == "Resource" {
					cands = append(cands, reg.ResourceTypes()...)
				} else if !slices.Contains(cands, tt) {
					cands = append(cands, tt)
				}
			}
		}
	}
	var out []string
	for _, t := range cands {
		if reg.IsResource(t) && reg.SearchParam(t, nextCode) != nil && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}

// filter parses one occurrence of key=value on the candidate types.
func (p *parser) filter(types []string, key, value string) (*Filter, error) {
	f, err := p.parseKey(types, key, key, value)
	if err == errSkip {
		return nil, nil
	}
	return f, err
}

func (p *parser) parseKey(types []string, full, key, value string) (*Filter, error) {
	if rest, ok := strings.CutPrefix(key, "_has:"); ok {
		return p.has(types, full, rest, value)
	}
	if head, rest, ok := strings.Cut(key, "."); ok {
		return p.chain(types, full, head, rest, value)
	}
	code, mod, _ := strings.Cut(key, ":")
	sp, rt, err := p.lookup(types, code)
	if err != nil {
		return nil, paramError(full, "%v", err)
	}
	if sp == nil {
		if err := p.unknown(full, "unknown parameter %q for %s", code, typeList(types)); err != nil {
			return nil, err
		}
		return nil, errSkip
	}
	if sp.Expression == "" || sp.Type == "special" {
		if err := p.unsupported(full, "parameter %q is not supported", code); err != nil {
			return nil, err
		}
		return nil, errSkip
	}
	f := &Filter{Param: sp, ResourceType: rt, Modifier: mod}
	if err := p.checkModifier(types, full, f); err != nil {
		return nil, err
	}
	if mod == "missing" {
		v := strings.TrimSpace(value)
		if v != "true" && v != "false" {
			return nil, paramError(full, ":missing takes true or false, not %q", value)
		}
		f.Values = []Value{{Raw: v, Missing: v == "true"}}
		return f, nil
	}
	for _, raw := range splitEscaped(value, ',') {
		v, err := p.value(types, sp, mod, raw)
		if err != nil {
			return nil, paramError(full, "%v", err)
		}
		f.Values = append(f.Values, v)
	}
	if len(f.Values) > 1 && !sp.MultipleOr {
		return nil, paramError(full, "does not allow several values")
	}
	return f, nil
}

func typeList(types []string) string {
	if len(types) == 1 {
		return types[0]
	}
	if len(types) > 3 {
		return "every resource type searched"
	}
	return strings.Join(types, ", ")
}

// modifiers are the modifiers each parameter type accepts (besides a resource type on
// references); those in unsupportedModifiers need index rows the server does not have.
// The token modifiers that need terminology (in, not-in, above, below) parse here and are
// resolved to code lists before the search runs (Filter.NeedsCodes).
var modifiers = map[string][]string{
	"string":    {"missing", "exact", "contains"},
	"token":     {"missing", "text", "not", "above", "below", "in", "not-in", "of-type"},
	"reference": {"missing", "identifier", "above", "below"},
	"date":      {"missing"},
	"number":    {"missing"},
	"quantity":  {"missing"},
	"uri":       {"missing", "above", "below"},
	"composite": {},
}

var unsupportedModifiers = map[string][]string{
	"token":     {"of-type"},
	"reference": {"above", "below"},
}

func (p *parser) checkModifier(types []string, key string, f *Filter) error {
	mod, sp := f.Modifier, f.Param
	if mod == "" {
		return nil
	}
	switch sp.Code {
	case "_id":
		if mod != "not" {
			return paramError(key, "modifier %q is not allowed on _id", mod)
		}
		return nil
	case "_lastUpdated":
		return paramError(key, "modifier %q is not allowed on _lastUpdated", mod)
	}
	if sp.Type == "reference" && p.reg.IsResource(mod) {
		for _, t := range types {
			if q := p.reg.SearchParam(t, sp.Code); q != nil && targets(q, mod) {
				return nil
			}
		}
		return paramError(key, "%s cannot refer to %s", sp.Code, mod)
	}
	if !slices.Contains(modifiers[sp.Type], mod) {
		return paramError(key, "modifier %q is not allowed on %s parameter %q", mod, sp.Type, sp.Code)
	}
	if slices.Contains(unsupportedModifiers[sp.Type], mod) {
		return fhir.Errorf(400, fhir.IssueNotSupported, "search parameter %q: modifier %q is not supported", key, mod)
	}
	return nil
}

// chain parses ref[:Type].rest: the filter rest applies to the resources ref points at.
func (p *parser) chain(types []string, full, head, rest, value string) (*Filter, error) {
	code, mod, _ := strings.Cut(head, ":")
	sp, rt, err := p.lookup(types, code)
	if err != nil {
		return nil, paramError(full, "%v", err)
	}
	if sp == nil {
		if err := p.unknown(full, "unknown parameter %q for %s", code, typeList(types)); err != nil {
			return nil, err
		}
		return nil, errSkip
	}
	if sp.Type != "reference" {
		return nil, paramError(full, "cannot chain through %s parameter %q", sp.Type, code)
	}
	if mod != "" {
		if !p.reg.IsResource(mod) {
			return nil, paramError(full, "only a resource type may qualify a chained parameter, not %q", mod)
		}
		f := &Filter{Param: sp, Modifier: mod}
		if err := p.checkModifier(types, full, f); err != nil {
			return nil, err
		}
	}
	next := rest
	if i := strings.IndexAny(next, ".:"); i >= 0 {
		next = next[:i]
	}
	tt := ChainTargets(p.reg, types, code, mod, next)
	if len(tt) == 0 {
		if err := p.unknown(full, "no resource type that %q refers to has a parameter %q", code, next); err != nil {
			return nil, err
		}
		return nil, errSkip
	}
	inner, err := p.parseKey(tt, full, rest, value)
	if err != nil {
		return nil, err
	}
	return &Filter{Param: sp, ResourceType: rt, Modifier: mod, Chain: inner}, nil
}

// has parses Type:ref:rest of _has:Type:ref:rest, a reverse chain.
func (p *parser) has(types []string, full, key, value string) (*Filter, error) {
	parts := strings.SplitN(key, ":", 3)
	if len(parts) < 3 || parts[2] == "" {
		return nil, paramError(full, "must be of the form _has:Type:reference:parameter")
	}
	src, code, rest := parts[0], parts[1], parts[2]
	if !p.reg.IsResource(src) {
		return nil, paramError(full, "unknown resource type %q", src)
	}
	sp := p.reg.SearchParam(src, code)
	if sp == nil || sp.Type != "reference" {
		return nil, paramError(full, "%s has no reference parameter %q", src, code)
	}
	rt := ""
	if len(types) == 1 {
		rt = types[0]
		if rt != "" && !targets(sp, rt) {
			return nil, paramError(full, "%s:%s cannot refer to %s", src, code, rt)
		}
	}
	inner, err := p.parseKey([]string{src}, full, rest, value)
	if err != nil {
		return nil, err
	}
	return &Filter{ResourceType: rt, Has: &Has{Type: src, Param: sp, Filter: inner}}, nil
}

// value decodes one (still escaped) value for parameter sp.
func (p *parser) value(types []string, sp *definitions.SearchParam, mod, raw string) (Value, error) {
	if sp.Code == "_id" {
		v := unescape(raw)
		return Value{Raw: v, Code: v}, nil
	}
	switch sp.Type {
	case "string", "uri":
		v := unescape(raw)
		return Value{Raw: v}, nil
	case "token":
		switch mod {
		case "text", "in", "not-in":
			// :in and :not-in name a value set by its canonical, which may carry "|version".
			return Value{Raw: unescape(raw)}, nil
		case "above", "below":
			v, err := tokenValue(raw)
			if err == nil && (v.System == "" || v.Code == "") {
				err = fmt.Errorf("%q: :%s needs system|code, since a hierarchy belongs to a code system", v.Raw, mod)
			}
			return v, err
		}
		return tokenValue(raw)
	case "reference":
		if mod == "identifier" {
			return tokenValue(raw)
		}
		return referenceValue(p.reg, raw, mod)
	case "date":
		return dateValue(sp, raw)
	case "number":
		return numberValue(sp, raw)
	case "quantity":
		return quantityValue(sp, raw)
	case "composite":
		return p.compositeValue(types, sp, raw)
	}
	return Value{}, fmt.Errorf("%s parameters are not supported", sp.Type)
}

func tokenValue(raw string) (Value, error) {
	v := Value{Raw: unescape(raw)}
	parts := splitEscaped(raw, '|')
	switch len(parts) {
	case 1:
		v.Code = unescape(parts[0])
	case 2:
		v.HasSystem = true
		v.System, v.Code = unescape(parts[0]), unescape(parts[1])
		if v.System == "" && v.Code == "" {
			return v, fmt.Errorf("%q names neither a system nor a code", v.Raw)
		}
	default:
		return v, fmt.Errorf("%q has more than one unescaped '|'", v.Raw)
	}
	return v, nil
}

// referenceValue decodes id, Type/id, Type/id/_history/v, an absolute URL or a canonical
// url|version (the version going to Code). typeMod is a :Type modifier, which a bare id
// takes as its type.
func referenceValue(reg *definitions.Registry, raw, typeMod string) (Value, error) {
	s := unescape(raw)
	v := Value{Raw: s}
	if typeMod != "" && !reg.IsResource(typeMod) {
		typeMod = ""
	}
	if strings.Contains(s, "://") || strings.HasPrefix(s, "urn:") {
		parts := splitEscaped(raw, '|')
		if len(parts) > 2 {
			return v, fmt.Errorf("%q has more than one unescaped '|'", s)
		}
		v.URL = unescape(parts[0])
		if len(parts) == 2 {
			v.Code = unescape(parts[1])
		} else {
			v.RefType, v.RefID = typeAndID(reg, strings.Split(v.URL, "/"))
		}
		if typeMod != "" && v.RefType != "" && v.RefType != typeMod {
			return v, fmt.Errorf("%q is not a %s", s, typeMod)
		}
		return v, nil
	}
	segs := strings.Split(s, "/")
	switch {
	case len(segs) == 1:
		v.RefID, v.RefType = s, typeMod
	default:
		v.RefType, v.RefID = typeAndID(reg, segs)
		if v.RefType == "" || (len(segs) != 2 && len(segs) != 4) {
			return v, fmt.Errorf("%q is neither an id, Type/id nor an absolute URL", s)
		}
		if typeMod != "" && v.RefType != typeMod {
			return v, fmt.Errorf("%q is not a %s", s, typeMod)
		}
	}
	if v.RefID == "" {
		return v, fmt.Errorf("empty reference")
	}
	return v, nil
}

// typeAndID finds Type/id at the end of a path, skipping a trailing _history/version.
func typeAndID(reg *definitions.Registry, segs []string) (string, string) {
	n := len(segs)
	if n >= 4 && segs[n-2] == "_history" {
		n -= 2
	}
	if n >= 2 && reg.IsResource(segs[n-2]) && segs[n-1] != "" {
		return segs[n-2], segs[n-1]
	}
	return "", ""
}

func (p *parser) compositeValue(types []string, sp *definitions.SearchParam, raw string) (Value, error) {
	v := Value{Raw: unescape(raw)}
	parts := splitEscaped(raw, '$')
	if len(parts) != len(sp.Components) {
		return v, fmt.Errorf("%q has %d components, %s takes %d separated by '$'", v.Raw, len(parts), sp.Code, len(sp.Components))
	}
	for i, c := range sp.Components {
		cp := p.componentParam(types, c.Definition)
		if cp == nil {
			return v, fmt.Errorf("component %s of %s is not defined", c.Definition, sp.Code)
		}
		if cp.Type == "composite" {
			return v, fmt.Errorf("nested composite %s", c.Definition)
		}
		pv, err := p.value(types, cp, "", parts[i])
		if err != nil {
			return v, err
		}
		v.Parts = append(v.Parts, pv)
	}
	return v, nil
}

func (p *parser) componentParam(types []string, url string) *definitions.SearchParam {
	for _, t := range types {
		if cp := p.reg.SearchParamByURL(t, url); cp != nil {
			return cp
		}
	}
	return nil
}

// ComponentParam returns the parameter of component i of composite sp as it applies to
// resourceType.
func ComponentParam(reg *definitions.Registry, resourceType string, sp *definitions.SearchParam, i int) *definitions.SearchParam {
	if i >= len(sp.Components) {
		return nil
	}
	return reg.SearchParamByURL(resourceType, sp.Components[i].Definition)
}

// splitPrefix removes a comparison prefix, checking it against the parameter's comparators.
func splitPrefix(sp *definitions.SearchParam, s string) (string, string, error) {
	if len(s) >= 2 && s[0] >= 'a' && s[0] <= 'z' {
		pre := s[:2]
		if !slices.Contains(prefixes, pre) {
			return "", s, fmt.Errorf("unknown prefix in %q", s)
		}
		if len(sp.Comparators) > 0 && !slices.Contains(sp.Comparators, pre) {
			return "", s, fmt.Errorf("prefix %q is not allowed on %s", pre, sp.Code)
		}
		return pre, s[2:], nil
	}
	return "", s, nil
}

func dateValue(sp *definitions.SearchParam, raw string) (Value, error) {
	s := unescape(raw)
	v := Value{Raw: s}
	pre, rest, err := splitPrefix(sp, s)
	if err != nil {
		return v, err
	}
	v.Prefix = pre
	v.DateLo, v.DateHi, err = ParseDateRange(rest)
	return v, err
}

// ParseDateRange reads a search date of any precision (YYYY, YYYY-MM, YYYY-MM-DD, or a
// dateTime with minutes, seconds or fractional seconds, with or without a zone) into the
// microseconds it covers, both ends inclusive. A time without a zone is UTC. A space where
// the zone's sign belongs is read as '+', which an unencoded query string turns into one.
func ParseDateRange(s string) (lo, hi int64, err error) {
	bad := func() (int64, int64, error) { return 0, 0, fmt.Errorf("invalid date %q", s) }
	num := func(t string) (int, bool) {
		if t == "" {
			return 0, false
		}
		for _, c := range t {
			if c < '0' || c > '9' {
				return 0, false
			}
		}
		n, _ := strconv.Atoi(t)
		return n, true
	}
	datePart, timePart, hasTime := strings.Cut(s, "T")
	ds := strings.Split(datePart, "-")
	if len(ds) > 3 || len(ds[0]) != 4 {
		return bad()
	}
	y, ok := num(ds[0])
	if !ok || y < 1 {
		return bad()
	}
	mo, d := 1, 1
	if len(ds) > 1 {
		if mo, ok = num(ds[1]); !ok || len(ds[1]) != 2 || mo < 1 || mo > 12 {
			return bad()
		}
	}
	if len(ds) > 2 {
		if d, ok = num(ds[2]); !ok || len(ds[2]) != 2 || d < 1 || d > time.Date(y, time.Month(mo)+1, 0, 0, 0, 0, 0, time.UTC).Day() {
			return bad()
		}
	}
	if !hasTime {
		start := time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC)
		var end time.Time
		switch len(ds) {
		case 1:
			end = start.AddDate(1, 0, 0)
		case 2:
			end = start.AddDate(0, 1, 0)
		default:
			end = start.AddDate(0, 0, 1)
		}
		return start.UnixMicro(), end.UnixMicro() - 1, nil
	}
	if len(ds) != 3 {
		return bad()
	}
	loc := time.UTC
	clock := timePart
	switch {
	case strings.HasSuffix(clock, "Z"):
		clock = clock[:len(clock)-1]
	case len(clock) > 6 && strings.ContainsAny(clock[len(clock)-6:len(clock)-5], "+- "):
		z := clock[len(clock)-6:]
		clock = clock[:len(clock)-6]
		zh, ok1 := num(z[1:3])
		zm, ok2 := num(z[4:6])
		if !ok1 || !ok2 || z[3] != ':' || zh > 14 || zm > 59 {
			return bad()
		}
		off := zh*3600 + zm*60
		if z[0] == '-' {
			off = -off
		}
		loc = time.FixedZone("", off)
	}
	whole, frac, hasFrac := strings.Cut(clock, ".")
	cs := strings.Split(whole, ":")
	if len(cs) < 2 || len(cs) > 3 || (hasFrac && len(cs) != 3) {
		return bad()
	}
	var hms [3]int
	for i, c := range cs {
		n, ok := num(c)
		if !ok || len(c) != 2 {
			return bad()
		}
		hms[i] = n
	}
	if hms[0] > 23 || hms[1] > 59 || hms[2] > 60 {
		return bad()
	}
	step := int64(time.Minute / time.Microsecond)
	if len(cs) == 3 {
		step = int64(time.Second / time.Microsecond)
	}
	var us int64
	if hasFrac {
		if _, ok := num(frac); !ok {
			return bad()
		}
		digits := min(len(frac), 6)
		n, _ := strconv.ParseInt(frac[:digits], 10, 64)
		scale := int64(math.Pow10(6 - digits))
		us, step = n*scale, scale
	}
	t := time.Date(y, time.Month(mo), d, hms[0], hms[1], min(hms[2], 59), 0, loc)
	lo = t.UnixMicro() + us
	return lo, lo + step - 1, nil
}

func numberValue(sp *definitions.SearchParam, raw string) (Value, error) {
	s := unescape(raw)
	v := Value{Raw: s}
	pre, rest, err := splitPrefix(sp, s)
	if err != nil {
		return v, err
	}
	v.Prefix = pre
	v.Number, v.NumLo, v.NumHi, err = ParseNumberRange(rest)
	return v, err
}

// ParseNumberRange reads a decimal and the range its written precision implies: half a unit
// of its last significant digit either side ("100" → [99.5, 100.5], "100.00" →
// [99.995, 100.005], "1e2" → [50, 150]). The specification's prose gives 95–105 for 1e2, which
// contradicts the single significant figure it says 1e2 has; the arithmetic is followed here.
func ParseNumberRange(s string) (n, lo, hi float64, err error) {
	bad := fmt.Errorf("invalid number %q", s)
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		if err != nil {
			return 0, 0, 0, bad
		}
		exp = e
	}
	digits := strings.TrimLeft(mant, "+-")
	whole, frac, _ := strings.Cut(digits, ".")
	if whole+frac == "" || strings.Trim(whole+frac, "0123456789") != "" {
		return 0, 0, 0, bad
	}
	n, err = strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(n, 0) || exp > 400 || exp < -400 {
		return 0, 0, 0, bad
	}
	// Exact decimal arithmetic, so that 5.4 gives 5.35 rather than 5.3500000000000005.
	r, ok := new(big.Rat).SetString(strings.TrimPrefix(s, "+"))
	if !ok {
		return 0, 0, 0, bad
	}
	half := new(big.Rat).SetFrac(big.NewInt(5), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac)+1)), nil))
	if exp >= 0 {
		half.Mul(half, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(exp)), nil)))
	} else {
		half.Quo(half, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(-exp)), nil)))
	}
	lo, _ = new(big.Rat).Sub(r, half).Float64()
	hi, _ = new(big.Rat).Add(r, half).Float64()
	return n, lo, hi, nil
}

func quantityValue(sp *definitions.SearchParam, raw string) (Value, error) {
	v := Value{Raw: unescape(raw)}
	parts := splitEscaped(raw, '|')
	switch len(parts) {
	case 1:
	case 3:
		v.System, v.Code = unescape(parts[1]), unescape(parts[2])
		v.HasSystem = v.System != ""
	default:
		return v, fmt.Errorf("%q is not number, number|system|code or number||unit", v.Raw)
	}
	pre, rest, err := splitPrefix(sp, unescape(parts[0]))
	if err != nil {
		return v, err
	}
	v.Prefix = pre
	v.Number, v.NumLo, v.NumHi, err = ParseNumberRange(rest)
	return v, err
}

// splitEscaped splits s on sep where sep is not escaped by a backslash; the parts keep their
// escapes so that a later split on another separator still sees them.
func splitEscaped(s string, sep byte) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// unescape removes the backslash of \, \$ \| and \\; any other backslash is kept.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(`,$|\`, s[i+1]) >= 0 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
