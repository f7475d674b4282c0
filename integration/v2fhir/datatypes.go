package v2fhir

import (
	"regexp"
	"strings"
)

// humanName maps an XPN (XPN[HumanName]); nil when it holds no name.
func (m *mapper) humanName(v val) obj {
	n := obj{}
	if f := v.c(1).s(); f != "" {
		n["family"] = f
	}
	var given []any
	for _, g := range []string{v.c(2).s(), v.c(3).s()} {
		if g != "" {
			given = append(given, g)
		}
	}
	if len(given) > 0 {
		n["given"] = given
	}
	var suffix []any
	for _, s := range []string{v.c(4).s(), v.c(6).s(), v.c(14).s()} {
		if s != "" {
			suffix = append(suffix, s)
		}
	}
	if len(suffix) > 0 {
		n["suffix"] = suffix
	}
	if p := v.c(5).s(); p != "" {
		n["prefix"] = []any{p}
	}
	if len(n) == 0 {
		return nil
	}
	if u, ok := nameUse[strings.ToUpper(v.c(7).s())]; ok {
		n["use"] = u
	}
	if p := m.period(v.c(12).s(), v.c(13).s()); p != nil {
		n["period"] = p
	}
	n["text"] = nameText(n)
	return n
}

// xcnName is the name part of an XCN (components 2 to 6).
func (m *mapper) xcnName(v val) obj {
	n := obj{}
	if f := v.c(2).s(); f != "" {
		n["family"] = f
	}
	var given []any
	for _, g := range []string{v.c(3).s(), v.c(4).s()} {
		if g != "" {
			given = append(given, g)
		}
	}
	if len(given) > 0 {
		n["given"] = given
	}
	if s := v.c(5).s(); s != "" {
		n["suffix"] = []any{s}
	}
	if p := v.c(6).s(); p != "" {
		n["prefix"] = []any{p}
	}
	if len(n) == 0 {
		return nil
	}
	n["text"] = nameText(n)
	return n
}

func nameText(n obj) string {
	var parts []string
	add := func(k string) {
		switch x := n[k].(type) {
		case string:
			parts = append(parts, x)
		case []any:
			for _, p := range x {
				parts = append(parts, p.(string))
			}
		}
	}
	add("prefix")
	add("given")
	add("family")
	add("suffix")
	return strings.Join(parts, " ")
}

// period builds a Period from two DTMs, leaving out ones that do not parse
// (periods of names and addresses are not worth rejecting a message for).
func (m *mapper) period(start, end string) obj {
	p := obj{}
	if d, ok := parseDTM(start, m.o.TimeZone); ok && start != "" {
		p["start"] = d.dateTime()
	}
	if d, ok := parseDTM(end, m.o.TimeZone); ok && end != "" {
		p["end"] = d.dateTime()
	}
	if s, e := p["start"], p["end"]; s != nil && e != nil && s.(string) > e.(string) {
		delete(p, "end")
	}
	if len(p) == 0 {
		return nil
	}
	return p
}

// address maps an XAD (XAD[Address]).
func (m *mapper) address(v val) obj {
	a := obj{}
	var lines []any
	for _, l := range []string{v.c(1).sc(1).s(), v.c(2).s(), v.c(19).s()} {
		if l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > 0 {
		a["line"] = lines
	}
	set := func(k, x string) {
		if x != "" {
			a[k] = x
		}
	}
	set("city", v.c(3).s())
	set("state", v.c(4).s())
	set("postalCode", v.c(5).s())
	set("country", v.c(6).s())
	set("district", v.c(9).s())
	if len(a) == 0 {
		return nil
	}
	t := strings.ToUpper(v.c(7).s())
	if u, ok := addressUse[t]; ok {
		a["use"] = u
	}
	if t == "M" || t == "SH" {
		a["type"] = "postal"
	}
	if p := m.period(v.c(13).s(), v.c(14).s()); p != nil {
		a["period"] = p
	}
	return a
}

var emailRe = regexp.MustCompile(`^[^@\s]+@[^@\s]+$`)

// contactPoint maps an XTN (XTN[ContactPoint]); defUse applies when XTN-2
// is empty (PID-13 is home, PID-14 work).
func (m *mapper) contactPoint(v val, defUse string) obj {
	equip := strings.ToUpper(v.c(3).s())
	value := ""
	switch {
	case equip == "INTERNET" || equip == "X.400":
		value = v.c(4).s()
	case v.c(12).s() != "":
		value = v.c(12).s()
	case v.c(7).s() != "":
		value = strings.TrimSpace(strings.Join(nonEmpty(prefixed("+", v.c(5).s()), v.c(6).s(), v.c(7).s()), " "))
		if x := v.c(8).s(); x != "" {
			value += " X" + x
		}
	default:
		value = v.c(1).s()
		if value == "" {
			value = v.c(4).s()
		}
	}
	if value == "" {
		return nil
	}
	cp := obj{"value": value}
	sys, ok := telecomSystem[equip]
	switch {
	case ok:
	case emailRe.MatchString(value):
		sys = "email"
	default:
		sys = "phone"
	}
	cp["system"] = sys
	use := telecomUse[strings.ToUpper(v.c(2).s())]
	if equip == "CP" {
		use = "mobile"
	}
	if use == "" && v.c(2).s() == "" {
		use = defUse
	}
	if use != "" {
		cp["use"] = use
	}
	return cp
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// oidRe is an ISO OID, the universal id an HD may carry.
var oidRe = regexp.MustCompile(`^[0-2](\.(0|[1-9][0-9]*))+$`)

// hdSystem is the system an HD names when it carries an ISO OID.
func hdSystem(h val) string {
	id, typ := h.sc(2).s(), strings.ToUpper(h.sc(3).s())
	if id != "" && typ == "ISO" && oidRe.MatchString(id) {
		return "urn:oid:" + id
	}
	return ""
}

// table0203 is the shape of HL7 table 0203 codes; anything else in CX-5 is
// a misplaced component, not a type.
var table0203 = regexp.MustCompile(`^[A-Z][A-Z0-9]{0,5}$`)

// typeCoding is an identifier type from HL7 table 0203.
func typeCoding(code string) obj {
	if !table0203.MatchString(code) {
		return nil
	}
	return obj{"coding": []any{coding(identifierType, code, "")}}
}

// ---- practitioners and organisations ----

// practitionerSystems maps XCN-9 assigning authorities (and XCN-13 identifier
// types) of the UK registers, and the US NPI, to their systems.
var practitionerSystems = map[string]string{
	"GMC": "https://fhir.hl7.org.uk/Id/gmc-number", "GMP": "https://fhir.hl7.org.uk/Id/gmp-number",
	"GNC": "https://fhir.hl7.org.uk/Id/gnc-codes", "NMC": "https://fhir.hl7.org.uk/Id/nmc-number",
	"HCPC": "https://fhir.hl7.org.uk/Id/hcpc-number", "GDC": "https://fhir.hl7.org.uk/Id/gdc-number",
	"GPHC": "https://fhir.hl7.org.uk/Id/gphc-number", "SDS": "https://fhir.nhs.uk/Id/sds-user-id",
	"NPI": "http://hl7.org/fhir/sid/us-npi",
}

// practitioner maps an XCN (XCN[Practitioner]) to a Practitioner found or
// created by its identifier, and returns the reference. Without an id the
// person cannot be found again, so the reference carries only the name.
func (m *mapper) practitioner(v val) obj {
	name := m.xcnName(v)
	id := v.c(1).s()
	if id == "" {
		if name == nil {
			return nil
		}
		return obj{"display": name["text"]}
	}
	sys := practitionerSystems[strings.ToUpper(v.c(9).sc(1).s())]
	if sys == "" {
		sys = practitionerSystems[strings.ToUpper(v.c(13).s())]
	}
	if sys == "" {
		sys = hdSystem(v.c(9))
	}
	if sys == "" {
		sys = m.o.PractitionerSystem
	}
	ident := obj{"system": sys, "value": id}
	if t := typeCoding(v.c(13).s()); t != nil {
		ident["type"] = t
	}
	p := obj{"identifier": []any{ident}, "active": true}
	if name != nil {
		p["name"] = []any{name}
	}
	if q := v.c(7).s(); q != "" {
		p["qualification"] = []any{obj{"code": obj{"coding": []any{coding(v2Prefix+"0360", q, "")}}}}
	}
	ref := m.b.ensure("Practitioner", sys+"|"+id, identifierQuery([2]string{sys, id}), p)
	if name != nil {
		ref["display"] = name["text"]
	}
	return ref
}

// odsCode matches the shape of ODS organisation and site codes.
var odsCode = regexp.MustCompile(`^[A-Z0-9]{3,6}$`)

// organization finds or creates an Organization by ODS code.
func (m *mapper) organization(ods, name string) obj {
	o := obj{"identifier": []any{obj{"system": ODSOrgSystem, "value": ods}}, "active": true}
	if name != "" {
		o["name"] = name
	}
	ref := m.b.ensure("Organization", ODSOrgSystem+"|"+ods, identifierQuery([2]string{ODSOrgSystem, ods}), o)
	if name != "" {
		ref["display"] = name
	}
	return ref
}

// xonOrganization maps an XON (XON[Organization]): an ODS code in XON-10
// (or XON-3) whose assigning authority is ODS/NHS, or that has the shape of
// one and no other authority, becomes an Organization (a GP practice in
// PD1-3); otherwise the name and identifier are kept in the reference.
func (m *mapper) xonOrganization(v val) obj {
	name := v.c(1).s()
	id := v.c(10).s()
	if id == "" {
		id = v.c(3).s()
	}
	auth := strings.ToUpper(v.c(6).sc(1).s())
	if id != "" && (auth == "ODS" || auth == "NHS" || auth == "" && odsCode.MatchString(strings.ToUpper(id))) {
		return m.organization(strings.ToUpper(id), name)
	}
	if name == "" && id == "" {
		return nil
	}
	ref := obj{}
	if name != "" {
		ref["display"] = name
	}
	if id != "" {
		ident := obj{"value": id}
		if s := hdSystem(v.c(6)); s != "" {
			ident["system"] = s
		}
		ref["identifier"] = ident
	}
	return ref
}

// ---- locations ----

// location maps a PL (PL[Location]) to the Locations it names, each found or
// created by an identifier made of the levels above it (ward, ward/room,
// ward/room/bed), linked by partOf, and returns the most specific one.
func (m *mapper) location(v val) obj {
	levels := []struct {
		comp      int
		phys, txt string
	}{{4, "si", "Site"}, {1, "wa", "Ward"}, {2, "ro", "Room"}, {3, "bd", "Bed"}}
	sys := m.o.local("location")
	var parent obj
	var path []string
	for _, l := range levels {
		id := v.c(l.comp).sc(1).s()
		if id == "" {
			continue
		}
		path = append(path, id)
		key := strings.Join(path, "/")
		loc := obj{
			"identifier":   []any{obj{"system": sys, "value": key}},
			"status":       "active",
			"name":         id,
			"mode":         "instance",
			"physicalType": obj{"coding": []any{coding(locPhysType, l.phys, l.txt)}},
		}
		if d := v.c(9).s(); d != "" && l.comp != 4 {
			loc["description"] = d
		}
		if parent != nil {
			loc["partOf"] = obj{"reference": parent["reference"]}
		}
		parent = m.b.ensure("Location", sys+"|"+key, identifierQuery([2]string{sys, key}), loc)
		parent["display"] = key
	}
	return parent
}
