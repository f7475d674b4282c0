package v2fhir

import (
	"fmt"
	"strings"

	"github.com/concord-health/concord/fhir/validation"
	"github.com/concord-health/concord/integration/hl7v2"
)

// patientIDs are the identifiers of a PID, split into those the patient is
// matched by.
type patientIDs struct {
	all     []any
	nhs     string // a valid NHS number
	locals  []string
	invalid []string
}

// isNHS reports whether a CX is flagged as an NHS number: identifier type NH,
// or an assigning authority of NHS or the NHS number OID.
func isNHS(v val) bool {
	t := strings.ToUpper(v.c(5).s())
	a := strings.ToUpper(v.c(4).sc(1).s())
	return t == "NH" || t == "NHS" || a == "NHS" || a == "NHSNBR" || v.c(4).sc(2).s() == "2.16.840.1.113883.2.1.4.1"
}

// identifiers maps the CX repetitions of PID-3 (and an NHS number sent in
// PID-2, as older UK feeds do). NHS numbers passing Modulus 11 go under the
// national system. One failing it is kept, with no system so nothing matches
// or trusts it, typed NH and marked in its text, and reported as a warning:
// putting it under the national system would make the resource invalid and
// could link the record to someone else.
func (m *mapper) identifiers(pid *hl7v2.Segment) patientIDs {
	var ids patientIDs
	seen := map[string]bool{}
	vals := reps(pid, m.d, 3)
	for _, v := range reps(pid, m.d, 2) {
		if isNHS(v) {
			vals = append(vals, v)
		}
	}
	for _, v := range vals {
		value := strings.ReplaceAll(v.c(1).s(), " ", "")
		if value == "" {
			continue
		}
		typ := strings.ToUpper(v.c(5).s())
		ident := obj{}
		switch {
		case isNHS(v) && validation.ValidNHSNumber(value):
			ident["system"], ident["value"] = NHSNumberSystem, value
			ident["type"] = typeCoding("NH")
			if ids.nhs == "" {
				ids.nhs = value
			}
		case isNHS(v):
			ident["value"], ident["use"] = value, "secondary"
			ident["type"] = obj{"coding": []any{coding(identifierType, "NH", "")},
				"text": "NHS number failing the Modulus 11 check"}
			ids.invalid = append(ids.invalid, value)
			m.warn("%s: %q is not a valid NHS number (Modulus 11); kept without the NHS number system", "PID-3", value)
		case typ == "" || typ == "MR" || typ == "PI" || typ == "PT" || typ == "MRN" || typ == "PN":
			value = v.c(1).s()
			ident["system"], ident["value"] = m.o.MRNSystem, value
			ident["type"] = typeCoding(orDefault(typ, "MR"))
			ids.locals = append(ids.locals, value)
		default:
			value = v.c(1).s()
			ident["value"] = value
			if s := hdSystem(v.c(4)); s != "" {
				ident["system"] = s
			}
			ident["type"] = typeCoding(typ)
		}
		if a := v.c(4).sc(1).s(); a != "" {
			ident["assigner"] = obj{"display": a}
		}
		if p := m.period(v.c(7).s(), v.c(8).s()); p != nil {
			ident["period"] = p
		}
		k := fmt.Sprint(ident["system"], "|", value)
		if seen[k] {
			continue
		}
		seen[k] = true
		ids.all = append(ids.all, ident)
	}
	return ids
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// mapPatient maps PID (with PD1, NK1 and ROL) to the Patient and sets
// m.patientRef. ADT messages update the Patient; others only create it when
// absent.
func (m *mapper) mapPatient(update bool) error {
	pid := m.msg.Segment("PID")
	if pid == nil {
		return errorf(hl7v2.CodeSegmentSequence, "PID", "the message has no PID segment")
	}
	ids := m.identifiers(pid)
	if len(ids.locals) == 0 && ids.nhs == "" {
		if len(ids.all) == 0 && len(ids.invalid) == 0 {
			return errorf(hl7v2.CodeRequiredFieldMissing, "PID-3", "no patient identifier")
		}
		return errorf(hl7v2.CodeRequiredFieldMissing, "PID-3", "no local patient identifier (type MR/PI) or valid NHS number to find the patient by")
	}
	// The patient is matched by NHS number or MRN (an OR search), so a record
	// created before the NHS number was traced is found and updated.
	var match [][2]string
	if ids.nhs != "" {
		match = append(match, [2]string{NHSNumberSystem, ids.nhs})
	}
	if len(ids.locals) > 0 {
		m.mrn = ids.locals[0]
		match = append(match, [2]string{m.o.MRNSystem, m.mrn})
		m.patientKey = m.o.MRNSystem + "|" + m.mrn
	} else {
		m.patientKey = NHSNumberSystem + "|" + ids.nhs
	}
	p := obj{"identifier": ids.all, "active": true}
	if err := m.demographics(pid, p); err != nil {
		return err
	}
	p["managingOrganization"] = m.sender()
	if update {
		m.patientRef = m.b.upsert("Patient", m.patientKey, identifierQuery(match...), p)
	} else {
		m.patientRef = m.b.ensure("Patient", m.patientKey, identifierQuery(match...), p)
	}
	if err := m.mapPD1(p); err != nil {
		return err
	}
	if err := m.mapNextOfKin(p); err != nil {
		return err
	}
	return nil
}

// demographics fills a Patient from PID (PID[Patient]).
func (m *mapper) demographics(pid *hl7v2.Segment, p obj) error {
	var names []any
	for _, v := range reps(pid, m.d, 5) {
		if n := m.humanName(v); n != nil {
			names = append(names, n)
		}
	}
	for _, v := range reps(pid, m.d, 9) {
		if n := m.humanName(v); n != nil {
			if _, ok := n["use"]; !ok {
				n["use"] = "nickname"
			}
			names = append(names, n)
		}
	}
	if len(names) > 0 {
		p["name"] = names
	}
	var ext []any
	if mm := field(pid, m.d, 6).s(); mm != "" {
		ext = append(ext, obj{"url": "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName", "valueString": mm})
	}
	if b := field(pid, m.d, 7).s(); b != "" {
		d, ok, err := m.dtmAt(b, "PID-7")
		if err != nil {
			return err
		}
		if ok {
			p["birthDate"] = d.date()
			if d.digits > 8 {
				// The time of birth goes in the core extension on birthDate.
				p["_birthDate"] = obj{"extension": []any{obj{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime": d.dateTime()}}}
			}
		}
	}
	if g := strings.ToUpper(field(pid, m.d, 8).s()); g != "" {
		if fg, ok := genderMap[g]; ok {
			p["gender"] = fg
		} else {
			m.warn("PID-8: administrative sex %q is not in table 0001; left out", g)
		}
	}
	var addrs []any
	for _, v := range reps(pid, m.d, 11) {
		if a := m.address(v); a != nil {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) > 0 {
		p["address"] = addrs
	}
	var tel []any
	for _, f := range []struct {
		n   int
		use string
	}{{13, "home"}, {14, "work"}, {40, ""}} {
		for _, v := range reps(pid, m.d, f.n) {
			if cp := m.contactPoint(v, f.use); cp != nil {
				tel = append(tel, cp)
			}
		}
	}
	if len(tel) > 0 {
		p["telecom"] = tel
	}
	if l := codeable(field(pid, m.d, 15), "0296"); l != nil {
		p["communication"] = []any{obj{"language": l}}
	}
	if ms := strings.ToUpper(field(pid, m.d, 16).s()); ms != "" {
		if c, ok := maritalMap[ms]; ok {
			p["maritalStatus"] = obj{"coding": []any{coding(v3Marital, c.code, c.display)}}
		} else if cc := codeable(field(pid, m.d, 16), "0002"); cc != nil {
			p["maritalStatus"] = cc
		}
	}
	if r := codeable(field(pid, m.d, 17), "0006"); r != nil {
		ext = append(ext, obj{"url": "http://hl7.org/fhir/StructureDefinition/patient-religion", "valueCodeableConcept": r})
	}
	if bp := field(pid, m.d, 23).s(); bp != "" {
		ext = append(ext, obj{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace", "valueAddress": obj{"text": bp}})
	}
	if len(ext) > 0 {
		p["extension"] = ext
	}
	if n := field(pid, m.d, 25).s(); n != "" {
		var order int
		if _, err := fmt.Sscanf(n, "%d", &order); err == nil && order > 0 {
			p["multipleBirthInteger"] = order
		}
	} else if mb := strings.ToUpper(field(pid, m.d, 24).s()); mb == "Y" || mb == "N" {
		p["multipleBirthBoolean"] = mb == "Y"
	}
	death, err := m.dt(pid, 29)
	if err != nil {
		return err
	}
	if death != "" {
		p["deceasedDateTime"] = death
	} else if di := strings.ToUpper(field(pid, m.d, 30).s()); di == "Y" || di == "N" {
		p["deceasedBoolean"] = di == "Y"
	}
	return nil
}

// mapPD1 adds the registered GP practice (PD1-3) and GP (PD1-4), and ROL
// segments of role PP (primary care provider), as generalPractitioner.
func (m *mapper) mapPD1(p obj) error {
	var gps []any
	if pd1 := m.msg.Segment("PD1"); pd1 != nil {
		for _, v := range reps(pd1, m.d, 3) {
			if r := m.xonOrganization(v); r != nil {
				gps = append(gps, r)
			}
		}
		for _, v := range reps(pd1, m.d, 4) {
			if r := m.practitioner(v); r != nil {
				gps = append(gps, r)
			}
		}
	}
	for _, rol := range m.msg.SegmentsNamed("ROL") {
		if strings.ToUpper(field(rol, m.d, 3).c(1).s()) != "PP" {
			continue
		}
		for _, v := range reps(rol, m.d, 4) {
			if r := m.practitioner(v); r != nil {
				gps = append(gps, r)
			}
		}
	}
	if len(gps) > 0 {
		p["generalPractitioner"] = uniqueRefs(gps)
	}
	return nil
}

// mapNextOfKin maps NK1 segments to Patient.contact (NK1[Patient]) and to
// RelatedPersons (NK1[RelatedPerson]). A PAS sends the whole list each time,
// so a RelatedPerson is identified as the patient's n-th next of kin
// (MRN and NK1-1), and a repeated message updates it.
func (m *mapper) mapNextOfKin(p obj) error {
	var contacts []any
	for i, nk := range m.msg.SegmentsNamed("NK1") {
		c := obj{}
		rp := obj{"active": true, "patient": m.patientRef}
		if n := m.humanName(field(nk, m.d, 2)); n != nil {
			c["name"] = n
			rp["name"] = []any{n}
		}
		var rels []any
		if r := codeable(field(nk, m.d, 3), "0063"); r != nil {
			rels = append(rels, r)
		}
		if r := codeable(field(nk, m.d, 7), "0131"); r != nil {
			rels = append(rels, r)
		}
		if len(rels) > 0 {
			c["relationship"] = rels
			rp["relationship"] = rels
		}
		if a := m.address(field(nk, m.d, 4)); a != nil {
			c["address"] = a
			rp["address"] = []any{a}
		}
		var tel []any
		for _, f := range []struct {
			n   int
			use string
		}{{5, "home"}, {6, "work"}, {40, ""}, {41, ""}} {
			for _, v := range reps(nk, m.d, f.n) {
				if cp := m.contactPoint(v, f.use); cp != nil {
					tel = append(tel, cp)
				}
			}
		}
		if len(tel) > 0 {
			c["telecom"] = tel
			rp["telecom"] = tel
		}
		if g, ok := genderMap[strings.ToUpper(field(nk, m.d, 15).s())]; ok {
			c["gender"] = g
			rp["gender"] = g
		}
		if per := m.period(field(nk, m.d, 8).s(), field(nk, m.d, 9).s()); per != nil {
			c["period"] = per
			rp["period"] = per
		}
		_, hasName := c["name"]
		_, hasTel := c["telecom"]
		_, hasAddr := c["address"]
		if !hasName && !hasTel && !hasAddr {
			continue // pat-1: a contact needs a name, telecom, address or organisation
		}
		contacts = append(contacts, c)
		if m.mrn == "" {
			continue
		}
		setID := orDefault(field(nk, m.d, 1).s(), fmt.Sprint(i+1))
		sys := m.o.local("next-of-kin")
		val := m.mrn + "-" + setID
		rp["identifier"] = []any{obj{"system": sys, "value": val}}
		if m.isADT() {
			m.b.upsert("RelatedPerson", sys+"|"+val, identifierQuery([2]string{sys, val}), rp)
		}
	}
	if len(contacts) > 0 {
		p["contact"] = contacts
	}
	return nil
}

// uniqueRefs drops references to a target already listed.
func uniqueRefs(refs []any) []any {
	seen := map[string]bool{}
	var out []any
	for _, r := range refs {
		k := fmt.Sprint(r.(obj)["reference"], r.(obj)["display"])
		if !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	return out
}

func (m *mapper) isADT() bool { return m.code == "ADT" }
