package dmd

import (
	"bufio"
	"cmp"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Options shape a load.
type Options struct {
	// Progress, when set, is called now and then as the load advances, so a command line
	// can draw a progress bar. It runs on the loading goroutine: keep it cheap.
	Progress func(Progress)
}

// Progress reports a load under way.
type Progress struct {
	// File is the file being read.
	File string
	// BytesRead and BytesTotal count the uncompressed XML over all files.
	BytesRead, BytesTotal int64
	// Records counts the records read so far, over all files.
	Records int
}

// Load reads a dm+d release. Each path is a folder holding the XML files (in it or in its
// subfolders, loose or in zips) or a release zip; the files are recognised by name
// (f_vtm2_…, f_vmp2_…, f_vmpp2_…, f_amp2_…, f_ampp2_…, f_ingredient2_…, f_lookup2_… and,
// optionally, f_gtin2_…). A missing file, malformed XML or a record without its id fails
// the load with an error naming the file and the record; so does ctx being cancelled.
func Load(ctx context.Context, paths []string, opts Options) (*Release, error) {
	if len(paths) == 0 {
		return nil, errNoPaths
	}
	files, closeFiles, err := findFiles(paths)
	if err != nil {
		return nil, err
	}
	defer closeFiles()
	l := newLoader(ctx, opts)
	for k, f := range files {
		if f == nil {
			continue
		}
		l.total += f.Size
		// The version is the date the required files carry; the GTIN file may come from
		// another week.
		if kindRequired[k] && f.date > l.idx.Version {
			l.idx.Version = f.date
		}
	}
	for _, f := range files {
		if f == nil {
			continue
		}
		if err := l.readFile(f); err != nil {
			return nil, err
		}
	}
	return l.build()
}

// codeKey finds a lookup code: codes are integers, written with leading zeros in places.
type codeKey struct {
	table uint16
	cd    uint64
}

// owned is a value of a product given in a record of its own (a form, a route, a GTIN),
// held until the products are sorted.
type owned struct {
	owner uint64
	v     uint32
}

type ownedIng struct {
	owner uint64
	ing   ingredient
}

type loader struct {
	ctx   context.Context
	opts  Options
	total int64
	done  int64 // bytes of the files finished
	count int   // records read
	file  *xmlFile
	cr    *countingReader
	dec   *xml.Decoder
	line  int // where the record being read starts

	idx    index
	text   []byte
	strs   map[string]uint32
	tables map[string]uint16
	codes  map[codeKey]uint32
	recs   []record
	attrs  []owned
	ings   []ownedIng
	gtins  []owned
}

func newLoader(ctx context.Context, opts Options) *loader {
	l := &loader{ctx: ctx, opts: opts, strs: map[string]uint32{"": 0}, tables: map[string]uint16{}, codes: map[codeKey]uint32{}}
	l.idx.StrOff = []uint32{0, 0}
	l.idx.Codes = []code{{}}
	return l
}

// str interns a string in the arena; id 0 is the empty string.
func (l *loader) str(s string) uint32 {
	s = strings.TrimSpace(s)
	if id, ok := l.strs[s]; ok {
		return id
	}
	l.text = append(l.text, s...)
	l.idx.StrOff = append(l.idx.StrOff, uint32(len(l.text)))
	id := uint32(len(l.idx.StrOff) - 2)
	l.strs[s] = id
	return id
}

func (l *loader) table(name string) uint16 {
	t, ok := l.tables[name]
	if !ok {
		t = uint16(len(l.idx.Tables))
		l.idx.Tables = append(l.idx.Tables, name)
		l.tables[name] = t
	}
	return t
}

func (l *loader) progress() {
	if l.opts.Progress == nil {
		return
	}
	p := Progress{BytesRead: l.done, BytesTotal: l.total, Records: l.count}
	if l.file != nil {
		p.File = l.file.Name
		p.BytesRead += l.cr.n
	}
	l.opts.Progress(p)
}

// layout names what each file holds: its root element, and for each section the record
// element read from it; a flat file has its records directly under the root.
type layout struct {
	root     string
	flat     string
	sections map[string]string
}

var layouts = [numKinds]layout{
	kindLookup:     {root: "LOOKUP"}, // every section is a table of INFO records
	kindIngredient: {root: "INGREDIENT_SUBSTANCES", flat: "ING"},
	kindVTM:        {root: "VIRTUAL_THERAPEUTIC_MOIETIES", flat: "VTM"},
	kindVMP: {root: "VIRTUAL_MED_PRODUCTS", sections: map[string]string{
		"VMPS": "VMP", "VIRTUAL_PRODUCT_INGREDIENT": "VPI", "DRUG_FORM": "DFORM",
		"DRUG_ROUTE": "DROUTE", "CONTROL_DRUG_INFO": "CONTROL_INFO"}},
	kindVMPP: {root: "VIRTUAL_MED_PRODUCT_PACK", sections: map[string]string{"VMPPS": "VMPP"}},
	kindAMP: {root: "ACTUAL_MEDICINAL_PRODUCTS", sections: map[string]string{
		"AMPS": "AMP", "AP_INGREDIENT": "AP_ING", "LICENSED_ROUTE": "LIC_ROUTE"}},
	kindAMPP: {root: "ACTUAL_MEDICINAL_PROD_PACKS", sections: map[string]string{"AMPPS": "AMPP"}},
	kindGTIN: {root: "GTIN_DETAILS", sections: map[string]string{"AMPPS": "AMPP"}},
}

// readFile streams one file: the decoder walks the root and its sections token by token,
// and decodes one record at a time; sections of no use here (prices, tariff, pack
// information) are skipped.
func (l *loader) readFile(f *xmlFile) error {
	if err := l.ctx.Err(); err != nil {
		return err
	}
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("dmd: %s: %w", f.Name, err)
	}
	defer rc.Close()
	l.file, l.cr = f, &countingReader{r: rc}
	defer func() { l.done += l.cr.n; l.file = nil }()
	l.progress()
	l.dec = xml.NewDecoder(bufio.NewReaderSize(l.cr, 256<<10))
	rootSeen := false
	lay := layouts[f.kind]
	depth := 0
	section := ""
	for {
		tok, err := l.dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("dmd: %s: %w", f.Name, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			name := t.Name.Local
			switch {
			case depth == 1:
				if name != lay.root {
					return fmt.Errorf("dmd: %s: root element is <%s>, want <%s>", f.Name, name, lay.root)
				}
				rootSeen = true
				continue
			case depth == 2 && lay.flat != "":
				err = l.record(f.kind, "", t, name == lay.flat)
			case depth == 2:
				section = name
				if _, ok := lay.sections[name]; ok || f.kind == kindLookup {
					continue
				}
				err = l.skip()
			default:
				want := lay.sections[section]
				err = l.record(f.kind, section, t, name == want || f.kind == kindLookup && name == "INFO")
			}
			if err != nil {
				return err
			}
			depth-- // the element has been read to its end
		case xml.EndElement:
			depth--
		}
	}
	if !rootSeen {
		return fmt.Errorf("dmd: %s: no <%s> element (empty file?)", f.Name, lay.root)
	}
	l.progress()
	return nil
}

// record reads one record, or skips an element that is not one.
func (l *loader) record(kind fileKind, section string, se xml.StartElement, wanted bool) error {
	if !wanted {
		return l.skip()
	}
	l.line, _ = l.dec.InputPos()
	l.count++
	if l.count&1023 == 0 {
		if err := l.ctx.Err(); err != nil {
			return err
		}
		l.progress()
	}
	var err error
	switch kind {
	case kindLookup:
		err = l.lookup(section, se)
	case kindIngredient:
		err = l.ingredient(se)
	case kindVTM:
		err = l.vtm(se)
	case kindVMP:
		err = l.vmpFile(se)
	case kindVMPP:
		err = l.vmpp(se)
	case kindAMP:
		err = l.ampFile(se)
	case kindAMPP:
		err = l.ampp(se)
	case kindGTIN:
		err = l.gtin(se)
	}
	return err
}

func (l *loader) skip() error {
	if err := l.dec.Skip(); err != nil {
		return fmt.Errorf("dmd: %s: %w", l.file.Name, err)
	}
	return nil
}

// decode reads the record starting at se into v.
func (l *loader) decode(v any, se xml.StartElement) error {
	if err := l.dec.DecodeElement(v, &se); err != nil {
		var syn *xml.SyntaxError
		if errors.As(err, &syn) {
			return fmt.Errorf("dmd: %s: %w", l.file.Name, err)
		}
		return fmt.Errorf("dmd: %s: <%s> at line %d: %w", l.file.Name, se.Name.Local, l.line, err)
	}
	return nil
}

// recordError describes a bad record by file, element, line and name.
func (l *loader) recordError(elem, name, format string, args ...any) error {
	what := fmt.Sprintf("<%s> at line %d", elem, l.line)
	if name = strings.TrimSpace(name); name != "" {
		what += fmt.Sprintf(" (%q)", name)
	}
	return fmt.Errorf("dmd: %s: %s: %s", l.file.Name, what, fmt.Sprintf(format, args...))
}

// id reads a record's own identifier, which it must have.
func (l *loader) id(elem, field, v, name string) (uint64, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, l.recordError(elem, name, "no %s", field)
	}
	id, err := strconv.ParseUint(v, 10, 64)
	if err != nil || id == 0 {
		return 0, l.recordError(elem, name, "%s %q is not an identifier", field, v)
	}
	return id, nil
}

// optID reads an identifier the record may lack (0).
func (l *loader) optID(elem, field, v, name string) (uint64, error) {
	if strings.TrimSpace(v) == "" {
		return 0, nil
	}
	return l.id(elem, field, v, name)
}

func flag(v string) bool {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	return err == nil && n != 0
}

// code finds a lookup code by table and code as written; a code the lookup file lacks is
// kept with no description.
func (l *loader) code(table, cd, elem, field, name string) (uint32, error) {
	cd = strings.TrimSpace(cd)
	if cd == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(cd, 10, 64)
	if err != nil {
		return 0, l.recordError(elem, name, "%s %q is not a code", field, cd)
	}
	key := codeKey{l.table(table), n}
	if c, ok := l.codes[key]; ok {
		return c, nil
	}
	c := uint32(len(l.idx.Codes))
	l.idx.Codes = append(l.idx.Codes, code{Table: key.table, CD: l.str(cd)})
	l.codes[key] = c
	return c, nil
}

// number reads a decimal (a strength, a quantity) into its shortest form, "500" for
// "500.000".
func (l *loader) number(v, elem, field, name string) (uint32, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, l.recordError(elem, name, "%s %q is not a number", field, v)
	}
	return l.str(strconv.FormatFloat(f, 'f', -1, 64)), nil
}

func (l *loader) attr(owner uint64, c uint32) {
	if c != 0 {
		l.attrs = append(l.attrs, owned{owner, c})
	}
}

type infoXML struct {
	CD      string `xml:"CD"`
	CDPrev  string `xml:"CDPREV"`
	Desc    string `xml:"DESC"`
	Invalid string `xml:"INVALID"`
}

func (l *loader) lookup(table string, se xml.StartElement) error {
	var v infoXML
	if err := l.decode(&v, se); err != nil {
		return err
	}
	cd := strings.TrimSpace(v.CD)
	n, err := strconv.ParseUint(cd, 10, 64)
	if err != nil {
		return l.recordError(table+"/INFO", v.Desc, "CD %q is not a code", cd)
	}
	key := codeKey{l.table(table), n}
	if _, dup := l.codes[key]; dup {
		// A code listed twice keeps its first description: one stray row of a table the
		// release's publisher maintains should not keep a whole week's release out.
		return nil
	}
	c := uint32(len(l.idx.Codes))
	l.idx.Codes = append(l.idx.Codes, code{Table: key.table, CD: l.str(cd), Desc: l.str(v.Desc), Invalid: flag(v.Invalid)})
	l.codes[key] = c
	if prev, err := strconv.ParseUint(strings.TrimSpace(v.CDPrev), 10, 64); err == nil {
		// Products are kept up to date with the current code, but an older one still finds
		// its description.
		if _, ok := l.codes[codeKey{key.table, prev}]; !ok {
			l.codes[codeKey{key.table, prev}] = c
		}
	}
	return nil
}

type ingXML struct {
	ID      string `xml:"ISID"`
	Invalid string `xml:"INVALID"`
	Name    string `xml:"NM"`
}

func (l *loader) ingredient(se xml.StartElement) error {
	var v ingXML
	if err := l.decode(&v, se); err != nil {
		return err
	}
	id, err := l.id("ING", "ISID", v.ID, v.Name)
	if err != nil {
		return err
	}
	l.idx.Substances = append(l.idx.Substances, substance{ID: id, Name: l.str(v.Name), Invalid: flag(v.Invalid)})
	return nil
}

type vtmXML struct {
	ID      string `xml:"VTMID"`
	Invalid string `xml:"INVALID"`
	Name    string `xml:"NM"`
	Abbrev  string `xml:"ABBREVNM"`
	Prev    string `xml:"VTMIDPREV"`
}

func (l *loader) vtm(se xml.StartElement) error {
	var v vtmXML
	if err := l.decode(&v, se); err != nil {
		return err
	}
	id, err := l.id("VTM", "VTMID", v.ID, v.Name)
	if err != nil {
		return err
	}
	prev, err := l.optID("VTM", "VTMIDPREV", v.Prev, v.Name)
	if err != nil {
		return err
	}
	l.recs = append(l.recs, record{ID: id, Prev: prev, Name: l.str(v.Name), Abbrev: l.str(v.Abbrev), Class: VTM, Invalid: flag(v.Invalid)})
	return nil
}

type vmpXML struct {
	ID         string `xml:"VPID"`
	Prev       string `xml:"VPIDPREV"`
	VTM        string `xml:"VTMID"`
	Invalid    string `xml:"INVALID"`
	Name       string `xml:"NM"`
	Abbrev     string `xml:"ABBREVNM"`
	Basis      string `xml:"BASISCD"`
	PresStatus string `xml:"PRES_STATCD"`
	NonAvail   string `xml:"NON_AVAILCD"`
}

type vpiXML struct {
	VMP      string `xml:"VPID"`
	ISID     string `xml:"ISID"`
	Basis    string `xml:"BASIS_STRNTCD"`
	BSSub    string `xml:"BS_SUBID"`
	Num      string `xml:"STRNT_NMRTR_VAL"`
	NumUnit  string `xml:"STRNT_NMRTR_UOMCD"`
	Den      string `xml:"STRNT_DNMTR_VAL"`
	DenUnit  string `xml:"STRNT_DNMTR_UOMCD"`
	Form     string `xml:"FORMCD"`
	Route    string `xml:"ROUTECD"`
	Category string `xml:"CATCD"`
}

// vmpFile reads the records of the VMP file: VMPs, and their ingredients, forms, routes
// and controlled drug categories, each keyed by VPID.
func (l *loader) vmpFile(se xml.StartElement) error {
	elem := se.Name.Local
	if elem == "VMP" {
		return l.vmp(se)
	}
	var v vpiXML
	if err := l.decode(&v, se); err != nil {
		return err
	}
	owner, err := l.id(elem, "VPID", v.VMP, "")
	if err != nil {
		return err
	}
	var c uint32
	switch elem {
	case "VPI":
		return l.strength(owner, elem, v.ISID, v.Num, v.NumUnit, v.Den, v.DenUnit, v.Basis, v.BSSub)
	case "DFORM":
		c, err = l.code("FORM", v.Form, elem, "FORMCD", "")
	case "DROUTE":
		c, err = l.code("ROUTE", v.Route, elem, "ROUTECD", "")
	case "CONTROL_INFO":
		c, err = l.code("CONTROL_DRUG_CATEGORY", v.Category, elem, "CATCD", "")
	}
	l.attr(owner, c)
	return err
}

// strength takes an ingredient (VPI) or excipient (AP_ING) with its strength.
func (l *loader) strength(owner uint64, elem, isid, num, numUnit, den, denUnit, basis, bsSub string) error {
	var g ingredient
	var err error
	if g.ISID, err = l.id(elem, "ISID", isid, ""); err != nil {
		return err
	}
	if g.BSSub, err = l.optID(elem, "BS_SUBID", bsSub, ""); err != nil {
		return err
	}
	if g.Num, err = l.number(num, elem, "strength", ""); err != nil {
		return err
	}
	if g.Den, err = l.number(den, elem, "strength denominator", ""); err != nil {
		return err
	}
	if g.NumUnit, err = l.code("UNIT_OF_MEASURE", numUnit, elem, "strength unit", ""); err != nil {
		return err
	}
	if g.DenUnit, err = l.code("UNIT_OF_MEASURE", denUnit, elem, "strength denominator unit", ""); err != nil {
		return err
	}
	if g.Basis, err = l.code("BASIS_OF_STRNTH", basis, elem, "BASIS_STRNTCD", ""); err != nil {
		return err
	}
	l.ings = append(l.ings, ownedIng{owner, g})
	return nil
}

func (l *loader) vmp(se xml.StartElement) error {
	var v vmpXML
	if err := l.decode(&v, se); err != nil {
		return err
	}
	rec := record{Class: VMP, Name: l.str(v.Name), Abbrev: l.str(v.Abbrev), Invalid: flag(v.Invalid)}
	var err error
	if rec.ID, err = l.id("VMP", "VPID", v.ID, v.Name); err != nil {
		return err
	}
	if rec.Prev, err = l.optID("VMP", "VPIDPREV", v.Prev, v.Name); err != nil {
		return err
	}
	if rec.Link[0], err = l.optID("VMP", "VTMID", v.VTM, v.Name); err != nil {
		return err
	}
	for _, a := range [...]struct{ table, cd, field string }{
		{"BASIS_OF_NAME", v.Basis, "BASISCD"},
		{"VIRTUAL_PRODUCT_PRES_STATUS", v.PresStatus, "PRES_STATCD"},
		{"VIRTUAL_PRODUCT_NON_AVAIL", v.NonAvail, "NON_AVAILCD"},
	} {
		c, err := l.code(a.table, a.cd, "VMP", a.field, v.Name)
		if err != nil {
			return err
		}
		l.attr(rec.ID, c)
	}
	l.recs = append(l.recs, rec)
	return nil
}

type vmppXML struct {
	ID      string `xml:"VPPID"`
	Invalid string `xml:"INVALID"`
	Name    string `xml:"NM"`
	Abbrev  string `xml:"ABBREVNM"`
	VMP     string `xml:"VPID"`
	Qty     string `xml:"QTYVAL"`
	Unit    string `xml:"QTY_UOMCD"`
}

func (l *loader) vmpp(se xml.StartElement) error {
	var v vmppXML
	if err := l.decode(&v, se); err != nil {
		return err
	}
	rec := record{Class: VMPP, Name: l.str(v.Name), Abbrev: l.str(v.Abbrev), Invalid: flag(v.Invalid)}
	var err error
	if rec.ID, err = l.id("VMPP", "VPPID", v.ID, v.Name); err != nil {
		return err
	}
	if rec.Link[0], err = l.id("VMPP", "VPID", v.VMP, v.Name); err != nil {
		return err
	}
	if rec.Qty, err = l.number(v.Qty, "VMPP", "QTYVAL", v.Name); err != nil {
		return err
	}
	c, err := l.code("UNIT_OF_MEASURE", v.Unit, "VMPP", "QTY_UOMCD", v.Name)
	if err != nil {
		return err
	}
	l.attr(rec.ID, c)
	l.recs = append(l.recs, rec)
	return nil
}

type ampXML struct {
	ID       string `xml:"APID"`
	Invalid  string `xml:"INVALID"`
	VMP      string `xml:"VPID"`
	Name     string `xml:"NM"`
	Abbrev   string `xml:"ABBREVNM"`
	Desc     string `xml:"DESC"`
	Supplier string `xml:"SUPPCD"`
	LicAuth  string `xml:"LIC_AUTHCD"`
	Restrict string `xml:"AVAIL_RESTRICTCD"`
}

type apXML struct {
	AMP      string `xml:"APID"`
	ISID     string `xml:"ISID"`
	Strength string `xml:"STRNTH"`
	Unit     string `xml:"UOMCD"`
	Route    string `xml:"ROUTECD"`
}

// ampFile reads the records of the AMP file: AMPs, their excipients and licensed routes.
func (l *loader) ampFile(se xml.StartElement) error {
	elem := se.Name.Local
	if elem == "AMP" {
		return l.amp(se)
	}
	var v apXML
	if err := l.decode(&v, se); err != nil {
		return err
	}
	owner, err := l.id(elem, "APID", v.AMP, "")
	if err != nil {
		return err
	}
	if elem == "AP_ING" {
		return l.strength(owner, elem, v.ISID, v.Strength, v.Unit, "", "", "", "")
	}
	c, err := l.code("ROUTE", v.Route, elem, "ROUTECD", "")
	l.attr(owner, c)
	return err
}

func (l *loader) amp(se xml.StartElement) error {
	var v ampXML
	if err := l.decode(&v, se); err != nil {
		return err
	}
	rec := record{Class: AMP, Name: l.str(v.Name), Abbrev: l.str(v.Abbrev), Desc: l.str(v.Desc), Invalid: flag(v.Invalid)}
	var err error
	if rec.ID, err = l.id("AMP", "APID", v.ID, v.Name); err != nil {
		return err
	}
	if rec.Link[0], err = l.id("AMP", "VPID", v.VMP, v.Name); err != nil {
		return err
	}
	for _, a := range [...]struct{ table, cd, field string }{
		{"SUPPLIER", v.Supplier, "SUPPCD"},
		{"LICENSING_AUTHORITY", v.LicAuth, "LIC_AUTHCD"},
		{"AVAILABILITY_RESTRICTION", v.Restrict, "AVAIL_RESTRICTCD"},
	} {
		c, err := l.code(a.table, a.cd, "AMP", a.field, v.Name)
		if err != nil {
			return err
		}
		l.attr(rec.ID, c)
	}
	l.recs = append(l.recs, rec)
	return nil
}

type amppXML struct {
	ID           string `xml:"APPID"`
	Invalid      string `xml:"INVALID"`
	Name         string `xml:"NM"`
	Abbrev       string `xml:"ABBREVNM"`
	VMPP         string `xml:"VPPID"`
	AMP          string `xml:"APID"`
	Legal        string `xml:"LEGAL_CATCD"`
	Discontinued string `xml:"DISCCD"`
}

func (l *loader) ampp(se xml.StartElement) error {
	var v amppXML
	if err := l.decode(&v, se); err != nil {
		return err
	}
	rec := record{Class: AMPP, Name: l.str(v.Name), Abbrev: l.str(v.Abbrev), Invalid: flag(v.Invalid)}
	var err error
	if rec.ID, err = l.id("AMPP", "APPID", v.ID, v.Name); err != nil {
		return err
	}
	if rec.Link[0], err = l.id("AMPP", "VPPID", v.VMPP, v.Name); err != nil {
		return err
	}
	if rec.Link[1], err = l.id("AMPP", "APID", v.AMP, v.Name); err != nil {
		return err
	}
	for _, a := range [...]struct{ table, cd, field string }{
		{"LEGAL_CATEGORY", v.Legal, "LEGAL_CATCD"},
		{"DISCONTINUED_IND", v.Discontinued, "DISCCD"},
	} {
		c, err := l.code(a.table, a.cd, "AMPP", a.field, v.Name)
		if err != nil {
			return err
		}
		l.attr(rec.ID, c)
	}
	l.recs = append(l.recs, rec)
	return nil
}

type gtinXML struct {
	AMPP string `xml:"AMPPID"`
	Data []struct {
		GTIN string `xml:"GTIN"`
		End  string `xml:"ENDDT"`
	} `xml:"GTINDATA"`
}

// gtin takes an AMPP's bar codes; those with an end date are no longer printed on packs
// and are left out.
func (l *loader) gtin(se xml.StartElement) error {
	var v gtinXML
	if err := l.decode(&v, se); err != nil {
		return err
	}
	owner, err := l.id("AMPP", "AMPPID", v.AMPP, "")
	if err != nil {
		return err
	}
	for _, d := range v.Data {
		if g := strings.TrimSpace(d.GTIN); g != "" && strings.TrimSpace(d.End) == "" {
			l.gtins = append(l.gtins, owned{owner, l.str(g)})
		}
	}
	return nil
}

// build sorts the products and puts the values read separately beside them.
func (l *loader) build() (*Release, error) {
	slices.SortFunc(l.recs, func(a, b record) int { return cmp.Compare(a.ID, b.ID) })
	for i := 1; i < len(l.recs); i++ {
		if a, b := l.recs[i-1], l.recs[i]; a.ID == b.ID {
			return nil, fmt.Errorf("dmd: product %d appears twice (as %s and as %s)", a.ID, a.Class, b.Class)
		}
	}
	slices.SortStableFunc(l.idx.Substances, func(a, b substance) int { return cmp.Compare(a.ID, b.ID) })
	for i := 1; i < len(l.idx.Substances); i++ {
		if l.idx.Substances[i-1].ID == l.idx.Substances[i].ID {
			return nil, fmt.Errorf("dmd: ingredient substance %d appears twice", l.idx.Substances[i].ID)
		}
	}
	r := &Release{}
	r.idx = l.idx
	r.idx.Records = l.recs
	r.idx.Text = string(l.text)
	l.strs, l.text = nil, nil
	// Values of products the release does not hold (an ingredient of a VMP missing from the
	// VMP list) have no product to attach to and are dropped.
	r.idx.AttrOff, r.idx.Attrs = csr(r, l.attrs, func(o owned) uint64 { return o.owner }, func(o owned) uint32 { return o.v })
	r.idx.IngOff, r.idx.Ings = csr(r, l.ings, func(o ownedIng) uint64 { return o.owner }, func(o ownedIng) ingredient { return o.ing })
	r.idx.GTINOff, r.idx.GTINs = csr(r, l.gtins, func(o owned) uint64 { return o.owner }, func(o owned) uint32 { return o.v })
	r.finish()
	return r, nil
}

// csr groups values by product, keeping their order in the release.
func csr[T, V any](r *Release, items []T, owner func(T) uint64, value func(T) V) ([]uint32, []V) {
	n := len(r.idx.Records)
	off := make([]uint32, n+1)
	at := make([]int32, len(items))
	for k, it := range items {
		i, ok := r.find(owner(it))
		if !ok {
			at[k] = -1
			continue
		}
		at[k] = int32(i)
		off[i+1]++
	}
	for i := 1; i <= n; i++ {
		off[i] += off[i-1]
	}
	out := make([]V, off[n])
	next := slices.Clone(off[:n])
	for k, it := range items {
		if i := at[k]; i >= 0 {
			out[next[i]] = value(it)
			next[i]++
		}
	}
	return off, out
}
