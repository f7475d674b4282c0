package v2fhir

import (
	"strings"

	"github.com/concord-health/concord/integration/hl7v2"
)

// mapADT maps the ADT events that carry a patient and (except A28/A31) a
// visit: the Patient, the Encounter of PV1/PV2, allergies (AL1) and
// diagnoses (DG1).
func mapADT(m *mapper) error {
	if err := m.mapPatient(true); err != nil {
		return err
	}
	if err := m.mapEncounter(true); err != nil {
		return err
	}
	if err := m.mapAllergies(); err != nil {
		return err
	}
	if err := m.mapDiagnoses(); err != nil {
		return err
	}
	return m.mapADTObservations()
}

// mapEncounter maps PV1 and PV2 (PV1[Encounter], PV2[Encounter]) to an
// Encounter found by visit number (PV1-19). Without a visit number a later
// message could not find the same Encounter again, so none is written (with
// a warning when the PV1 describes a real visit).
func (m *mapper) mapEncounter(update bool) error {
	pv1 := m.msg.Segment("PV1")
	if pv1 == nil {
		return nil
	}
	class := strings.ToUpper(field(pv1, m.d, 2).s())
	visit := field(pv1, m.d, 19).s()
	if visit == "" {
		if class != "" && class != "N" && m.event != "A28" && m.event != "A31" {
			m.warn("PV1-19: no visit number, so no Encounter was written")
		}
		return nil
	}
	e := obj{
		"identifier": []any{obj{"system": m.o.VisitSystem, "value": visit,
			"type": obj{"coding": []any{coding(identifierType, "VN", "visit number")}}}},
		"subject":         m.patientRef,
		"serviceProvider": m.eventFacility(),
	}
	// Class (required): the IG's ActCode for E/I/O/P, else the v2 code itself.
	switch c, ok := classMap[class]; {
	case ok:
		e["class"] = coding(v3ActCode, c.code, c.display)
	case class != "":
		e["class"] = coding(v2Prefix+"0004", class, field(pv1, m.d, 2).c(2).s())
	default:
		e["class"] = coding(v3NullFlavor, "UNK", "unknown")
	}
	start, err := m.dt(pv1, 44)
	if err != nil {
		return err
	}
	end, err := m.dt(pv1, 45)
	if err != nil {
		return err
	}
	status := "in-progress"
	if s, ok := classStatus[class]; ok {
		status = s
	}
	switch m.event {
	case "A05", "A14":
		status = "planned"
	case "A03":
		status = "finished"
	case "A11":
		status = "cancelled"
	case "A13":
		end = "" // a cancelled discharge reopens the visit
	}
	if end != "" && m.event != "A11" {
		status = "finished"
	}
	e["status"] = status
	if start != "" || end != "" {
		p := obj{}
		if start != "" {
			p["start"] = start
		}
		if end != "" && (start == "" || end >= start) {
			p["end"] = end
		}
		e["period"] = p
	}
	if t := codeable(field(pv1, m.d, 4), "0007"); t != nil {
		e["type"] = []any{t}
	}
	if st := codeable(field(pv1, m.d, 10), "0069"); st != nil {
		e["serviceType"] = st
	}
	// Participants: attending, referring, consulting, admitting (PV1-7/8/9/17),
	// the referrer of PV2-13, and ROL segments other than the GP.
	var parts []any
	addPart := func(s *hl7v2.Segment, n int, code, display string) {
		for _, v := range reps(s, m.d, n) {
			if ref := m.practitioner(v); ref != nil {
				parts = append(parts, obj{
					"type":       []any{obj{"coding": []any{coding(v3Participation, code, display)}, "text": display}},
					"individual": ref,
				})
			}
		}
	}
	addPart(pv1, 7, "ATND", "attender")
	addPart(pv1, 8, "REF", "referrer")
	addPart(pv1, 9, "CON", "consultant")
	addPart(pv1, 17, "ADM", "admitter")
	pv2 := m.msg.Segment("PV2")
	if pv2 != nil {
		addPart(pv2, 13, "REF", "referrer")
	}
	for _, rol := range m.msg.SegmentsNamed("ROL") {
		role := field(rol, m.d, 3)
		if strings.ToUpper(role.c(1).s()) == "PP" {
			continue
		}
		for _, v := range reps(rol, m.d, 4) {
			ref := m.practitioner(v)
			if ref == nil {
				continue
			}
			part := obj{"individual": ref}
			if t := codeable(role, "0443"); t != nil {
				part["type"] = []any{t}
			}
			if p := m.period(field(rol, m.d, 5).s(), field(rol, m.d, 6).s()); p != nil {
				part["period"] = p
			}
			parts = append(parts, part)
		}
	}
	if len(parts) > 0 {
		e["participant"] = parts
	}
	// Locations: current (PV1-3), prior (PV1-6, after a transfer), pending (PV1-42).
	var locs []any
	addLoc := func(n int, st string) {
		if ref := m.location(field(pv1, m.d, n)); ref != nil {
			locs = append(locs, obj{"location": ref, "status": st})
		}
	}
	cur := "active"
	if class == "P" || status == "planned" {
		cur = "planned"
	} else if status == "finished" {
		cur = "completed"
	}
	addLoc(3, cur)
	addLoc(6, "completed")
	addLoc(42, "reserved")
	if len(locs) > 0 {
		e["location"] = locs
	}
	h := obj{}
	if pre := field(pv1, m.d, 5).s(); pre != "" {
		h["preAdmissionIdentifier"] = obj{"value": pre}
	}
	if c := codeable(field(pv1, m.d, 13), "0092"); c != nil {
		h["reAdmission"] = c
	}
	if c := codeable(field(pv1, m.d, 14), "0023"); c != nil {
		h["admitSource"] = c
	}
	if c := codeable(field(pv1, m.d, 15), "0009"); c != nil {
		h["specialArrangement"] = []any{c}
	}
	if c := codeable(field(pv1, m.d, 16), "0099"); c != nil {
		h["specialCourtesy"] = []any{c}
	}
	if c := codeable(field(pv1, m.d, 36), "0112"); c != nil {
		h["dischargeDisposition"] = c
	}
	if c := codeable(field(pv1, m.d, 38), "0114"); c != nil {
		h["dietPreference"] = []any{c}
	}
	if pv2 != nil {
		if c := codeable(field(pv2, m.d, 38), "0430"); c != nil && h["admitSource"] == nil {
			h["admitSource"] = c
		}
		if r := codeable(field(pv2, m.d, 3), ""); r != nil {
			e["reasonCode"] = []any{r}
		}
		prio := field(pv2, m.d, 25)
		if c, ok := encounterPriority[prio.c(1).s()]; ok {
			e["priority"] = obj{"coding": []any{coding(v3ActPriority, c.code, c.display)}, "text": orDefault(prio.c(2).s(), c.display)}
		} else if c := codeable(prio, "0217"); c != nil {
			e["priority"] = c
		}
	}
	if len(h) > 0 {
		e["hospitalization"] = h
	}
	key := m.o.VisitSystem + "|" + visit
	q := identifierQuery([2]string{m.o.VisitSystem, visit})
	if update {
		m.encounterRef = m.b.upsert("Encounter", key, q, e)
	} else {
		m.encounterRef = m.b.ensure("Encounter", key, q, e)
	}
	return nil
}

// eventFacility is the Organization of EVN-7 (the facility where the event
// happened): an ODS site code, or an HD carrying an OID, found or created as
// part of the sending organisation. Without one it is the sender.
func (m *mapper) eventFacility() obj {
	evn := m.msg.Segment("EVN")
	if evn == nil {
		return m.sender()
	}
	hd := field(evn, m.d, 7)
	ns := hd.c(1).s()
	var sys, value string
	switch {
	case strings.EqualFold(hd.c(3).s(), "ISO") && oidRe.MatchString(hd.c(2).s()):
		sys, value = "urn:ietf:rfc:3986", "urn:oid:"+hd.c(2).s()
	case odsCode.MatchString(strings.ToUpper(ns)) && !strings.EqualFold(ns, m.o.Organization):
		sys, value = ODSSiteSystem, strings.ToUpper(ns)
	default:
		return m.sender()
	}
	o := obj{"identifier": []any{obj{"system": sys, "value": value}}, "active": true, "partOf": m.sender()}
	if ns != "" {
		o["name"] = ns
	}
	ref := m.b.ensure("Organization", sys+"|"+value, identifierQuery([2]string{sys, value}), o)
	if ns != "" {
		ref["display"] = ns
	}
	return ref
}

// mapAllergies maps AL1 segments (AL1[AllergyIntolerance]), each found by
// the patient and allergen, so a repeated list updates rather than grows.
func (m *mapper) mapAllergies() error {
	for _, al := range m.msg.SegmentsNamed("AL1") {
		code := codeable(field(al, m.d, 3), "")
		if code == nil {
			m.warn("%s: AL1 without an allergen; left out", m.segLoc(al, 3))
			continue
		}
		a := obj{
			"patient":        m.patientRef,
			"clinicalStatus": obj{"coding": []any{coding("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active")}},
			"code":           code,
		}
		typ := strings.ToUpper(field(al, m.d, 2).s())
		if c, ok := allergyCategory[typ]; ok {
			a["category"] = []any{c}
		}
		if typ != "" && typ != "MC" {
			a["type"] = "allergy"
		}
		sev := strings.ToUpper(field(al, m.d, 4).s())
		if c, ok := allergyCriticality[sev]; ok {
			a["criticality"] = c
		}
		var manifest []any
		for _, v := range reps(al, m.d, 5) {
			if t := v.text(); t != "" {
				manifest = append(manifest, obj{"text": t})
			}
		}
		if len(manifest) > 0 {
			r := obj{"manifestation": manifest}
			if s, ok := allergySeverity[sev]; ok {
				r["severity"] = s
			}
			a["reaction"] = []any{r}
		}
		onset, err := m.dt(al, 6)
		if err != nil {
			return err
		}
		if onset != "" {
			a["onsetDateTime"] = onset
		}
		allergen := field(al, m.d, 3)
		idv := allergen.c(1).s()
		if idv == "" {
			idv = strings.ToLower(allergen.c(2).s())
		}
		sys := m.o.local("allergy")
		val := m.patientKeyValue() + "-" + idv
		a["identifier"] = []any{obj{"system": sys, "value": val}}
		m.b.upsert("AllergyIntolerance", sys+"|"+val, identifierQuery([2]string{sys, val}), a)
	}
	return nil
}

// patientKeyValue is the value part of the patient key.
func (m *mapper) patientKeyValue() string {
	_, v, _ := strings.Cut(m.patientKey, "|")
	return v
}

// mapDiagnoses maps DG1 segments (DG1[Condition]) to encounter diagnoses,
// each found by its DG1-20 identifier or else by visit (or patient) and code.
func (m *mapper) mapDiagnoses() error {
	for _, dg := range m.msg.SegmentsNamed("DG1") {
		cv := field(dg, m.d, 3)
		code := codeable(cv, "")
		if t := field(dg, m.d, 4).s(); t != "" {
			if code == nil {
				code = obj{}
			}
			code["text"] = t
		}
		if code == nil {
			m.warn("%s: DG1 without a diagnosis code; left out", m.segLoc(dg, 3))
			continue
		}
		c := obj{
			"subject":  m.patientRef,
			"code":     code,
			"category": []any{obj{"coding": []any{coding("http://terminology.hl7.org/CodeSystem/condition-category", "encounter-diagnosis", "Encounter Diagnosis")}}},
		}
		if m.encounterRef != nil {
			c["encounter"] = m.encounterRef
		}
		verification := ""
		switch strings.ToUpper(field(dg, m.d, 6).s()) {
		case "F":
			verification = "confirmed"
		case "A", "W":
			verification = "provisional"
		}
		if strings.ToUpper(field(dg, m.d, 21).s()) == "D" {
			verification = "entered-in-error"
		}
		if verification != "" {
			c["verificationStatus"] = obj{"coding": []any{coding("http://terminology.hl7.org/CodeSystem/condition-ver-status", verification, "")}}
		}
		if verification != "entered-in-error" {
			c["clinicalStatus"] = obj{"coding": []any{coding("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active")}}
		}
		onset, err := m.dt(dg, 5)
		if err != nil {
			return err
		}
		if onset != "" {
			c["onsetDateTime"] = onset
		}
		rec, err := m.dt(dg, 19)
		if err != nil {
			return err
		}
		if rec != "" {
			c["recordedDate"] = rec
		}
		if ref := m.practitioner(field(dg, m.d, 16)); ref != nil {
			c["asserter"] = ref
		}
		sys, val := m.o.local("diagnosis"), field(dg, m.d, 20).s()
		if val == "" {
			owner := m.patientKeyValue()
			if pv1 := m.msg.Segment("PV1"); pv1 != nil && field(pv1, m.d, 19).s() != "" {
				owner = field(pv1, m.d, 19).s()
			}
			val = owner + "-" + orDefault(cv.c(1).s(), strings.ToLower(field(dg, m.d, 4).s()))
		}
		c["identifier"] = []any{obj{"system": sys, "value": val}}
		m.b.upsert("Condition", sys+"|"+val, identifierQuery([2]string{sys, val}), c)
	}
	return nil
}

// mapMerge maps A40 (merge patient, patient identifier list): the surviving
// patient of PID is updated and linked to the one of MRG-1, which is marked
// inactive and linked back.
//
// The transaction PATCH of the server would keep the old record's other
// data, but it fails when the old record is absent (common: records created
// before the feed started) and does not resolve the Bundle's references
// inside a patch document. So the old record is a conditional update holding
// only what a merge knows of it: its local identifiers (use "old"), its name
// (MRG-7), active false and the link; its earlier version stays in history.
// Its NHS number is left off: two records with one NHS number would make
// every later match by NHS number ambiguous.
//
// The old record's replaced-by link is the lasting one: a later A08 of the
// survivor replaces it whole and drops its replaces link.
func mapMerge(m *mapper) error {
	mrg := m.msg.Segment("MRG")
	if mrg == nil {
		return errorf(hl7v2.CodeSegmentSequence, "MRG", "an A40 needs an MRG segment")
	}
	pid := m.msg.Segment("PID")
	if pid == nil {
		return errorf(hl7v2.CodeSegmentSequence, "PID", "the message has no PID segment")
	}
	survivor := m.identifiers(pid)
	if len(survivor.locals) == 0 {
		return errorf(hl7v2.CodeRequiredFieldMissing, "PID-3", "a merge needs the surviving patient's local identifier")
	}
	var oldIDs []any
	var oldLocal string
	for _, v := range reps(mrg, m.d, 1) {
		if isNHS(v) {
			continue
		}
		value := v.c(1).s()
		if value == "" {
			continue
		}
		if oldLocal == "" {
			oldLocal = value
		}
		oldIDs = append(oldIDs, obj{"system": m.o.MRNSystem, "value": value, "use": "old", "type": typeCoding("MR")})
	}
	if oldLocal == "" {
		return errorf(hl7v2.CodeRequiredFieldMissing, "MRG-1", "no prior local patient identifier to merge")
	}
	if oldLocal == survivor.locals[0] {
		return errorf(hl7v2.CodeDuplicateKeyIdentifier, "MRG-1", "the prior identifier %q is the surviving patient's own", oldLocal)
	}
	// Survivor: found by its MRN only, since the old record may share its NHS number.
	m.mrn = survivor.locals[0]
	m.patientKey = m.o.MRNSystem + "|" + m.mrn
	m.mergedFrom = m.o.MRNSystem + "|" + oldLocal
	p := obj{"identifier": survivor.all, "active": true}
	if err := m.demographics(pid, p); err != nil {
		return err
	}
	p["managingOrganization"] = m.sender()
	m.patientRef = m.b.upsert("Patient", m.patientKey, identifierQuery([2]string{m.o.MRNSystem, m.mrn}), p)
	if err := m.mapPD1(p); err != nil {
		return err
	}
	old := obj{"identifier": oldIDs, "active": false,
		"link": []any{obj{"other": m.patientRef, "type": "replaced-by"}}}
	if n := m.humanName(field(mrg, m.d, 7)); n != nil {
		old["name"] = []any{n}
	}
	oldRef := m.b.upsert("Patient", m.mergedFrom, identifierQuery([2]string{m.o.MRNSystem, oldLocal}), old)
	p["link"] = []any{obj{"other": oldRef, "type": "replaces"}}
	return nil
}
