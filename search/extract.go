package search

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/fhir/fhirpath"
)

// Extractor computes the index rows of resources from the SearchParameter expressions of a
// registry. It is immutable after NewExtractor and safe for concurrent use.
type Extractor struct {
	reg    *definitions.Registry
	byType map[string]*typeParams
}

// typeParams is the precomputed work for one resource type.
type typeParams struct {
	params []*param
	// patient marks the parameters that place a resource in the Patient compartment.
	patient map[string]bool
}

type param struct {
	code          string
	typ           string
	id            int64
	textID        int64 // TextParamID, for token display texts
	identID       int64 // IdentifierParamID, for Reference.identifier
	expr          *fhirpath.Expr
	components    []component
	patientMember bool
}

type component struct {
	expr *fhirpath.Expr
	typ  string
}

// NewExtractor compiles the expression of every search parameter of every resource type once.
// It fails if any expression does not compile.
func NewExtractor(reg *definitions.Registry) (*Extractor, error) {
	x := &Extractor{reg: reg, byType: map[string]*typeParams{}}
	cache := map[string]*fhirpath.Expr{}
	compile := func(src, where string) (*fhirpath.Expr, error) {
		if e := cache[src]; e != nil {
			return e, nil
		}
		e, err := fhirpath.Compile(src)
		if err != nil {
			return nil, fmt.Errorf("search: parameter %s: %w", where, err)
		}
		cache[src] = e
		return e, nil
	}
	for _, rt := range reg.ResourceTypes() {
		tp := &typeParams{patient: map[string]bool{}}
		for _, c := range reg.CompartmentParams("Patient", rt) {
			tp.patient[c] = true
		}
		all := reg.SearchParams(rt)
		codes := make([]string, 0, len(all))
		for c := range all {
			codes = append(codes, c)
		}
		sort.Strings(codes) // a stable row order makes indexes comparable across runs
		for _, code := range codes {
			sp := all[code]
			// _id and _lastUpdated come from the store's own columns; special parameters
			// (near, _text, _content) need their own machinery.
			if sp.Expression == "" || code == "_id" || code == "_lastUpdated" || sp.Type == "special" {
				continue
			}
			e, err := compile(sp.Expression, rt+"."+code)
			if err != nil {
				return nil, err
			}
			p := &param{code: code, typ: sp.Type, expr: e, id: ParamID(rt, code),
				textID: TextParamID(rt, code), identID: IdentifierParamID(rt, code),
				patientMember: tp.patient[code]}
			if sp.Type == "composite" {
				for _, c := range sp.Components {
					def := reg.SearchParamByURL(rt, c.Definition)
					if def == nil {
						return nil, fmt.Errorf("search: parameter %s.%s: component %s is not defined for %s", rt, code, c.Definition, rt)
					}
					ce, err := compile(c.Expression, rt+"."+code+" component")
					if err != nil {
						return nil, err
					}
					p.components = append(p.components, component{expr: ce, typ: def.Type})
				}
			}
			tp.params = append(tp.params, p)
		}
		x.byType[rt] = tp
	}
	return x, nil
}

// Extract returns the index rows of a resource. Expressions that fail on this resource (for
// example where a single value is required and the resource repeats it) contribute no rows
// for their parameter; the resource is still indexed under every other parameter.
func (x *Extractor) Extract(res *fhir.Resource) *Index {
	idx := &Index{}
	if res == nil || res.Root == nil {
		return idx
	}
	tp := x.byType[res.Type]
	if tp == nil {
		return idx
	}
	env := &fhirpath.Env{Resource: res.Root}
	b := builder{idx: idx, x: x}
	for _, p := range tp.params {
		nodes, err := p.expr.EvaluateWith(res.Root, env)
		if err != nil || len(nodes) == 0 {
			continue
		}
		b.param(p, nodes, env)
	}
	if res.Type == "Patient" {
		if res.ID != "" {
			idx.Patients = []string{res.ID}
		}
	} else {
		for _, r := range idx.References {
			if r.TargetType == "Patient" && b.patientParam[r.Param] && !slices.Contains(idx.Patients, r.TargetID) {
				idx.Patients = append(idx.Patients, r.TargetID)
			}
		}
	}
	return idx
}

// builder appends the rows of one resource, removing duplicates within each parameter.
type builder struct {
	idx          *Index
	x            *Extractor
	patientParam map[int64]bool
	// first row of the current parameter in each slice, for de-duplication
	s0, t0, d0, n0, q0, r0, u0, c0 int
}

func (b *builder) param(p *param, nodes []*fhir.Node, env *fhirpath.Env) {
	idx := b.idx
	b.s0, b.t0, b.d0, b.n0, b.q0, b.r0, b.u0, b.c0 = len(idx.Strings), len(idx.Tokens), len(idx.Dates), len(idx.Numbers), len(idx.Quantities), len(idx.References), len(idx.URIs), len(idx.Composites)
	if p.patientMember {
		if b.patientParam == nil {
			b.patientParam = map[int64]bool{}
		}
		b.patientParam[p.id] = true
	}
	for _, n := range nodes {
		switch p.typ {
		case "string":
			eachString(n, func(s string) { b.str(p.id, s) })
		case "token":
			eachToken(n, func(sys, code string) { b.token(p.id, sys, code) }, func(text string) { b.str(p.textID, text) })
		case "reference":
			b.reference(p, n)
		case "date":
			if lo, hi, ok := dateRange(n); ok {
				b.date(DateRow{Param: p.id, Lo: lo, Hi: hi})
			}
		case "number":
			if n.Type == "Range" {
				eachQuantity(n, func(q QuantityRow) { b.number(NumberRow{Param: p.id, Value: q.Value, Lo: q.Lo, Hi: q.Hi}) })
			} else if v, lo, hi, ok := numberRange(n); ok {
				b.number(NumberRow{Param: p.id, Value: v, Lo: lo, Hi: hi})
			}
		case "quantity":
			eachQuantity(n, func(q QuantityRow) { q.Param = p.id; b.quantity(q) })
		case "uri":
			if s, ok := n.Value.(string); ok {
				b.uri(URIRow{Param: p.id, URI: s})
			}
		case "composite":
			b.composite(p, n, env)
		}
	}
}

func (b *builder) str(param int64, s string) {
	if s == "" {
		return
	}
	row := StringRow{Param: param, Norm: NormalizeString(s), Exact: s}
	if !slices.Contains(b.idx.Strings[b.s0:], row) {
		b.idx.Strings = append(b.idx.Strings, row)
	}
}

func (b *builder) token(param int64, system, code string) {
	if code == "" && system == "" {
		return
	}
	row := TokenRow{Param: param, System: system, Code: code}
	if !slices.Contains(b.idx.Tokens[b.t0:], row) {
		b.idx.Tokens = append(b.idx.Tokens, row)
	}
}

func (b *builder) date(row DateRow) {
	if !slices.Contains(b.idx.Dates[b.d0:], row) {
		b.idx.Dates = append(b.idx.Dates, row)
	}
}

func (b *builder) number(row NumberRow) {
	if !slices.Contains(b.idx.Numbers[b.n0:], row) {
		b.idx.Numbers = append(b.idx.Numbers, row)
	}
}

func (b *builder) quantity(row QuantityRow) {
	if !slices.Contains(b.idx.Quantities[b.q0:], row) {
		b.idx.Quantities = append(b.idx.Quantities, row)
	}
}

func (b *builder) uri(row URIRow) {
	if !slices.Contains(b.idx.URIs[b.u0:], row) {
		b.idx.URIs = append(b.idx.URIs, row)
	}
}

func (b *builder) ref(row ReferenceRow) {
	if !slices.Contains(b.idx.References[b.r0:], row) {
		b.idx.References = append(b.idx.References, row)
	}
}

func (b *builder) reference(p *param, n *fhir.Node) {
	switch {
	case n.Type == "Reference":
		if s := n.Text("reference"); s != "" {
			if row, ok := parseReference(s); ok {
				row.Param = p.id
				b.ref(row)
			}
		}
		if id := n.First("identifier"); id != nil {
			eachToken(id, func(sys, code string) { b.token(p.identID, sys, code) }, func(string) {})
		}
	case n.IsResource():
		// expressions such as Bundle.entry[0].resource point at a resource itself
		if id := n.Text("id"); id != "" {
			b.ref(ReferenceRow{Param: p.id, TargetType: n.Type, TargetID: id})
		}
	default:
		if s, ok := n.Value.(string); ok {
			url, version, _ := strings.Cut(s, "|")
			b.ref(ReferenceRow{Param: p.id, URL: url, Version: version})
		}
	}
}

// parseReference reads a literal reference. Contained references ("#x") are not indexed:
// they never name another resource.
func parseReference(s string) (ReferenceRow, bool) {
	switch {
	case strings.HasPrefix(s, "#"):
		return ReferenceRow{}, false
	case strings.HasPrefix(s, "urn:"):
		return ReferenceRow{URL: s}, true
	}
	var row ReferenceRow
	path := s
	if i := strings.Index(s, "://"); i >= 0 {
		row.URL = s
		path = s[i+3:]
	}
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	if i := strings.Index(path, "/_history/"); i >= 0 {
		path = path[:i]
	}
	j := strings.LastIndexByte(path, '/')
	if j > 0 && j < len(path)-1 {
		rest := path[:j]
		typ := rest[strings.LastIndexByte(rest, '/')+1:]
		if definitions.R4().IsResource(typ) {
			row.TargetType, row.TargetID = typ, path[j+1:]
		}
	}
	if row.URL == "" && row.TargetType == "" {
		return row, false
	}
	return row, true
}

var stringParts = map[string][]string{
	"HumanName": {"family", "given", "prefix", "suffix", "text"},
	"Address":   {"line", "city", "district", "state", "postalCode", "country", "text"},
}

func eachString(n *fhir.Node, fn func(string)) {
	if s, ok := n.Value.(string); ok {
		fn(s)
		return
	}
	parts := stringParts[n.Type]
	for _, c := range n.Children {
		if slices.Contains(parts, c.Name) {
			if s, ok := c.Value.(string); ok {
				fn(s)
			}
		}
	}
}

// eachToken reports the coded values of a token element and, through text, its display
// texts (for :text).
func eachToken(n *fhir.Node, fn func(system, code string), text func(string)) {
	switch n.Type {
	case "Coding":
		fn(n.Text("system"), n.Text("code"))
		if d := n.Text("display"); d != "" {
			text(d)
		}
	case "CodeableConcept":
		for _, c := range n.Children {
			switch c.Name {
			case "coding":
				eachToken(c, fn, text)
			case "text":
				text(c.String())
			}
		}
	case "Identifier":
		if v := n.Text("value"); v != "" {
			fn(n.Text("system"), v)
		}
		if t := n.First("type"); t != nil {
			if s := t.Text("text"); s != "" {
				text(s)
			}
		}
	case "ContactPoint":
		if v := n.Text("value"); v != "" {
			fn("", v)
		}
	case "boolean":
		if v, ok := n.Value.(bool); ok {
			fn("", strconv.FormatBool(v))
		}
	default:
		if s, ok := n.Value.(string); ok {
			fn("", s)
		}
	}
}

// numberRange returns a number and the range its written precision implies: half a unit of
// the last written digit either side ("100" → [99.5, 100.5], "1.5e2" → [145, 155]).
func numberRange(n *fhir.Node) (v, lo, hi float64, ok bool) {
	s := n.String()
	if s == "" {
		return 0, 0, 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, 0, 0, false
	}
	lo, hi = precisionRange(s, v)
	return v, lo, hi, true
}

// precisionRange computes v ± half a unit of the last digit in units of that digit, so that
// "0.8" gives 0.75..0.85 rather than 0.8500000000000001.
func precisionRange(s string, v float64) (lo, hi float64) {
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e, err := strconv.Atoi(s[i+1:])
		if err == nil {
			exp = e
		}
	}
	decimals := 0
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		decimals = len(mant) - i - 1
	}
	k := decimals - exp // v = m / 10^k with m a whole number of last-digit units
	if k >= 0 {
		scale := math.Pow10(k)
		m := v * scale
		if math.Abs(m) < 1<<53 {
			m = math.Round(m)
		}
		return (m - 0.5) / scale, (m + 0.5) / scale
	}
	f := math.Pow10(-k)
	m := math.Round(v / f)
	return (m - 0.5) * f, (m + 0.5) * f
}

func eachQuantity(n *fhir.Node, fn func(QuantityRow)) {
	switch n.Type {
	case "Money":
		if v, lo, hi, ok := numberRange(n.First("value")); ok {
			fn(QuantityRow{System: "urn:iso:std:iso:4217", Code: n.Text("currency"), Value: v, Lo: lo, Hi: hi})
		}
	case "Range":
		low, high := n.First("low"), n.First("high")
		row := QuantityRow{Lo: math.Inf(-1), Hi: math.Inf(1)}
		var unitFrom *fhir.Node
		if v, _, _, ok := numberRange(child(low, "value")); ok {
			row.Lo, row.Value, unitFrom = v, v, low
		}
		if v, _, _, ok := numberRange(child(high, "value")); ok {
			row.Hi = v
			if unitFrom == nil {
				row.Value, unitFrom = v, high
			}
		}
		if unitFrom == nil {
			return
		}
		row.System, row.Code, row.Unit = unitFrom.Text("system"), unitFrom.Text("code"), unitFrom.Text("unit")
		fn(row)
	default:
		if !isQuantityType(n.Type) {
			return
		}
		if v, lo, hi, ok := numberRange(n.First("value")); ok {
			fn(QuantityRow{System: n.Text("system"), Code: n.Text("code"), Unit: n.Text("unit"), Value: v, Lo: lo, Hi: hi})
		}
	}
}

// child is Node.First that tolerates a missing parent.
func child(n *fhir.Node, name string) *fhir.Node {
	if n == nil {
		return nil
	}
	return n.First(name)
}

func isQuantityType(t string) bool {
	switch t {
	case "Quantity", "Age", "Duration", "Count", "Distance", "SimpleQuantity", "MoneyQuantity":
		return true
	}
	return false
}

const (
	minInstant = math.MinInt64
	maxInstant = math.MaxInt64
)

// dateRange returns the instants a date-like element covers, in Unix microseconds, both ends
// inclusive.
func dateRange(n *fhir.Node) (lo, hi int64, ok bool) {
	switch n.Type {
	case "date", "dateTime", "instant":
		return parseInstantRange(n.String())
	case "Period":
		lo, hi = minInstant, maxInstant
		s, e := n.Text("start"), n.Text("end")
		if s == "" && e == "" {
			return 0, 0, false
		}
		if s != "" {
			l, _, ok := parseInstantRange(s)
			if !ok {
				return 0, 0, false
			}
			lo = l
		}
		if e != "" {
			_, h, ok := parseInstantRange(e)
			if !ok {
				return 0, 0, false
			}
			hi = h
		}
		return lo, hi, true
	case "Timing":
		lo, hi = maxInstant, minInstant
		for _, ev := range n.Child("event") {
			if l, h, ok := parseInstantRange(ev.String()); ok {
				lo, hi = min(lo, l), max(hi, h)
			}
		}
		if lo <= hi {
			return lo, hi, true
		}
		if bp := child(n.First("repeat"), "boundsPeriod"); bp != nil {
			return dateRange(bp)
		}
	}
	return 0, 0, false
}

// parseInstantRange reads a FHIR date, dateTime or instant; a value without a zone is taken
// as UTC. The range spans the written precision: the year, month, day, second or fraction.
func parseInstantRange(s string) (lo, hi int64, ok bool) {
	var t time.Time
	var err error
	var span func(time.Time) time.Time
	switch len(s) {
	case 4:
		t, err = time.Parse("2006", s)
		span = func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }
	case 7:
		t, err = time.Parse("2006-01", s)
		span = func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }
	case 10:
		t, err = time.Parse("2006-01-02", s)
		span = func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }
	default:
		layout := "2006-01-02T15:04:05.999999999Z07:00"
		zoned := strings.HasSuffix(s, "Z") || strings.LastIndexAny(s, "+-") > len("2006-01-02")
		if !zoned {
			layout = "2006-01-02T15:04:05.999999999"
		}
		t, err = time.Parse(layout, s)
		unit := time.Second
		if i := strings.IndexByte(s, '.'); i >= 0 {
			digits := 0
			for j := i + 1; j < len(s) && s[j] >= '0' && s[j] <= '9'; j++ {
				digits++
			}
			unit = time.Duration(math.Pow10(9 - min(digits, 6)))
		}
		span = func(t time.Time) time.Time { return t.Add(unit) }
	}
	if err != nil {
		return 0, 0, false
	}
	return t.UnixMicro(), span(t).UnixMicro() - 1, true
}

// composite adds the rows of one element of a composite parameter: the cartesian product
// of its components' values.
func (b *builder) composite(p *param, n *fhir.Node, env *fhirpath.Env) {
	parts := make([][]CompositePart, len(p.components))
	for i, c := range p.components {
		vals, err := c.expr.EvaluateWith(n, env)
		if err != nil {
			return
		}
		for _, v := range vals {
			parts[i] = appendParts(parts[i], c.typ, v)
		}
		if len(parts[i]) == 0 {
			return
		}
	}
	var walk func(i int, acc []CompositePart)
	walk = func(i int, acc []CompositePart) {
		if i == len(parts) {
			row := CompositeRow{Param: p.id, Parts: slices.Clone(acc)}
			for _, r := range b.idx.Composites[b.c0:] {
				if r.Param == row.Param && slices.Equal(r.Parts, row.Parts) {
					return
				}
			}
			b.idx.Composites = append(b.idx.Composites, row)
			return
		}
		for _, part := range parts[i] {
			walk(i+1, append(acc, part))
		}
	}
	walk(0, make([]CompositePart, 0, len(parts)))
}

// appendParts converts one component value to composite parts by the component's type.
func appendParts(out []CompositePart, typ string, n *fhir.Node) []CompositePart {
	switch typ {
	case "token":
		eachToken(n, func(sys, code string) {
			if code != "" || sys != "" {
				out = append(out, CompositePart{System: sys, Code: code})
			}
		}, func(string) {})
	case "reference":
		if s := n.Text("reference"); s != "" {
			if r, ok := parseReference(s); ok {
				code := r.URL
				if r.TargetType != "" {
					code = r.TargetType + "/" + r.TargetID
				}
				out = append(out, CompositePart{Code: code})
			}
		}
	case "string":
		eachString(n, func(s string) { out = append(out, CompositePart{Code: NormalizeString(s)}) })
	case "uri":
		if s, ok := n.Value.(string); ok {
			out = append(out, CompositePart{Code: s})
		}
	case "number":
		if _, lo, hi, ok := numberRange(n); ok {
			out = append(out, CompositePart{Lo: lo, Hi: hi})
		}
	case "quantity":
		eachQuantity(n, func(q QuantityRow) {
			out = append(out, CompositePart{System: q.System, Code: q.Code, Lo: q.Lo, Hi: q.Hi})
		})
	case "date":
		if lo, hi, ok := dateRange(n); ok {
			out = append(out, CompositePart{Lo: float64(lo), Hi: float64(hi)})
		}
	}
	return out
}
