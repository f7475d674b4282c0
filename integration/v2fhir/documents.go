package v2fhir

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"strings"

	"github.com/concord-health/concord/integration/hl7v2"
)

// edTypes gives the MIME type of an ED's type of data and subtype (HL7
// tables 0191 and 0291) where they are not already a MIME type.
var edTypes = map[string]string{
	"AP/PDF": "application/pdf", "AP/RTF": "application/rtf", "TEXT/RTF": "application/rtf",
	"TEXT/": "text/plain", "TEXT/PLAIN": "text/plain", "TEXT/HTML": "text/html", "TEXT/XML": "application/xml",
	"AP/XML": "application/xml", "AP/MSWORD": "application/msword", "AP/OCTET-STREAM": "application/octet-stream",
	"IM/JPEG": "image/jpeg", "IM/PNG": "image/png", "IM/TIFF": "image/tiff", "IM/GIF": "image/gif",
	"AP/": "application/octet-stream", "IM/": "application/octet-stream", "AU/": "application/octet-stream",
	"TX/": "text/plain", "FT/": "text/plain",
}

var mimeTop = map[string]bool{"APPLICATION": true, "TEXT": true, "IMAGE": true, "AUDIO": true, "VIDEO": true, "MULTIPART": true, "MESSAGE": true, "MODEL": true}

func mimeType(typ, sub string) string {
	t, s := strings.ToUpper(typ), strings.ToUpper(sub)
	if strings.Contains(sub, "/") {
		return strings.ToLower(sub)
	}
	if mt, ok := edTypes[t+"/"+s]; ok {
		return mt
	}
	if mimeTop[t] && s != "" {
		return strings.ToLower(typ + "/" + sub)
	}
	if mt, ok := edTypes[t+"/"]; ok {
		return mt
	}
	return "application/octet-stream"
}

// attachment maps an OBX of type ED (ED[Attachment]: the data, base64) or RP
// (a pointer to the content: the url). handled is false for other types.
// Data that cannot be read is left out with a warning, keeping the type and
// title, so the record still says a document of that kind was sent.
func (m *mapper) attachment(obx *hl7v2.Segment) (a obj, handled bool) {
	vt := strings.ToUpper(field(obx, m.d, 2).s())
	v := field(obx, m.d, 5)
	loc := m.segLoc(obx, 5)
	title := codeTitle(field(obx, m.d, 3))
	switch vt {
	case "ED":
		data := strings.Join(strings.Fields(v.c(5).text()), "")
		a = obj{"contentType": mimeType(v.c(2).s(), v.c(3).s())}
		if title != "" {
			a["title"] = title
		}
		if data == "" {
			m.warn("%s: encapsulated data is empty; left out", loc)
			return a, true
		}
		var raw []byte
		var err error
		switch strings.ToUpper(v.c(4).s()) {
		case "BASE64":
			raw, err = base64.StdEncoding.DecodeString(data)
		case "HEX":
			raw, err = hex.DecodeString(data)
		default: // A: the text itself
			raw = []byte(v.c(5).text())
		}
		if err != nil || len(raw) == 0 {
			m.warn("%s: encapsulated data is not valid %s; left out", loc, orDefault(v.c(4).s(), "text"))
			return a, true
		}
		a["data"] = base64.StdEncoding.EncodeToString(raw)
	case "RP":
		p := v.c(1).s()
		if u, err := url.Parse(p); p == "" || err != nil || u.Scheme == "" || strings.ContainsAny(p, " \t") {
			m.warn("%s: reference pointer %q is not a URL; left out", loc, p)
			return nil, true
		}
		a = obj{"url": p}
		if t := v.c(3).s(); t != "" {
			a["contentType"] = mimeType(t, v.c(4).s())
		}
		if title != "" {
			a["title"] = title
		}
	default:
		return nil, false
	}
	return a, true
}

func codeTitle(v val) string {
	if t := v.c(2).s(); t != "" {
		return t
	}
	return v.c(1).s()
}

// mapMDM maps MDM^T02 (original document with content) and T04/T08 (status
// change and edit, with content) to one DocumentReference found by its unique
// document number (TXA-12), so an edit updates the document it edits
// (TXA[DocumentReference], OBX[DocumentReference]).
func mapMDM(m *mapper) error {
	if err := m.ensurePatientAndEncounter(); err != nil {
		return err
	}
	txa := m.msg.Segment("TXA")
	if txa == nil {
		return errorf(hl7v2.CodeSegmentSequence, "TXA", "an MDM message needs a TXA segment")
	}
	docNo := field(txa, m.d, 12)
	if docNo.c(1).s() == "" {
		return errorf(hl7v2.CodeRequiredFieldMissing, "TXA-12", "no unique document number")
	}
	var related []any
	for _, g := range m.orderGroups() {
		if g.orc == nil && g.obr == nil {
			continue
		}
		ref, err := m.serviceRequest(g, false)
		if err != nil {
			return err
		}
		related = append(related, ref)
	}
	sys, id := m.o.local("document-number"), docNo.c(1).s()
	doc := obj{"masterIdentifier": obj{"system": sys, "value": id}, "subject": m.patientRef, "custodian": m.sender()}
	if ns := docNo.c(2).s(); ns != "" {
		doc["masterIdentifier"].(obj)["assigner"] = obj{"display": ns}
	}
	if f := field(txa, m.d, 16).s(); f != "" {
		doc["identifier"] = []any{obj{"value": f}}
	}
	status := "current"
	switch strings.ToUpper(field(txa, m.d, 19).s()) {
	case "CA":
		status = "entered-in-error"
	case "OB":
		status = "superseded"
	}
	doc["status"] = status
	switch strings.ToUpper(field(txa, m.d, 17).s()) {
	case "AU", "LA":
		if m.event == "T08" {
			doc["docStatus"] = "amended"
		} else {
			doc["docStatus"] = "final"
		}
	case "DI", "DO", "IP", "IN", "PA":
		doc["docStatus"] = "preliminary"
	}
	if t := codeable(field(txa, m.d, 2), "0270"); t != nil {
		doc["type"] = t
	}
	date, err := m.instantAt(field(txa, m.d, 6).s(), "TXA-6")
	if err != nil {
		return err
	}
	if date == "" {
		if date, err = m.instantAt(field(txa, m.d, 4).s(), "TXA-4"); err != nil {
			return err
		}
	}
	if date != "" {
		doc["date"] = date
	}
	var authors []any
	for _, n := range []int{9, 5} {
		for _, v := range reps(txa, m.d, n) {
			if ref := m.practitioner(v); ref != nil {
				authors = append(authors, ref)
			}
		}
		if len(authors) > 0 {
			break
		}
	}
	if len(authors) > 0 {
		doc["author"] = authors
	}
	if ref := m.practitioner(field(txa, m.d, 10)); ref != nil {
		doc["authenticator"] = ref
	}
	if c, ok := docConfidentiality[strings.ToUpper(field(txa, m.d, 18).s())]; ok {
		doc["securityLabel"] = []any{obj{"coding": []any{coding(v3Confidential, c.code, c.display)}}}
	}
	desc := field(txa, m.d, 25).s()
	if desc != "" {
		doc["description"] = desc
	}
	ctx := obj{}
	if m.encounterRef != nil {
		ctx["encounter"] = []any{m.encounterRef}
	}
	if len(related) > 0 {
		ctx["related"] = related
	}
	if len(ctx) > 0 {
		doc["context"] = ctx
	}
	// Content (OBX[DocumentReference]): each ED/RP OBX is an attachment; text
	// OBX segments (TX, FT, ST) are text/plain attachments, consecutive ones
	// with the same OBX-3 joined as lines, since documents are often sent as
	// one OBX per line.
	var content []any
	var lines []string
	var textCode val
	flush := func() {
		if len(lines) == 0 {
			return
		}
		a := obj{"contentType": "text/plain; charset=utf-8",
			"data": base64.StdEncoding.EncodeToString([]byte(strings.Join(lines, "\n")))}
		if title := codeTitle(textCode); title != "" {
			a["title"] = title
		}
		content = append(content, obj{"attachment": a})
		lines = nil
	}
	for _, obx := range m.msg.SegmentsNamed("OBX") {
		if a, ok := m.attachment(obx); ok {
			flush()
			if a != nil {
				content = append(content, obj{"attachment": a})
			}
			continue
		}
		switch vt := strings.ToUpper(field(obx, m.d, 2).s()); vt {
		case "TX", "FT", "ST":
			code := field(obx, m.d, 3)
			if len(lines) > 0 && code.raw != textCode.raw {
				flush()
			}
			textCode = code
			for _, v := range reps(obx, m.d, 5) {
				lines = append(lines, v.text())
			}
		default:
			m.warn("%s: a %s value is not document content; left out", m.segLoc(obx, 5), vt)
		}
	}
	flush()
	if len(content) == 0 {
		// DocumentReference.content is required: say what the document is, and
		// that the message did not carry it.
		a := obj{"title": orDefault(orDefault(desc, field(txa, m.d, 16).s()), "document content not included in the message")}
		content = append(content, obj{"attachment": a})
		m.warn("TXA: the message carries no readable document content")
	}
	doc["content"] = content
	m.b.upsert("DocumentReference", sys+"|"+id, identifierQuery([2]string{sys, id}), doc)
	return nil
}

// ---- orders ----

// mapOrder maps ORM^O01 and OML^O21: each ORC (with its OBR) is a
// ServiceRequest found by placer order number (ORC[ServiceRequest],
// OBR[ServiceRequest], NTE[ServiceRequest]).
func mapOrder(m *mapper) error {
	if err := m.ensurePatientAndEncounter(); err != nil {
		return err
	}
	n := 0
	for _, g := range m.orderGroups() {
		if g.orc == nil && g.obr == nil {
			continue
		}
		if _, err := m.serviceRequest(g, true); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return errorf(hl7v2.CodeSegmentSequence, "ORC", "an order message needs at least one ORC")
	}
	return nil
}

var priorities = map[string]string{"S": "stat", "A": "asap", "R": "routine", "P": "urgent", "T": "urgent"}

// serviceRequest maps one order group; update says whether it replaces the
// stored order (order messages) or only makes sure it exists (documents).
func (m *mapper) serviceRequest(g *orderGroup, update bool) (obj, error) {
	ids, key := m.orderIdentifiers(m.ids(g), true)
	head := g.orc
	if head == nil {
		head = g.obr
	}
	if key[1] == "" {
		return nil, errorf(hl7v2.CodeRequiredFieldMissing, m.segLoc(head, 2), "no placer or filler order number")
	}
	sr := obj{"identifier": ids, "subject": m.patientRef, "intent": "order"}
	if g.orc != nil {
		if r := field(g.orc, m.d, 4).c(1).s(); r != "" {
			sr["requisition"] = obj{"value": r, "type": typeCoding("PGN")}
		}
	}
	status := "unknown"
	if g.orc != nil {
		if s, ok := orderStatus[strings.ToUpper(field(g.orc, m.d, 5).s())]; ok {
			status = s
		} else if s, ok := orderControlStatus[strings.ToUpper(field(g.orc, m.d, 1).s())]; ok {
			status = s
		}
	}
	sr["status"] = status
	if m.encounterRef != nil {
		sr["encounter"] = m.encounterRef
	}
	var requester obj
	if g.orc != nil {
		when, err := m.dt(g.orc, 9)
		if err != nil {
			return nil, err
		}
		if when != "" {
			sr["authoredOn"] = when
		}
		requester = m.practitioner(field(g.orc, m.d, 12))
	}
	prio := ""
	if g.orc != nil {
		prio = field(g.orc, m.d, 7).c(6).s()
	}
	if g.obr != nil {
		if c := codeable(field(g.obr, m.d, 4), ""); c != nil {
			sr["code"] = c
		}
		if requester == nil {
			requester = m.practitioner(field(g.obr, m.d, 16))
		}
		if strings.ToUpper(field(g.obr, m.d, 11).s()) == "G" {
			sr["intent"] = "reflex-order"
		}
		var reasons []any
		for _, v := range reps(g.obr, m.d, 31) {
			if c := codeable(v, ""); c != nil {
				reasons = append(reasons, c)
			}
		}
		if len(reasons) > 0 {
			sr["reasonCode"] = reasons
		}
		if prio == "" {
			prio = field(g.obr, m.d, 27).c(6).s()
		}
	}
	if prio == "" {
		for _, tq := range m.msg.SegmentsNamed("TQ1") {
			if p := field(tq, m.d, 9).s(); p != "" {
				prio = p
				break
			}
		}
	}
	if p, ok := priorities[strings.ToUpper(prio)]; ok {
		sr["priority"] = p
	}
	if requester != nil {
		sr["requester"] = requester
	}
	notes, err := m.notes(g.notes)
	if err != nil {
		return nil, err
	}
	if len(notes) > 0 {
		sr["note"] = notes
	}
	q := identifierQuery(key)
	if update {
		return m.b.upsert("ServiceRequest", key[0]+"|"+key[1], q, sr), nil
	}
	return m.b.ensure("ServiceRequest", key[0]+"|"+key[1], q, sr), nil
}

// mapADTObservations maps OBX segments of an ADT message (height, weight) to
// Observations of the visit, or of the patient when there is none.
func (m *mapper) mapADTObservations() error {
	for _, g := range m.orderGroups() {
		if err := m.patientObservations(g); err != nil {
			return err
		}
	}
	return nil
}

// patientObservations maps OBX segments outside any OBR (height, weight),
// identified by the visit (or the patient when there is none), the
// observation code and its time, since set ids restart in every message.
func (m *mapper) patientObservations(g *orderGroup) error {
	owner := m.patientKeyValue()
	if pv1 := m.msg.Segment("PV1"); pv1 != nil && field(pv1, m.d, 19).s() != "" {
		owner = field(pv1, m.d, 19).s()
	}
	for _, og := range g.obs {
		if vt := strings.ToUpper(field(og.obx, m.d, 2).s()); vt == "ED" || vt == "RP" {
			m.warn("%s: %s content outside a report or document; left out", m.segLoc(og.obx, 5), vt)
			continue
		}
		id := owner + "-" + orDefault(field(og.obx, m.d, 3).c(1).s(), field(og.obx, m.d, 3).c(2).s())
		if t := field(og.obx, m.d, 14).s(); t != "" {
			id += "-" + t
		}
		if _, err := m.observation(og, id, "", ""); err != nil {
			return err
		}
	}
	return nil
}
