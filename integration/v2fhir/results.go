package v2fhir

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/concord-health/concord/integration/hl7v2"
)

// orderGroup is an ORC and/or OBR with the notes and observations after it.
type orderGroup struct {
	orc, obr *hl7v2.Segment
	notes    []*hl7v2.Segment
	obs      []*obsGroup
}

type obsGroup struct {
	obx   *hl7v2.Segment
	notes []*hl7v2.Segment
}

// orderGroups reads the order/observation groups of a message in segment
// order; OBX segments before any ORC or OBR form a group of their own.
func (m *mapper) orderGroups() []*orderGroup {
	var groups []*orderGroup
	var cur *orderGroup
	for _, s := range m.msg.Segments() {
		switch s.Name() {
		case "ORC":
			cur = &orderGroup{orc: s}
			groups = append(groups, cur)
		case "OBR":
			if cur == nil || cur.obr != nil || len(cur.obs) > 0 {
				cur = &orderGroup{}
				groups = append(groups, cur)
			}
			cur.obr = s
		case "OBX":
			if cur == nil {
				cur = &orderGroup{}
				groups = append(groups, cur)
			}
			cur.obs = append(cur.obs, &obsGroup{obx: s})
		case "NTE":
			switch {
			case cur == nil:
			case len(cur.obs) > 0:
				o := cur.obs[len(cur.obs)-1]
				o.notes = append(o.notes, s)
			default:
				cur.notes = append(cur.notes, s)
			}
		case "PID", "PV1", "TXA":
			cur = nil // observations after these belong to no earlier order
		}
	}
	return groups
}

// onePatient rejects messages about several patients: mapping them to the
// first would file results against the wrong record.
func (m *mapper) onePatient() error {
	if pids := m.msg.SegmentsNamed("PID"); len(pids) > 1 {
		return errorf(hl7v2.CodeSegmentSequence, m.segRef(pids[1]), "messages about more than one patient are not supported")
	}
	return nil
}

// orderIDs are an order's placer and filler numbers (EI).
type orderIDs struct{ placer, filler val }

func (m *mapper) ids(g *orderGroup) orderIDs {
	var o orderIDs
	pick := func(n int) val {
		if g.obr != nil {
			if v := field(g.obr, m.d, n); v.c(1).s() != "" {
				return v
			}
		}
		if g.orc != nil {
			return field(g.orc, m.d, n)
		}
		return val{"", m.d}
	}
	o.placer, o.filler = pick(2), pick(3)
	return o
}

// eiIdentifier maps an EI (EI[Identifier-Extension]) under a local system,
// typed PLAC or FILL; the namespace (EI-2) names the assigner.
func (m *mapper) eiIdentifier(v val, kind, typ string) obj {
	id := obj{"system": m.o.local(kind), "value": v.c(1).s(), "type": typeCoding(typ)}
	if ns := v.c(2).s(); ns != "" {
		id["assigner"] = obj{"display": ns}
	}
	return id
}

// orderIdentifiers lists the placer and filler identifiers and picks the one
// the order's resources are found by: the filler number (the result
// producer's own), else the placer's.
func (m *mapper) orderIdentifiers(o orderIDs, preferPlacer bool) (ids []any, key [2]string) {
	if p := o.placer.c(1).s(); p != "" {
		ids = append(ids, m.eiIdentifier(o.placer, "placer-order-number", "PLAC"))
	}
	if f := o.filler.c(1).s(); f != "" {
		ids = append(ids, m.eiIdentifier(o.filler, "filler-order-number", "FILL"))
	}
	f, p := o.filler.c(1).s(), o.placer.c(1).s()
	switch {
	case preferPlacer && p != "":
		key = [2]string{m.o.local("placer-order-number"), p}
	case f != "":
		key = [2]string{m.o.local("filler-order-number"), f}
	case p != "":
		key = [2]string{m.o.local("placer-order-number"), p}
	}
	return ids, key
}

// ensurePatientAndEncounter is what result, document and order messages start with: the
// message is about one patient, who (and whose visit, when PV1 names one) is made sure to
// exist without overwriting what ADT wrote.
func (m *mapper) ensurePatientAndEncounter() error {
	if err := m.onePatient(); err != nil {
		return err
	}
	if err := m.mapPatient(false); err != nil {
		return err
	}
	return m.mapEncounter(false)
}

// mapORU maps ORU^R01: each OBR is a DiagnosticReport with its OBX
// Observations (OBR[DiagnosticReport], OBX[Observation], NTE[Observation]).
func mapORU(m *mapper) error {
	if err := m.ensurePatientAndEncounter(); err != nil {
		return err
	}
	groups := m.orderGroups()
	if len(groups) == 0 {
		return errorf(hl7v2.CodeSegmentSequence, "OBR", "an ORU^R01 needs at least one OBR")
	}
	for i, g := range groups {
		if err := m.mapReport(g, i+1); err != nil {
			return err
		}
	}
	return nil
}

func (m *mapper) mapReport(g *orderGroup, n int) error {
	obr := g.obr
	if obr == nil {
		// Observations about the patient (the PATIENT_OBSERVATION group) or
		// an order document: no report, observations of the patient.
		return m.patientObservations(g)
	}
	code := codeable(field(obr, m.d, 4), "")
	if code == nil {
		return errorf(hl7v2.CodeRequiredFieldMissing, m.segLoc(obr, 4), "no universal service identifier")
	}
	ids, key := m.orderIdentifiers(m.ids(g), false)
	if key[1] == "" {
		// No order numbers: the message itself (MSH-10 and OBR-1) is the only handle.
		key = [2]string{m.o.local("report"), m.msg.ControlID() + "-" + orDefault(field(obr, m.d, 1).s(), fmt.Sprint(n))}
		ids = append(ids, obj{"system": key[0], "value": key[1]})
		m.warn("%s: no placer or filler order number; the report is identified by the message control id", m.segLoc(obr, 2))
	}
	r := obj{"identifier": ids, "code": code, "subject": m.patientRef}
	status := "unknown"
	if s, ok := obrStatus[strings.ToUpper(field(obr, m.d, 25).s())]; ok {
		status = s
	}
	r["status"] = status
	if m.encounterRef != nil {
		r["encounter"] = m.encounterRef
	}
	if c := codeable(field(obr, m.d, 24), "0074"); c != nil {
		r["category"] = []any{c}
	}
	start, err := m.dt(obr, 7)
	if err != nil {
		return err
	}
	end, err := m.dt(obr, 8)
	if err != nil {
		return err
	}
	switch {
	case start != "" && end != "" && end >= start:
		r["effectivePeriod"] = obj{"start": start, "end": end}
	case start != "":
		r["effectiveDateTime"] = start
	}
	issued, err := m.instantAt(field(obr, m.d, 22).s(), m.segLoc(obr, 22))
	if err != nil {
		return err
	}
	if issued != "" {
		r["issued"] = issued
	}
	performers := []any{m.sender()}
	if ref := m.practitioner(ndl(field(obr, m.d, 32))); ref != nil {
		r["resultsInterpreter"] = []any{ref}
	}
	for _, f := range []int{34, 35} {
		if ref := m.practitioner(ndl(field(obr, m.d, f))); ref != nil {
			performers = append(performers, ref)
		}
	}
	r["performer"] = performers
	if p := m.orderRef(g); p != nil {
		r["basedOn"] = []any{p}
	}
	if c := noteText(g.notes, m.d); c != "" {
		r["conclusion"] = c
	}
	var results, forms []any
	for _, og := range g.obs {
		if a, ok := m.attachment(og.obx); ok {
			if a != nil {
				forms = append(forms, a)
			}
			continue
		}
		// A result is identified by its order, OBX-1 and OBX-4: the
		// positions a corrected result is sent again under.
		setID := field(og.obx, m.d, 1).s()
		if setID == "" {
			setID = fmt.Sprint(m.occ[og.obx])
		}
		id := key[1] + "-" + setID
		if sub := field(og.obx, m.d, 4).s(); sub != "" {
			id += "-" + sub
		}
		ref, err := m.observation(og, id, effectiveOr(r), issued)
		if err != nil {
			return err
		}
		if ref != nil {
			results = append(results, ref)
		}
	}
	if len(results) > 0 {
		r["result"] = results
	}
	if len(forms) > 0 {
		r["presentedForm"] = forms
	}
	m.b.upsert("DiagnosticReport", key[0]+"|"+key[1], identifierQuery(key), r)
	return nil
}

// orderRef refers to the order a report fulfils by its placer number (a logical
// reference: the order may not be on this server).
func (m *mapper) orderRef(g *orderGroup) obj {
	p := m.ids(g).placer
	if p.c(1).s() == "" {
		return nil
	}
	return obj{"type": "ServiceRequest", "identifier": m.eiIdentifier(p, "placer-order-number", "PLAC")}
}

func effectiveOr(r obj) string {
	if s, ok := r["effectiveDateTime"].(string); ok {
		return s
	}
	if p, ok := r["effectivePeriod"].(obj); ok {
		return p["start"].(string)
	}
	return ""
}

// ndl reads the CNN of an NDL (its first component, in subcomponents) as an
// XCN, which it mirrors.
func ndl(v val) val {
	c := v.c(1).raw
	return val{strings.ReplaceAll(c, string(v.d.Subcomponent), string(v.d.Component)), v.d}
}

// noteText joins the comments (NTE-3) of NTE segments.
func noteText(notes []*hl7v2.Segment, d hl7v2.Delimiters) string {
	var lines []string
	for _, n := range notes {
		for _, v := range reps(n, d, 3) {
			if t := v.text(); t != "" {
				lines = append(lines, t)
			}
		}
	}
	return strings.Join(lines, "\n")
}

// notes maps NTE segments to Annotations (NTE[Observation]).
func (m *mapper) notes(notes []*hl7v2.Segment) ([]any, error) {
	var out []any
	for _, n := range notes {
		t := noteText([]*hl7v2.Segment{n}, m.d)
		if t == "" {
			continue
		}
		a := obj{"text": t}
		if ref := m.practitioner(field(n, m.d, 5)); ref != nil {
			a["authorReference"] = ref
		}
		when, err := m.dt(n, 6)
		if err != nil {
			return nil, err
		}
		if when != "" {
			a["time"] = when
		}
		out = append(out, a)
	}
	return out, nil
}

// observation maps one OBX with its notes (OBX[Observation]), identified by id.
func (m *mapper) observation(og *obsGroup, id, effective, issued string) (obj, error) {
	obx := og.obx
	code := codeable(field(obx, m.d, 3), "")
	if code == nil {
		return nil, errorf(hl7v2.CodeRequiredFieldMissing, m.segLoc(obx, 3), "no observation identifier")
	}
	o := obj{"code": code, "subject": m.patientRef}
	status := "unknown"
	if s, ok := obxStatus[strings.ToUpper(field(obx, m.d, 11).s())]; ok {
		status = s
	}
	o["status"] = status
	if m.encounterRef != nil {
		o["encounter"] = m.encounterRef
	}
	if err := m.obsValue(obx, o); err != nil {
		return nil, err
	}
	var interp []any
	for _, v := range reps(obx, m.d, 8) {
		c := strings.ToUpper(v.c(1).s())
		if c == "" {
			continue
		}
		if d, ok := interpretationCodes[c]; ok {
			interp = append(interp, obj{"coding": []any{coding(v3Interp, c, d)}})
		} else if cc := codeable(v, "0078"); cc != nil {
			interp = append(interp, cc)
		}
	}
	if len(interp) > 0 {
		o["interpretation"] = interp
	}
	if rr := m.referenceRange(field(obx, m.d, 7).text(), o); rr != nil {
		o["referenceRange"] = []any{rr}
	}
	when, err := m.dt(obx, 14)
	if err != nil {
		return nil, err
	}
	if when == "" {
		when = effective
	}
	if when != "" {
		o["effectiveDateTime"] = when
	}
	if issued != "" {
		o["issued"] = issued
	}
	var perf []any
	for _, v := range reps(obx, m.d, 16) {
		if ref := m.practitioner(v); ref != nil {
			perf = append(perf, ref)
		}
	}
	if len(perf) > 0 {
		o["performer"] = perf
	}
	if c := codeable(field(obx, m.d, 17), ""); c != nil {
		o["method"] = c
	}
	if c := codeable(field(obx, m.d, 20), ""); c != nil {
		o["bodySite"] = c
	}
	notes, err := m.notes(og.notes)
	if err != nil {
		return nil, err
	}
	if len(notes) > 0 {
		o["note"] = notes
	}
	sys := m.o.local("observation")
	o["identifier"] = []any{obj{"system": sys, "value": id}}
	return m.b.upsert("Observation", sys+"|"+id, identifierQuery([2]string{sys, id}), o), nil
}

var decimalRe = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$`)

// decimal turns an HL7 NM into a FHIR decimal, keeping its digits (and so
// its precision): leading "+" and zeros dropped, ".5" → 0.5.
func decimal(s string) (json.Number, bool) {
	s = strings.TrimSpace(s)
	if !decimalRe.MatchString(s) {
		return "", false
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimLeft(s, "+-")
	intPart, frac, hasFrac := strings.Cut(s, ".")
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	out := intPart
	if hasFrac && frac != "" {
		out += "." + frac
	}
	if neg && strings.Trim(out, "0.") != "" {
		out = "-" + out
	}
	return json.Number(out), true
}

// commonUCUM are unit strings sent without a coding system that are valid
// UCUM as written, so they can be coded; others stay text only.
var commonUCUM = map[string]string{
	"mmol/L": "mmol/L", "mmol/l": "mmol/L", "umol/L": "umol/L", "umol/l": "umol/L", "nmol/L": "nmol/L",
	"nmol/l": "nmol/L", "pmol/L": "pmol/L", "pmol/l": "pmol/L", "mol/L": "mol/L", "g/L": "g/L", "g/l": "g/L",
	"g/dL": "g/dL", "mg/dL": "mg/dL", "mg/L": "mg/L", "mg/l": "mg/L", "ug/L": "ug/L", "ng/mL": "ng/mL",
	"ng/L": "ng/L", "U/L": "U/L", "IU/L": "[IU]/L", "mU/L": "mU/L", "mIU/L": "m[IU]/L", "kU/L": "kU/L",
	"%": "%", "10*9/L": "10*9/L", "10*12/L": "10*12/L", "fL": "fL", "pg": "pg", "mL/min": "mL/min",
	"kg": "kg", "g": "g", "mg": "mg", "ug": "ug", "cm": "cm", "m": "m", "mm": "mm", "L": "L", "mL": "mL",
	"mm[Hg]": "mm[Hg]", "mmHg": "mm[Hg]", "/min": "/min", "bpm": "/min", "Cel": "Cel", "s": "s",
	"min": "min", "h": "h", "d": "d", "a": "a", "kg/m2": "kg/m2", "mL/min/{1.73_m2}": "mL/min/{1.73_m2}",
}

// quantity builds a Quantity of value with the units of CWE u (CWE[Quantity]).
func quantity(value json.Number, u val) obj {
	q := obj{"value": value}
	code, text, sys := u.c(1).s(), u.c(2).s(), strings.ToUpper(u.c(3).s())
	if text == "" {
		text = code
	}
	if text != "" {
		q["unit"] = text
	}
	switch {
	case code != "" && sys == "UCUM":
		q["system"], q["code"] = ucumSystem, code
	case code != "" && sys == "":
		if c, ok := commonUCUM[code]; ok {
			q["system"], q["code"] = ucumSystem, c
		}
	case code != "" && codeSystem(sys) != "":
		q["system"], q["code"] = codeSystem(sys), code
	}
	return q
}

var comparators = map[string]string{"<": "<", "<=": "<=", ">": ">", ">=": ">="}

// obsValue sets the value[x] of an Observation from OBX-2 and OBX-5.
func (m *mapper) obsValue(obx *hl7v2.Segment, o obj) error {
	vt := strings.ToUpper(field(obx, m.d, 2).s())
	values := reps(obx, m.d, 5)
	if len(values) == 0 {
		return nil
	}
	v := values[0]
	units := field(obx, m.d, 6)
	loc := m.segLoc(obx, 5)
	switch vt {
	case "NM":
		s := v.s()
		if n, ok := decimal(s); ok {
			o["valueQuantity"] = quantity(n, units)
			return nil
		}
		// "<5" in an NM field: a comparator the sender should have put in an SN.
		for _, c := range []string{"<=", ">=", "<", ">"} {
			if rest, ok := strings.CutPrefix(s, c); ok {
				if n, ok := decimal(rest); ok {
					q := quantity(n, units)
					q["comparator"] = c
					o["valueQuantity"] = q
					return nil
				}
			}
		}
		m.warn("%s: %q is not a number; kept as text", loc, s)
		o["valueString"] = s
	case "SN":
		return m.structuredNumeric(v, units, o, loc)
	case "CE", "CWE", "CNE", "CF":
		if cc := codeable(v, ""); cc != nil {
			o["valueCodeableConcept"] = cc
		}
	case "IS", "ID":
		if c := v.s(); c != "" {
			o["valueCodeableConcept"] = obj{"coding": []any{coding("", c, "")}}
		}
	case "DT", "DTM", "TS":
		dt, err := m.dateTimeAt(v.c(1).s(), loc)
		if err != nil {
			return err
		}
		if dt != "" {
			o["valueDateTime"] = dt
		}
	case "TM":
		t := strings.TrimSpace(v.s())
		if i := strings.IndexAny(t, "+-"); i >= 0 {
			t = t[:i]
		}
		t, _, _ = strings.Cut(t, ".")
		if len(t) < 4 || len(t) > 6 || len(t)%2 != 0 || !allDigits(t) || t[:2] > "23" || t[2:4] > "59" || (len(t) == 6 && t[4:] > "59") {
			return errorf(hl7v2.CodeDataType, loc, "%q is not a valid HL7 time (HHMM[SS])", v.s())
		}
		for len(t) < 6 {
			t += "00"
		}
		o["valueTime"] = t[:2] + ":" + t[2:4] + ":" + t[4:]
	case "NR":
		r := obj{}
		if n, ok := decimal(v.c(1).s()); ok {
			r["low"] = simpleQuantity(n, units)
		}
		if n, ok := decimal(v.c(2).s()); ok {
			r["high"] = simpleQuantity(n, units)
		}
		if len(r) > 0 {
			o["valueRange"] = r
		}
	case "DR":
		p := obj{}
		s, err := m.dateTimeAt(v.c(1).sc(1).s(), loc)
		if err != nil {
			return err
		}
		e, err := m.dateTimeAt(v.c(2).sc(1).s(), loc)
		if err != nil {
			return err
		}
		if s != "" {
			p["start"] = s
		}
		if e != "" && (s == "" || e >= s) {
			p["end"] = e
		}
		if len(p) > 0 {
			o["valuePeriod"] = p
		}
	default:
		// ST, TX, FT and anything else: text, repetitions as lines.
		var lines []string
		for _, r := range values {
			if t := r.text(); t != "" {
				lines = append(lines, t)
			}
		}
		if t := strings.Join(lines, "\n"); t != "" {
			o["valueString"] = t
		}
	}
	return nil
}

func simpleQuantity(n json.Number, u val) obj {
	q := quantity(n, u)
	delete(q, "comparator")
	return q
}

// structuredNumeric maps an SN (SN[Quantity], SN[Range], SN[Ratio]).
func (m *mapper) structuredNumeric(v, units val, o obj, loc string) error {
	cmp, n1, sep, n2 := v.c(1).s(), v.c(2).s(), v.c(3).s(), v.c(4).s()
	if n1 == "" && sep == "" && n2 == "" {
		// "<0.10" or "5" in one component: the comparator (if any) and the
		// number run together.
		if _, ok := decimal(cmp); ok {
			cmp, n1 = "", cmp
		}
		for _, c := range []string{"<=", ">=", "<>", "<", ">", "="} {
			if rest, ok := strings.CutPrefix(cmp, c); ok && rest != "" {
				cmp, n1 = c, strings.TrimSpace(rest)
				break
			}
		}
	}
	asText := func() {
		o["valueString"] = strings.TrimSpace(strings.Join(nonEmpty(cmp, n1, sep, n2, units.c(1).s()), " "))
	}
	a, ok1 := decimal(n1)
	b, ok2 := decimal(n2)
	switch {
	case cmp == "<>" || sep == "+" || sep == ".":
		asText()
	case (sep == ":" || sep == "/") && ok1 && ok2:
		o["valueRatio"] = obj{"numerator": obj{"value": a}, "denominator": obj{"value": b}}
	case sep == "-" && ok1 && ok2:
		o["valueRange"] = obj{"low": simpleQuantity(a, units), "high": simpleQuantity(b, units)}
	case sep == "" && n2 == "" && ok1:
		q := quantity(a, units)
		if c, ok := comparators[cmp]; ok {
			q["comparator"] = c
		}
		o["valueQuantity"] = q
	case n1 == "" && n2 == "" && cmp == "":
		return nil
	default:
		m.warn("%s: structured numeric %q could not be read as numbers; kept as text", loc, v.text())
		asText()
	}
	return nil
}

var rangeRe = regexp.MustCompile(`^\s*(-?[0-9.]+)\s*-\s*(-?[0-9.]+)\s*$`)

// referenceRange maps OBX-7: its text, and low/high when it is "a-b", in the
// units of the value.
func (m *mapper) referenceRange(text string, o obj) obj {
	if text == "" {
		return nil
	}
	rr := obj{"text": text}
	if mm := rangeRe.FindStringSubmatch(text); mm != nil {
		lo, ok1 := decimal(mm[1])
		hi, ok2 := decimal(mm[2])
		if ok1 && ok2 {
			q, _ := o["valueQuantity"].(obj)
			mk := func(n json.Number) obj {
				x := obj{"value": n}
				for _, k := range []string{"unit", "system", "code"} {
					if q != nil && q[k] != nil {
						x[k] = q[k]
					}
				}
				return x
			}
			rr["low"], rr["high"] = mk(lo), mk(hi)
		}
	}
	return rr
}
