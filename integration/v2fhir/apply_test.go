package v2fhir

import (
	"context"
	"encoding/json"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/integration/hl7v2"
	"github.com/concord-health/concord/interaction"
	"github.com/concord-health/concord/search"
	"github.com/concord-health/concord/store/sqlite"
)

// testService is a Service over a fresh SQLite store that validates every
// write (enforce), so a mapped Bundle the server would reject fails here.
func testService(t *testing.T) *interaction.Service {
	t.Helper()
	reg := definitions.R4()
	ix, err := search.NewExtractor(reg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.OpenFile(context.Background(), filepath.Join(t.TempDir(), "concord.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc := interaction.New(st, reg, ix)
	p, err := interaction.ParseValidationPolicy("enforce", "")
	if err != nil {
		t.Fatal(err)
	}
	svc.Validation = p
	return svc
}

// msg builds a message from segments written one per line.
func msg(t *testing.T, segs ...string) *hl7v2.Message {
	t.Helper()
	m, err := hl7v2.Parse([]byte(strings.Join(segs, "\r")))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// apply maps m and posts the Bundle as a transaction.
func apply(t *testing.T, svc *interaction.Service, m *hl7v2.Message) *Result {
	t.Helper()
	r, err := Map(m, testOpts)
	if err != nil {
		t.Fatalf("map: %v", err)
	}
	checkBundle(t, r.Bundle)
	resp := svc.Do(context.Background(), &interaction.Request{Method: "POST", Path: "", Body: r.Bundle, Source: "hl7v2/test"})
	if resp.Status != 200 {
		t.Fatalf("transaction: status %d: %s\n%s", resp.Status, resp.Body, r.Bundle)
	}
	return r
}

// search returns the resources of a search.
func search_(t *testing.T, svc *interaction.Service, typ string, q url.Values) []map[string]any {
	t.Helper()
	r := svc.Do(context.Background(), &interaction.Request{Method: "GET", Path: typ, Query: q})
	if r.Status != 200 {
		t.Fatalf("search %s?%s: %d %s", typ, q.Encode(), r.Status, r.Body)
	}
	var b struct {
		Entry []struct {
			Resource map[string]any
		}
	}
	if err := json.Unmarshal(r.Body, &b); err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, e := range b.Entry {
		out = append(out, e.Resource)
	}
	return out
}

func all(t *testing.T, svc *interaction.Service, typ string) []map[string]any {
	return search_(t, svc, typ, url.Values{"_count": {"100"}})
}

// 9434765919 is a valid NHS number (Modulus 11).
const pidA = "PID|1||9434765919^^^NHS^NH~M100001^^^RXA^MR||SMITH^JOHN^A^^MR^^L||19800214|M|||1 HIGH STREET^^LEEDS^^LS1 1AA^GBR^H||01131234567^PRN^PH|||M"

var pv1A = seg("PV1", map[int]string{1: "1", 2: "I", 3: "WARD1^BAY2^BED3^RXA", 7: "C1234567^JONES^ANNE^^^DR^^^GMC",
	10: "MED", 14: "19", 19: "V200001", 44: "20240301100000"})

// seg writes a segment from its fields by number.
func seg(name string, fields map[int]string) string {
	n := 0
	for k := range fields {
		n = max(n, k)
	}
	parts := make([]string, n+1)
	parts[0] = name
	for k, v := range fields {
		parts[k] = v
	}
	return strings.Join(parts, "|")
}

func header(event, control string) string {
	return "MSH|^~\\&|PAS|RXA|CONCORD|RXA|20240301101500||ADT^" + event + "^ADT_A01|" + control + "|P|2.4"
}

func TestApplyADTIdempotent(t *testing.T) {
	svc := testService(t)
	a01 := msg(t, header("A01", "C1"), "EVN|A01|20240301101500|||||RXA01", pidA, pv1A,
		"OBX|1|NM|8302-2^Body height^LN||180|cm^centimetre^UCUM|||||F")
	r1 := apply(t, svc, a01)
	apply(t, svc, a01)
	if n := len(all(t, svc, "Patient")); n != 1 {
		t.Fatalf("%d Patients after the same A01 twice, want 1", n)
	}
	if n := len(all(t, svc, "Encounter")); n != 1 {
		t.Fatalf("%d Encounters, want 1", n)
	}
	if n := len(all(t, svc, "Practitioner")); n != 1 {
		t.Fatalf("%d Practitioners, want 1", n)
	}
	if n := len(all(t, svc, "Organization")); n != 2 {
		t.Fatalf("%d Organizations, want 2 (the trust and the EVN-7 site)", n)
	}
	if got := search_(t, svc, "Organization", url.Values{"identifier": {ODSSiteSystem + "|RXA01"}}); len(got) != 1 || got[0]["partOf"] == nil {
		t.Errorf("EVN-7 site %v", got)
	}
	if n := len(all(t, svc, "Location")); n != 4 {
		t.Fatalf("%d Locations, want 4 (site, ward, bay, bed)", n)
	}
	if r1.PatientKey != "https://fhir.rxa.nhs.uk/Id/local-patient-identifier|M100001" {
		t.Errorf("patient key %q", r1.PatientKey)
	}
	// Found by NHS number as well as MRN.
	if got := search_(t, svc, "Patient", url.Values{"identifier": {NHSNumberSystem + "|9434765919"}}); len(got) != 1 {
		t.Fatalf("search by NHS number: %d", len(got))
	}
	enc := all(t, svc, "Encounter")[0]
	if cls := enc["class"].(map[string]any)["code"]; cls != "IMP" {
		t.Errorf("class %v", cls)
	}
	if ref := enc["subject"].(map[string]any)["reference"].(string); !strings.HasPrefix(ref, "Patient/") {
		t.Errorf("Encounter.subject %q", ref)
	}
}

func TestApplyA04ThenA08(t *testing.T) {
	svc := testService(t)
	apply(t, svc, msg(t, header("A04", "C1"), "EVN|A04|20240301101500", pidA, pv1A))
	// The A08 has no NHS number: the patient is found by MRN and updated.
	pid := "PID|1||M100001^^^RXA^MR||SMITH^JONATHAN^A^^MR^^L||19800214|M|||2 LOW ROAD^^LEEDS^^LS2 2BB^GBR^H"
	apply(t, svc, msg(t, header("A08", "C2"), "EVN|A08|20240302090000", pid, pv1A))
	ps := all(t, svc, "Patient")
	if len(ps) != 1 {
		t.Fatalf("%d Patients, want 1", len(ps))
	}
	b, _ := json.Marshal(ps[0])
	if !strings.Contains(string(b), "JONATHAN") || !strings.Contains(string(b), "LS2 2BB") {
		t.Errorf("A08 did not update the Patient: %s", b)
	}
	// A03 discharges: the visit is finished, with the discharge disposition.
	pv1 := seg("PV1", map[int]string{1: "1", 2: "I", 3: "WARD1^BAY2^BED3^RXA", 19: "V200001", 36: "01^Discharged home",
		44: "20240301100000", 45: "20240305120000"})
	apply(t, svc, msg(t, header("A03", "C3"), "EVN|A03|20240305120000", pid, pv1))
	enc := all(t, svc, "Encounter")
	if len(enc) != 1 || enc[0]["status"] != "finished" {
		t.Fatalf("after A03: %v", enc)
	}
	per := enc[0]["period"].(map[string]any)
	if per["end"] != "2024-03-05T12:00:00+00:00" || per["start"] != "2024-03-01T10:00:00+00:00" {
		t.Errorf("period %v", per)
	}
}

func TestApplyORU(t *testing.T) {
	svc := testService(t)
	apply(t, svc, msg(t, header("A01", "C1"), "EVN|A01|20240301101500", pidA, pv1A))
	oru := msg(t, "MSH|^~\\&|LAB|RXA|CONCORD|RXA|20240301121500||ORU^R01^ORU_R01|L1|P|2.4",
		"PID|1||M100001^^^RXA^MR||SMITH^JOHN",
		"PV1|1|I|||||||||||||||||V200001",
		"OBR|1|PL100^ICE|FL200^LAB|U&E^Urea and electrolytes^L|||20240301110000|||||||||||||||20240301120000||CH|F",
		"NTE|1||Sample slightly haemolysed",
		"OBX|1|NM|22664-7^Urea^LN||5.4|mmol/L^^UCUM|2.5-7.8|N|||F",
		"OBX|2|NM|2823-3^Potassium^LN||6.1|mmol/L|3.5-5.3|H|||F",
		"NTE|1||Repeat advised",
		"OBX|3|ST|8251-1^Comment^LN||Fasting sample||||||F",
		"OBX|4|SN|5778-6^Ratio^LN||^1^:^128||||||F",
		"OBX|5|CWE|600-7^Culture^LN||3092008^Staphylococcus aureus^SCT||||||F",
		"OBX|6|DT|8665-2^Last period^LN||20240201||||||F")
	apply(t, svc, oru)
	apply(t, svc, oru) // a repeat changes nothing
	if n := len(all(t, svc, "Patient")); n != 1 {
		t.Fatalf("%d Patients, want 1", n)
	}
	reports := all(t, svc, "DiagnosticReport")
	if len(reports) != 1 {
		t.Fatalf("%d DiagnosticReports, want 1", len(reports))
	}
	obs := all(t, svc, "Observation")
	if len(obs) != 6 {
		t.Fatalf("%d Observations, want 6", len(obs))
	}
	pat := all(t, svc, "Patient")[0]["id"].(string)
	if got := search_(t, svc, "Observation", url.Values{"subject": {"Patient/" + pat}}); len(got) != 6 {
		t.Errorf("%d Observations reference the Patient", len(got))
	}
	if got := search_(t, svc, "DiagnosticReport", url.Values{"subject": {"Patient/" + pat}}); len(got) != 1 {
		t.Errorf("the DiagnosticReport does not reference the Patient")
	}
	if rs := reports[0]["result"].([]any); len(rs) != 6 {
		t.Errorf("report has %d results", len(rs))
	}
	// The PAS demographics were not overwritten by the thin PID of the result.
	b, _ := json.Marshal(all(t, svc, "Patient")[0])
	if !strings.Contains(string(b), "HIGH STREET") {
		t.Errorf("ORU overwrote the Patient: %s", b)
	}
	byCode := map[string]map[string]any{}
	for _, o := range obs {
		c := o["code"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"].(string)
		byCode[c] = o
	}
	k := byCode["2823-3"]
	q := k["valueQuantity"].(map[string]any)
	if q["value"] != 6.1 || q["system"] != ucumSystem || q["code"] != "mmol/L" {
		t.Errorf("potassium quantity %v", q)
	}
	if in := k["interpretation"].([]any)[0].(map[string]any)["coding"].([]any)[0].(map[string]any); in["code"] != "H" || in["system"] != v3Interp {
		t.Errorf("interpretation %v", in)
	}
	rr := k["referenceRange"].([]any)[0].(map[string]any)
	if rr["text"] != "3.5-5.3" || rr["low"].(map[string]any)["value"] != 3.5 {
		t.Errorf("reference range %v", rr)
	}
	if note := k["note"].([]any)[0].(map[string]any)["text"]; note != "Repeat advised" {
		t.Errorf("note %v", note)
	}
	if byCode["8251-1"]["valueString"] != "Fasting sample" {
		t.Errorf("ST value %v", byCode["8251-1"])
	}
	if _, ok := byCode["5778-6"]["valueRatio"]; !ok {
		t.Errorf("SN ratio %v", byCode["5778-6"])
	}
	if _, ok := byCode["600-7"]["valueCodeableConcept"]; !ok {
		t.Errorf("CWE value %v", byCode["600-7"])
	}
	if byCode["8665-2"]["valueDateTime"] != "2024-02-01" {
		t.Errorf("DT value %v", byCode["8665-2"])
	}
}

func TestApplyMerge(t *testing.T) {
	svc := testService(t)
	old := "PID|1||M100002^^^RXA^MR||SMITH^JON||19800214|M"
	apply(t, svc, msg(t, header("A04", "C1"), "EVN|A04|20240301101500", old, "PV1|1|O|||||||||||||||||V300001"))
	apply(t, svc, msg(t, header("A04", "C2"), "EVN|A04|20240301101500", pidA, pv1A))
	r := apply(t, svc, msg(t, "MSH|^~\\&|PAS|RXA|CONCORD|RXA|20240303101500||ADT^A40^ADT_A39|C3|P|2.4",
		"EVN|A40|20240303101500", pidA, "MRG|M100002^^^RXA^MR||||||SMITH^JON"))
	if r.MergedFrom != "https://fhir.rxa.nhs.uk/Id/local-patient-identifier|M100002" {
		t.Errorf("MergedFrom %q", r.MergedFrom)
	}
	ps := all(t, svc, "Patient")
	if len(ps) != 2 {
		t.Fatalf("%d Patients, want 2", len(ps))
	}
	var oldP, survivor map[string]any
	for _, p := range ps {
		b, _ := json.Marshal(p)
		if strings.Contains(string(b), "M100002") {
			oldP = p
		} else {
			survivor = p
		}
	}
	if oldP == nil || survivor == nil {
		t.Fatal("patients not told apart")
	}
	if oldP["active"] != false {
		t.Errorf("old patient active %v", oldP["active"])
	}
	link := oldP["link"].([]any)[0].(map[string]any)
	if link["type"] != "replaced-by" || link["other"].(map[string]any)["reference"] != "Patient/"+survivor["id"].(string) {
		t.Errorf("old patient link %v", link)
	}
	back := survivor["link"].([]any)[0].(map[string]any)
	if back["type"] != "replaces" || back["other"].(map[string]any)["reference"] != "Patient/"+oldP["id"].(string) {
		t.Errorf("survivor link %v", back)
	}
	// The old patient's visit still points at the old record, which says where it went.
	if n := len(all(t, svc, "Encounter")); n != 2 {
		t.Errorf("%d Encounters", n)
	}
}

func TestApplyMDM(t *testing.T) {
	svc := testService(t)
	t02 := func(event, control, status, text string) *hl7v2.Message {
		return msg(t, "MSH|^~\\&|EPR|RXA|CONCORD|RXA|20240301121500||MDM^"+event+"^MDM_T02|"+control+"|P|2.4",
			"EVN|"+event+"|20240301121500",
			"PID|1||M100001^^^RXA^MR||SMITH^JOHN",
			"PV1|1|I|||||||||||||||||V200001",
			seg("TXA", map[int]string{1: "1", 2: "DS^Discharge summary^L", 3: "TX", 4: "20240301120000",
				6: "20240301120000", 9: "C1234567^JONES^ANNE", 12: "DOC-77^EPR", 17: status, 19: "AV"}),
			"OBX|1|TX|DS^Discharge summary^L||"+text+"||||||F",
			"OBX|2|ED|PDF^Letter^L||^AP^PDF^Base64^JVBERi0xLjQK||||||F")
	}
	apply(t, svc, t02("T02", "D1", "PA", "Admitted with chest pain."))
	apply(t, svc, t02("T08", "D2", "AU", "Admitted with chest pain; discharged well."))
	docs := all(t, svc, "DocumentReference")
	if len(docs) != 1 {
		t.Fatalf("%d DocumentReferences after T02 and T08, want 1", len(docs))
	}
	d := docs[0]
	if d["docStatus"] != "amended" {
		t.Errorf("docStatus %v", d["docStatus"])
	}
	content := d["content"].([]any)
	if len(content) != 2 {
		t.Fatalf("%d contents", len(content))
	}
	a := content[0].(map[string]any)["attachment"].(map[string]any)
	if !strings.HasPrefix(a["contentType"].(string), "text/plain") || a["data"] != "QWRtaXR0ZWQgd2l0aCBjaGVzdCBwYWluOyBkaXNjaGFyZ2VkIHdlbGwu" {
		t.Errorf("text attachment %v", a)
	}
	pdf := content[1].(map[string]any)["attachment"].(map[string]any)
	if pdf["contentType"] != "application/pdf" || pdf["data"] != "JVBERi0xLjQK" {
		t.Errorf("ED attachment %v", pdf)
	}
}

func TestApplyOrders(t *testing.T) {
	svc := testService(t)
	orm := msg(t, "MSH|^~\\&|ICE|RXA|LAB|RXA|20240301121500||ORM^O01^ORM_O01|O1|P|2.4",
		"PID|1||M100001^^^RXA^MR||SMITH^JOHN",
		"PV1|1|O|||||||||||||||||V400001",
		seg("ORC", map[int]string{1: "NW", 2: "PL500^ICE", 7: "^^^^^R", 9: "20240301121000", 12: "C1234567^JONES^ANNE"}),
		"OBR|1|PL500^ICE||FBC^Full blood count^L",
		"NTE|1||Patient on warfarin")
	apply(t, svc, orm)
	apply(t, svc, orm)
	srs := all(t, svc, "ServiceRequest")
	if len(srs) != 1 {
		t.Fatalf("%d ServiceRequests, want 1", len(srs))
	}
	if srs[0]["status"] != "active" || srs[0]["intent"] != "order" || srs[0]["priority"] != "routine" {
		t.Errorf("service request %v", srs[0])
	}
}

// A patient registered before the NHS number was traced is found by MRN
// when the number arrives, and gains it.
func TestApplyNHSNumberArrivesLater(t *testing.T) {
	svc := testService(t)
	apply(t, svc, msg(t, header("A28", "C1"), "EVN|A28|20240301101500", "PID|1||M100001^^^RXA^MR||SMITH^JOHN||19800214|M", "PV1|1|N"))
	apply(t, svc, msg(t, header("A31", "C2"), "EVN|A31|20240302101500", pidA, "PV1|1|N"))
	ps := all(t, svc, "Patient")
	if len(ps) != 1 {
		t.Fatalf("%d Patients, want 1", len(ps))
	}
	if got := search_(t, svc, "Patient", url.Values{"identifier": {NHSNumberSystem + "|9434765919"}}); len(got) != 1 {
		t.Errorf("the NHS number was not added")
	}
}

// A corrected result (OBX-11 C) replaces the Observation it corrects.
func TestApplyCorrectedResult(t *testing.T) {
	svc := testService(t)
	oru := func(control, value, status string) *hl7v2.Message {
		return msg(t, "MSH|^~\\&|LAB|RXA|CONCORD|RXA|20240301121500||ORU^R01^ORU_R01|"+control+"|P|2.4",
			"PID|1||M100001^^^RXA^MR||SMITH^JOHN",
			seg("OBR", map[int]string{1: "1", 2: "PL1", 3: "FL1", 4: "GLU^Glucose^L", 7: "20240301110000", 25: status}),
			seg("OBX", map[int]string{1: "1", 2: "NM", 3: "2345-7^Glucose^LN", 5: value, 6: "mmol/L", 11: status}))
	}
	apply(t, svc, oru("L1", "5.1", "F"))
	apply(t, svc, oru("L2", "15.1", "C"))
	obs := all(t, svc, "Observation")
	if len(obs) != 1 {
		t.Fatalf("%d Observations, want 1", len(obs))
	}
	if obs[0]["status"] != "corrected" || obs[0]["valueQuantity"].(map[string]any)["value"] != 15.1 {
		t.Errorf("corrected observation %v", obs[0])
	}
	if rs := all(t, svc, "DiagnosticReport"); len(rs) != 1 || rs[0]["status"] != "corrected" {
		t.Errorf("reports %v", rs)
	}
}

// A merge of a record the server has never seen still applies: the old
// record is created inactive and linked.
func TestApplyMergeUnknownOld(t *testing.T) {
	svc := testService(t)
	apply(t, svc, msg(t, "MSH|^~\\&|PAS|RXA|CONCORD|RXA|20240303101500||ADT^A40^ADT_A39|C3|P|2.4",
		"EVN|A40|20240303101500", pidA, "MRG|M999999^^^RXA^MR"))
	ps := all(t, svc, "Patient")
	if len(ps) != 2 {
		t.Fatalf("%d Patients, want 2", len(ps))
	}
	inactive := search_(t, svc, "Patient", url.Values{"active": {"false"}})
	if len(inactive) != 1 {
		t.Fatalf("%d inactive Patients", len(inactive))
	}
}
