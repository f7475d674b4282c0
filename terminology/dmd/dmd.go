// Package dmd holds the NHS Dictionary of Medicines and Devices (dm+d) from its weekly XML
// release (NHSBSA dm+d on TRUD) and serves it as a terminology code system.
//
// dm+d describes each medicine at five levels: the substance (VTM, virtual therapeutic
// moiety), the generic product (VMP), its generic packs (VMPP), the branded or supplier
// products (AMP) and their packs (AMPP). Every one has an SCTID of the UK drug extension of
// SNOMED CT, so a dm+d code is also a SNOMED CT code. Load reads a release into a Release:
// sorted, pointer-free tables with names in one string arena and the lookup codes decoded,
// which Save writes to the data directory as one checksummed file for Open to read back
// without the XML. NewProvider plugs a Release into the terminology service.
package dmd

import (
	"cmp"
	"slices"
	"strings"
)

// Class is the level of a dm+d concept.
type Class uint8

// The dm+d classes, in the order of the hierarchy (a VMPP and an AMP are both children of a
// VMP; an AMPP has a VMPP and an AMP as parents).
const (
	VTM Class = iota + 1
	VMP
	VMPP
	AMP
	AMPP
)

var classNames = [...]string{VTM: "VTM", VMP: "VMP", VMPP: "VMPP", AMP: "AMP", AMPP: "AMPP"}

// String is the class's abbreviation, as property "class" and filter "class" use it.
func (c Class) String() string {
	if c >= VTM && c <= AMPP {
		return classNames[c]
	}
	return "unknown"
}

// ParseClass reads a class name (VTM, VMP, VMPP, AMP, AMPP) in any case.
func ParseClass(s string) (Class, bool) {
	for c := VTM; c <= AMPP; c++ {
		if strings.EqualFold(strings.TrimSpace(s), classNames[c]) {
			return c, true
		}
	}
	return 0, false
}

// Coded is a value from one of the release's lookup tables: the code as the release writes
// it (a four-digit code, or an SCTID for forms, routes, units and suppliers) and its
// description. Both are empty when the product has no value.
type Coded struct {
	Code, Display string
}

// Ingredient is an ingredient substance of a VMP with its strength, or an excipient of an AMP.
type Ingredient struct {
	// ID is the substance's SCTID (ISID), Name its name from the ingredient file.
	ID   uint64
	Name string
	// Strength is the strength as "500 mg" or "250 mg/5 ml", empty when the release gives
	// none.
	Strength string
	// BasisOfStrength says whether the strength is of this substance or of its base
	// (BASIS_STRNTCD); BasisSubstance is that base (BS_SUBID), 0 if none.
	BasisOfStrength Coded
	BasisSubstance  uint64
}

// Concept is one dm+d product with its attributes decoded. The links name the concept's
// parents: a VMP's VTM, a VMPP's and an AMP's VMP, an AMPP's VMPP and AMP; a link is 0 when
// it does not apply or the release gives none.
type Concept struct {
	Class      Class
	ID         uint64
	Name       string
	AbbrevName string
	// Description is an AMP's name with its supplier (DESC).
	Description string
	// Invalid marks a concept withdrawn from use (INVALID).
	Invalid bool
	// PreviousID is the concept's former identifier (VTMIDPREV, VPIDPREV), 0 if none.
	PreviousID uint64

	VTM, VMP, VMPP, AMP uint64

	// Ingredients are a VMP's ingredient substances with strengths (VPI).
	Ingredients []Ingredient
	// Excipients are an AMP's excipients of note (AP_ING), with strengths where given.
	Excipients []Ingredient
	// Forms are a VMP's dose forms (DFORM); Routes a VMP's routes (DROUTE) or an AMP's
	// licensed routes (LIC_ROUTE).
	Forms, Routes []Coded

	// VMP attributes.
	PrescribingStatus Coded // PRES_STATCD
	BasisOfName       Coded // BASISCD
	ControlledDrug    Coded // CONTROL_INFO CATCD
	// Availability is a VMP's non-availability indicator (NON_AVAILCD) or an AMP's
	// restriction on availability (AVAIL_RESTRICTCD).
	Availability Coded

	// AMP attributes.
	Supplier           Coded // SUPPCD
	LicensingAuthority Coded // LIC_AUTHCD

	// Quantity is a VMPP's pack quantity with its unit, "28 tablet".
	Quantity string

	// AMPP attributes.
	LegalCategory Coded // LEGAL_CATCD
	Discontinued  Coded // DISCCD
	// GTINs are an AMPP's current bar codes, from the optional GTIN file.
	GTINs []string
}

// record is one product as held: ids, string ids into the arena, the class. It has no
// pointers, so a release of 350,000 products costs the collector nothing to scan.
type record struct {
	ID   uint64
	Prev uint64
	// Link holds the parent ids: VMP [VTM, 0]; VMPP and AMP [VMP, 0]; AMPP [VMPP, AMP].
	Link                    [2]uint64
	Name, Abbrev, Desc, Qty uint32
	Class                   Class
	Invalid                 bool
}

// code is one entry of a lookup table.
type code struct {
	Table   uint16 // index into index.Tables
	CD      uint32 // string id of the code as written
	Desc    uint32 // string id
	Invalid bool
}

// ingredient is a VMP ingredient or AMP excipient as held; units and basis are code indexes.
type ingredient struct {
	ISID, BSSub             uint64
	Num, Den                uint32 // string ids of the strength values, as normalised numbers
	NumUnit, DenUnit, Basis uint32
}

type substance struct {
	ID      uint64
	Name    uint32
	Invalid bool
}

// index is what Save writes and Open reads: every field is exported for encoding/gob.
// Records are sorted by ID; the per-record lists are in CSR form (Off[i]..Off[i+1]).
type index struct {
	Version    string
	Tables     []string
	Text       string
	StrOff     []uint32
	Codes      []code // Codes[0] is "no value"
	Records    []record
	AttrOff    []uint32
	Attrs      []uint32 // code indexes: forms, routes and the single-valued coded attributes
	IngOff     []uint32
	Ings       []ingredient
	GTINOff    []uint32
	GTINs      []uint32 // string ids
	Substances []substance
}

// Release is a dm+d release held in memory. It is read-only once loaded and safe for
// concurrent use.
type Release struct {
	idx index
	// kinds maps a lookup table to the Concept field its codes fill.
	kinds []attrKind
	// chiOff and chi list each record's children (record indexes), VMPPs before AMPs.
	chiOff, chi []uint32
}

type attrKind uint8

const (
	attrNone attrKind = iota
	attrForm
	attrRoute
	attrPresStatus
	attrBasisOfName
	attrControlled
	attrAvailability
	attrSupplier
	attrLicensing
	attrUnit
	attrLegal
	attrDiscontinued
)

// tableKinds names the lookup tables whose codes the loader keeps on products.
var tableKinds = map[string]attrKind{
	"FORM":                        attrForm,
	"ROUTE":                       attrRoute,
	"VIRTUAL_PRODUCT_PRES_STATUS": attrPresStatus,
	"BASIS_OF_NAME":               attrBasisOfName,
	"CONTROL_DRUG_CATEGORY":       attrControlled,
	"VIRTUAL_PRODUCT_NON_AVAIL":   attrAvailability,
	"AVAILABILITY_RESTRICTION":    attrAvailability,
	"SUPPLIER":                    attrSupplier,
	"LICENSING_AUTHORITY":         attrLicensing,
	"UNIT_OF_MEASURE":             attrUnit,
	"LEGAL_CATEGORY":              attrLegal,
	"DISCONTINUED_IND":            attrDiscontinued,
}

// Version is the release's date, "2024-05-20", from the date stamp in its file names.
func (r *Release) Version() string { return r.idx.Version }

// Len is the number of products (VTMs, VMPs, VMPPs, AMPs and AMPPs), invalid ones included.
func (r *Release) Len() int { return len(r.idx.Records) }

func (r *Release) str(id uint32) string {
	if id == 0 {
		return ""
	}
	return r.idx.Text[r.idx.StrOff[id]:r.idx.StrOff[id+1]]
}

// find returns the record index of a product.
func (r *Release) find(id uint64) (uint32, bool) {
	i, ok := slices.BinarySearchFunc(r.idx.Records, id, func(rec record, id uint64) int { return cmp.Compare(rec.ID, id) })
	return uint32(i), ok
}

// Known reports whether id is a product of the release.
func (r *Release) Known(id uint64) bool {
	_, ok := r.find(id)
	return ok
}

func (r *Release) coded(c uint32) Coded {
	if c == 0 {
		return Coded{}
	}
	e := r.idx.Codes[c]
	return Coded{Code: r.str(e.CD), Display: r.str(e.Desc)}
}

func (r *Release) attrs(i uint32) []uint32 { return r.idx.Attrs[r.idx.AttrOff[i]:r.idx.AttrOff[i+1]] }

func (r *Release) ings(i uint32) []ingredient { return r.idx.Ings[r.idx.IngOff[i]:r.idx.IngOff[i+1]] }

// Concept returns a product with its attributes decoded.
func (r *Release) Concept(id uint64) (Concept, bool) {
	i, ok := r.find(id)
	if !ok {
		return Concept{}, false
	}
	return r.concept(i), true
}

func (r *Release) concept(i uint32) Concept {
	rec := &r.idx.Records[i]
	c := Concept{
		Class: rec.Class, ID: rec.ID, Name: r.str(rec.Name), AbbrevName: r.str(rec.Abbrev),
		Description: r.str(rec.Desc), Invalid: rec.Invalid, PreviousID: rec.Prev,
	}
	switch rec.Class {
	case VMP:
		c.VTM = rec.Link[0]
	case VMPP, AMP:
		c.VMP = rec.Link[0]
	case AMPP:
		c.VMPP, c.AMP = rec.Link[0], rec.Link[1]
	}
	var unit string
	for _, a := range r.attrs(i) {
		v := r.coded(a)
		switch r.kinds[r.idx.Codes[a].Table] {
		case attrForm:
			c.Forms = append(c.Forms, v)
		case attrRoute:
			c.Routes = append(c.Routes, v)
		case attrPresStatus:
			c.PrescribingStatus = v
		case attrBasisOfName:
			c.BasisOfName = v
		case attrControlled:
			c.ControlledDrug = v
		case attrAvailability:
			c.Availability = v
		case attrSupplier:
			c.Supplier = v
		case attrLicensing:
			c.LicensingAuthority = v
		case attrUnit:
			unit = v.Display
		case attrLegal:
			c.LegalCategory = v
		case attrDiscontinued:
			c.Discontinued = v
		}
	}
	if q := r.str(rec.Qty); q != "" {
		c.Quantity = strings.TrimSpace(q + " " + unit)
	}
	for _, g := range r.ings(i) {
		ing := r.ingredient(g)
		if rec.Class == AMP {
			c.Excipients = append(c.Excipients, ing)
		} else {
			c.Ingredients = append(c.Ingredients, ing)
		}
	}
	for _, g := range r.idx.GTINs[r.idx.GTINOff[i]:r.idx.GTINOff[i+1]] {
		c.GTINs = append(c.GTINs, r.str(g))
	}
	return c
}

func (r *Release) ingredient(g ingredient) Ingredient {
	ing := Ingredient{ID: g.ISID, BasisOfStrength: r.coded(g.Basis), BasisSubstance: g.BSSub}
	ing.Name, _ = r.Substance(g.ISID)
	if num := r.str(g.Num); num != "" {
		ing.Strength = strings.TrimSpace(num + " " + r.coded(g.NumUnit).Display)
		if den := r.str(g.Den); den != "" {
			ing.Strength += "/" + strings.TrimSpace(den+" "+r.coded(g.DenUnit).Display)
		}
	}
	return ing
}

// Substance returns the name of an ingredient substance (ISID) from the ingredient file.
func (r *Release) Substance(isid uint64) (string, bool) {
	s := r.idx.Substances
	i, ok := slices.BinarySearchFunc(s, isid, func(x substance, id uint64) int { return cmp.Compare(x.ID, id) })
	if !ok {
		return "", false
	}
	return r.str(s[i].Name), true
}

// parentClass is the class each link of a record must point at.
var parentClass = [...][2]Class{VMP: {VTM}, VMPP: {VMP}, AMP: {VMP}, AMPP: {VMPP, AMP}}

// parents returns the record indexes of a record's parents held in the release. A link to
// a product of the wrong class is left out, so the hierarchy stays acyclic whatever the
// release says.
func (r *Release) parents(i uint32, buf *[2]uint32) []uint32 {
	out := buf[:0]
	rec := &r.idx.Records[i]
	for k, l := range rec.Link {
		if l == 0 || int(rec.Class) >= len(parentClass) {
			continue
		}
		if p, ok := r.find(l); ok && r.idx.Records[p].Class == parentClass[rec.Class][k] {
			out = append(out, p)
		}
	}
	return out
}

func (r *Release) children(i uint32) []uint32 { return r.chi[r.chiOff[i]:r.chiOff[i+1]] }

// Parents returns the ids of a product's parents in the dm+d hierarchy: a VMP's VTM, a
// VMPP's or AMP's VMP, an AMPP's VMPP and AMP.
func (r *Release) Parents(id uint64) []uint64 {
	i, ok := r.find(id)
	if !ok {
		return nil
	}
	var buf [2]uint32
	var out []uint64
	for _, p := range r.parents(i, &buf) {
		out = append(out, r.idx.Records[p].ID)
	}
	return out
}

// Children returns the ids of a product's children: a VTM's VMPs, a VMP's VMPPs then AMPs,
// the AMPPs of a VMPP or an AMP; each group in id order.
func (r *Release) Children(id uint64) []uint64 {
	i, ok := r.find(id)
	if !ok {
		return nil
	}
	var out []uint64
	for _, c := range r.children(i) {
		out = append(out, r.idx.Records[c].ID)
	}
	return out
}

// Subsumes reports whether product a subsumes product b: b is a, or a descendant of a (a
// VTM subsumes its VMPs, their VMPPs and AMPs, and their AMPPs).
func (r *Release) Subsumes(a, b uint64) bool {
	ia, ok := r.find(a)
	if !ok {
		return false
	}
	ib, ok := r.find(b)
	return ok && r.subsumes(ia, ib)
}

// subsumes walks up from b; the hierarchy is at most four levels deep.
func (r *Release) subsumes(a, b uint32) bool {
	if a == b {
		return true
	}
	if r.idx.Records[b].Class <= r.idx.Records[a].Class {
		// A parent's class always comes before its child's, so a cannot be above b.
		return false
	}
	var buf [2]uint32
	for _, p := range r.parents(b, &buf) {
		if r.subsumes(a, p) {
			return true
		}
	}
	return false
}

// descendants calls yield for each descendant of record i (not i itself), parents before
// their children, each once, until yield returns false.
func (r *Release) descendants(i uint32, yield func(uint32) bool) bool {
	var seen map[uint32]bool
	var walk func(uint32) bool
	walk = func(i uint32) bool {
		for _, c := range r.children(i) {
			if r.idx.Records[c].Class == AMPP {
				// An AMPP is reached through both its VMPP and its AMP.
				if seen == nil {
					seen = map[uint32]bool{}
				}
				if seen[c] {
					continue
				}
				seen[c] = true
			}
			if !yield(c) || !walk(c) {
				return false
			}
		}
		return true
	}
	return walk(i)
}

// finish derives what is not stored: the table kinds and the children lists.
func (r *Release) finish() {
	r.kinds = make([]attrKind, len(r.idx.Tables))
	for i, t := range r.idx.Tables {
		r.kinds[i] = tableKinds[t]
	}
	recs := r.idx.Records
	n := len(recs)
	r.chiOff = make([]uint32, n+1)
	var buf [2]uint32
	for i := range recs {
		for _, p := range r.parents(uint32(i), &buf) {
			r.chiOff[p+1]++
		}
	}
	for i := 1; i <= n; i++ {
		r.chiOff[i] += r.chiOff[i-1]
	}
	r.chi = make([]uint32, r.chiOff[n])
	next := slices.Clone(r.chiOff[:n])
	// Children are filled class by class, each class in id order.
	for class := VTM; class <= AMPP; class++ {
		for i := range recs {
			if recs[i].Class != class {
				continue
			}
			for _, p := range r.parents(uint32(i), &buf) {
				r.chi[next[p]] = uint32(i)
				next[p]++
			}
		}
	}
}
