package dmd

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/concord-health/concord/terminology"
)

// System is the dm+d code system URL (the UK Core NamingSystem's).
const System = "https://dmd.nhs.uk"

// snomedSystem is where a dm+d code is found again in SNOMED CT.
const snomedSystem = "http://snomed.info/sct"

// SNOMEDLink is a SNOMED CT edition as the provider needs it: whether it knows a concept.
// *snomed.Edition implements it.
type SNOMEDLink interface {
	Exists(id uint64) bool
}

// ProviderOption configures a Provider.
type ProviderOption func(*Provider)

// WithSNOMED has Lookup report, as property "snomed", the SNOMED CT concept of the same id
// when the edition holds it: dm+d codes are SCTIDs of the UK drug extension, so a record
// coded in dm+d can be read as SNOMED CT when the extension is loaded.
func WithSNOMED(l SNOMEDLink) ProviderOption {
	return func(p *Provider) { p.snomed = l }
}

// Provider answers for a Release as a terminology.CodeSystemProvider and
// terminology.Subsumer.
type Provider struct {
	r      *Release
	snomed SNOMEDLink
}

// NewProvider plugs a release into the terminology service (Service.AddProvider).
func NewProvider(r *Release, opts ...ProviderOption) *Provider {
	p := &Provider{r: r}
	for _, o := range opts {
		o(p)
	}
	return p
}

var (
	_ terminology.CodeSystemProvider = (*Provider)(nil)
	_ terminology.Subsumer           = (*Provider)(nil)
	_ terminology.Named              = (*Provider)(nil)
)

// URL is https://dmd.nhs.uk.
func (p *Provider) URL() string { return System }

// Version is the release's date.
func (p *Provider) Version() string { return p.r.Version() }

// Name is what $lookup calls the code system.
func (p *Provider) Name() string { return "dm+d" }

// Complete: the release holds every product of its week, invalid ones included.
func (p *Provider) Complete() bool { return true }

// CaseSensitive: dm+d codes are digits.
func (p *Provider) CaseSensitive() bool { return false }

func parseCode(code string) (uint64, bool) {
	id, err := strconv.ParseUint(strings.TrimSpace(code), 10, 64)
	return id, err == nil
}

// synonym marks the other names of a concept (abbreviated name, AMP description) as the
// SNOMED CT descriptions they are in the UK drug extension.
var synonym = terminology.Coding{System: snomedSystem, Code: "900000000000013009", Display: "Synonym"}

func prop(code, typ, value string) terminology.Property {
	return terminology.Property{Code: code, Type: typ, Value: value}
}

func idString(id uint64) string { return strconv.FormatUint(id, 10) }

// Lookup answers a product with its name (NM) as display, INVALID as inactive, its other
// names as designations, and properties: class, inactive, parent and child, the links
// (vtm, vmp, vmpp, amp), ingredient (ISID) with strength ("Paracetamol 500 mg"),
// excipient, form, route, prescribing-status, basis-of-name, controlled-drug,
// availability, supplier, licensing-authority, quantity, legal-category, discontinued,
// gtin, abbreviation, previous, and snomed with WithSNOMED.
func (p *Provider) Lookup(ctx context.Context, code string) (terminology.Concept, bool, error) {
	id, ok := parseCode(code)
	if !ok {
		return terminology.Concept{}, false, nil
	}
	i, ok := p.r.find(id)
	if !ok {
		return terminology.Concept{}, false, nil
	}
	c := p.r.concept(i)
	out := terminology.Concept{Code: idString(id), Display: c.Name, Inactive: c.Invalid}
	if c.AbbrevName != "" {
		out.Designations = append(out.Designations, terminology.Designation{Language: "en-GB", Use: synonym, Value: c.AbbrevName})
	}
	if c.Description != "" && c.Description != c.Name {
		out.Designations = append(out.Designations, terminology.Designation{Language: "en-GB", Use: synonym, Value: c.Description})
	}
	props := make([]terminology.Property, 0, 16+len(p.r.children(i))+2*len(c.Ingredients)+len(c.GTINs))
	props = append(props, prop("class", "code", c.Class.String()), prop("inactive", "boolean", strconv.FormatBool(c.Invalid)))
	var buf [2]uint32
	for _, x := range p.r.parents(i, &buf) {
		props = append(props, prop("parent", "code", idString(p.r.idx.Records[x].ID)))
	}
	for _, x := range p.r.children(i) {
		props = append(props, prop("child", "code", idString(p.r.idx.Records[x].ID)))
	}
	for _, l := range [...]struct {
		name string
		id   uint64
	}{{"vtm", c.VTM}, {"vmp", c.VMP}, {"vmpp", c.VMPP}, {"amp", c.AMP}} {
		if l.id != 0 {
			props = append(props, prop(l.name, "code", idString(l.id)))
		}
	}
	for _, ing := range c.Ingredients {
		props = append(props, prop("ingredient", "code", idString(ing.ID)))
		if ing.Strength != "" {
			props = append(props, prop("strength", "string", strings.TrimSpace(ing.Name+" "+ing.Strength)))
		}
	}
	for _, ing := range c.Excipients {
		props = append(props, prop("excipient", "code", idString(ing.ID)))
	}
	for _, f := range c.Forms {
		props = append(props, prop("form", "string", f.Display))
	}
	for _, r := range c.Routes {
		props = append(props, prop("route", "string", r.Display))
	}
	for _, a := range [...]struct {
		name string
		v    Coded
	}{
		{"prescribing-status", c.PrescribingStatus}, {"basis-of-name", c.BasisOfName},
		{"controlled-drug", c.ControlledDrug}, {"availability", c.Availability},
		{"supplier", c.Supplier}, {"licensing-authority", c.LicensingAuthority},
		{"legal-category", c.LegalCategory}, {"discontinued", c.Discontinued},
	} {
		if a.v.Display != "" {
			props = append(props, prop(a.name, "string", a.v.Display))
		}
	}
	if c.Quantity != "" {
		props = append(props, prop("quantity", "string", c.Quantity))
	}
	for _, g := range c.GTINs {
		props = append(props, prop("gtin", "string", g))
	}
	if c.AbbrevName != "" {
		props = append(props, prop("abbreviation", "string", c.AbbrevName))
	}
	if c.PreviousID != 0 {
		props = append(props, prop("previous", "code", idString(c.PreviousID)))
	}
	if p.snomed != nil && p.snomed.Exists(id) {
		props = append(props, prop("snomed", "Coding", snomedSystem+"|"+idString(id)))
	}
	out.Properties = props
	return out, true, nil
}

// Concepts lists every product, VTMs first, then VMPs, VMPPs, AMPs and AMPPs, each class
// in id order. The concepts carry code, display and status; Lookup gives the rest.
func (p *Provider) Concepts(ctx context.Context, yield func(terminology.Concept) bool) error {
	f := &filter{p: p, match: func(uint32) bool { return true }}
	return f.Concepts(ctx, yield)
}

// filterProps are the properties Filter takes "=" on, with the lookup table kind their
// values come from.
var filterProps = map[string]attrKind{
	"form":               attrForm,
	"route":              attrRoute,
	"supplier":           attrSupplier,
	"legal-category":     attrLegal,
	"prescribing-status": attrPresStatus,
	"controlled-drug":    attrControlled,
	"availability":       attrAvailability,
}

// Filter prepares a compose filter:
//   - concept is-a, descendent-of, is-not-a, generalizes, = (a product code), and in (a
//     comma-separated list of codes), along VTM ← VMP ← VMPP/AMP ← AMPP;
//   - class = VMP, class in VMP,AMP;
//   - vtm, vmp, vmpp, amp = a code: the products that link to it directly (the VMPs of a
//     VTM, the VMPPs and AMPs of a VMP, the AMPPs of a VMPP or an AMP);
//   - ingredient = an ISID: the VMPs with that ingredient substance;
//   - inactive = true or false;
//   - form, route, supplier, legal-category, prescribing-status, controlled-drug and
//     availability = a code or a description (any case).
//
// Anything else is an error wrapping terminology.ErrUnsupportedFilter.
func (p *Provider) Filter(ctx context.Context, property, op, value string) (terminology.ConceptFilter, error) {
	r := p.r
	unsupported := func() error {
		return fmt.Errorf("%w: dm+d filter %s %s %s", terminology.ErrUnsupportedFilter, property, op, value)
	}
	ids := func() ([]uint64, error) {
		var out []uint64
		for _, v := range strings.Split(value, ",") {
			id, ok := parseCode(v)
			if !ok {
				return nil, fmt.Errorf("dmd: filter %s %s: %q is not a dm+d code", property, op, v)
			}
			out = append(out, id)
		}
		if op != "in" && len(out) != 1 {
			return nil, fmt.Errorf("dmd: filter %s %s takes one code, not %q", property, op, value)
		}
		return out, nil
	}
	f := &filter{p: p}
	switch property {
	case "concept":
		switch op {
		case "is-a", "descendent-of", "is-not-a", "generalizes", "=", "in":
		default:
			return nil, unsupported()
		}
		list, err := ids()
		if err != nil {
			return nil, err
		}
		return p.conceptFilter(op, list), nil
	case "class":
		if op != "=" && op != "in" {
			return nil, unsupported()
		}
		var want [AMPP + 1]bool
		for _, v := range strings.Split(value, ",") {
			c, ok := ParseClass(v)
			if !ok {
				return nil, fmt.Errorf("dmd: filter class %s: %q is not a dm+d class (VTM, VMP, VMPP, AMP, AMPP)", op, v)
			}
			want[c] = true
		}
		if op == "=" && strings.Contains(value, ",") {
			return nil, fmt.Errorf("dmd: filter class = takes one class, not %q", value)
		}
		f.match = func(i uint32) bool { return want[r.idx.Records[i].Class] }
	case "vtm", "vmp", "vmpp", "amp":
		if op != "=" {
			return nil, unsupported()
		}
		list, err := ids()
		if err != nil {
			return nil, err
		}
		// The classes that link to the value, and which of their links does.
		var classes []Class
		k := 0
		switch property {
		case "vtm":
			classes = []Class{VMP}
		case "vmp":
			classes = []Class{VMPP, AMP}
		case "vmpp":
			classes = []Class{AMPP}
		case "amp":
			classes, k = []Class{AMPP}, 1
		}
		f.match = func(i uint32) bool {
			rec := &r.idx.Records[i]
			return rec.Link[k] == list[0] && slices.Contains(classes, rec.Class)
		}
	case "ingredient":
		if op != "=" {
			return nil, unsupported()
		}
		list, err := ids()
		if err != nil {
			return nil, err
		}
		f.match = func(i uint32) bool {
			if r.idx.Records[i].Class != VMP {
				return false
			}
			return slices.ContainsFunc(r.ings(i), func(g ingredient) bool { return g.ISID == list[0] })
		}
	case "inactive":
		b, err := strconv.ParseBool(value)
		if op != "=" || err != nil {
			return nil, unsupported()
		}
		f.match = func(i uint32) bool { return r.idx.Records[i].Invalid == b }
	default:
		kind, ok := filterProps[property]
		if !ok || op != "=" {
			return nil, unsupported()
		}
		codes := r.matchingCodes(kind, value)
		f.match = func(i uint32) bool {
			return slices.ContainsFunc(r.attrs(i), func(a uint32) bool { return codes[a] })
		}
	}
	return f, nil
}

// matchingCodes returns the codes of a kind whose code or description is value.
func (r *Release) matchingCodes(kind attrKind, value string) map[uint32]bool {
	value = strings.TrimSpace(value)
	n, numErr := strconv.ParseUint(value, 10, 64)
	out := map[uint32]bool{}
	for c, e := range r.idx.Codes {
		if c == 0 || r.kinds[e.Table] != kind {
			continue
		}
		cd := r.str(e.CD)
		if cd == value || strings.EqualFold(r.str(e.Desc), value) {
			out[uint32(c)] = true
		} else if m, err := strconv.ParseUint(cd, 10, 64); numErr == nil && err == nil && m == n {
			out[uint32(c)] = true
		}
	}
	return out
}

// filter is a prepared filter: a test on a record, and optionally a faster way to list
// the matches than testing every record.
type filter struct {
	p     *Provider
	match func(i uint32) bool
	// list, when set, yields the matching records (each once) until its yield returns false.
	list func(yield func(uint32) bool)
}

func (f *filter) Match(ctx context.Context, code string) (bool, error) {
	id, ok := parseCode(code)
	if !ok {
		return false, nil
	}
	i, ok := f.p.r.find(id)
	return ok && f.match(i), nil
}

// Concepts yields the matching products with code, display and status.
func (f *filter) Concepts(ctx context.Context, yield func(terminology.Concept) bool) error {
	r := f.p.r
	n := 0
	stopped := false
	emit := func(i uint32) bool {
		if n++; n&0xfff == 0 && ctx.Err() != nil {
			return false
		}
		rec := &r.idx.Records[i]
		if !yield(terminology.Concept{Code: idString(rec.ID), Display: r.str(rec.Name), Inactive: rec.Invalid}) {
			stopped = true
			return false
		}
		return true
	}
	if f.list != nil {
		f.list(emit)
		return ctxErr(ctx, stopped)
	}
	for class := VTM; class <= AMPP; class++ {
		for i := range r.idx.Records {
			if r.idx.Records[i].Class == class && f.match(uint32(i)) && !emit(uint32(i)) {
				return ctxErr(ctx, stopped)
			}
		}
	}
	return ctx.Err()
}

// ctxErr is the error of a listing that ended early: none if the caller stopped it.
func ctxErr(ctx context.Context, stoppedByCaller bool) error {
	if stoppedByCaller {
		return nil
	}
	return ctx.Err()
}

// conceptFilter tests products against codes along the hierarchy.
func (p *Provider) conceptFilter(op string, ids []uint64) *filter {
	r := p.r
	f := &filter{p: p}
	var at []uint32 // record indexes of the codes that are products
	for _, id := range ids {
		if i, ok := r.find(id); ok && !slices.Contains(at, i) {
			at = append(at, i)
		}
	}
	if len(at) == 0 {
		// An unknown code subsumes nothing; everything "is not" it.
		if op == "is-not-a" {
			f.match = func(uint32) bool { return true }
		} else {
			f.match = func(uint32) bool { return false }
			f.list = func(func(uint32) bool) {}
		}
		return f
	}
	a := at[0]
	switch op {
	case "is-a":
		f.match = func(i uint32) bool { return r.subsumes(a, i) }
		f.list = func(yield func(uint32) bool) {
			if yield(a) {
				r.descendants(a, yield)
			}
		}
	case "descendent-of":
		f.match = func(i uint32) bool { return i != a && r.subsumes(a, i) }
		f.list = func(yield func(uint32) bool) { r.descendants(a, yield) }
	case "is-not-a":
		f.match = func(i uint32) bool { return !r.subsumes(a, i) }
	case "generalizes":
		f.match = func(i uint32) bool { return r.subsumes(i, a) }
	case "=", "in":
		f.match = func(i uint32) bool { return slices.Contains(at, i) }
		f.list = func(yield func(uint32) bool) {
			for _, i := range at {
				if !yield(i) {
					return
				}
			}
		}
	}
	return f
}

// Subsumes answers CodeSystem/$subsumes: a subsumes b when b is a or one of its
// descendants along VTM ← VMP ← VMPP/AMP ← AMPP. Codes that are not products of the
// release are an error wrapping terminology.ErrUnknownCode.
func (p *Provider) Subsumes(ctx context.Context, a, b string) (bool, error) {
	ia, okA := p.find(a)
	ib, okB := p.find(b)
	switch {
	case !okA:
		return false, fmt.Errorf("%w: %s is not a dm+d code", terminology.ErrUnknownCode, a)
	case !okB:
		return false, fmt.Errorf("%w: %s is not a dm+d code", terminology.ErrUnknownCode, b)
	}
	return p.r.subsumes(ia, ib), nil
}

func (p *Provider) find(code string) (uint32, bool) {
	id, ok := parseCode(code)
	if !ok {
		return 0, false
	}
	return p.r.find(id)
}
