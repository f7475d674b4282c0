package integration_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/integration"
	"github.com/concord-health/concord/integration/hl7v2"
	"github.com/concord-health/concord/integration/mllp"
	"github.com/concord-health/concord/interaction"
	"github.com/concord-health/concord/search"
	"github.com/concord-health/concord/store"
	"github.com/concord-health/concord/store/sqlite"
)

// rig is an engine behind a real MLLP listener, over a SQLite store.
type rig struct {
	svc    *interaction.Service
	st     store.Store
	inbox  store.Inbox
	engine *integration.Engine
	client *mllp.Client
}

func newRig(t *testing.T, cfg *integration.Config, policy string) *rig {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.OpenFile(ctx, filepath.Join(t.TempDir(), "concord.db"))
	if err != nil {
		t.Fatal(err)
	}
	reg := definitions.R4()
	ix, err := search.NewExtractor(reg)
	if err != nil {
		t.Fatal(err)
	}
	svc := interaction.New(st, reg, ix)
	if svc.Validation, err = interaction.ParseValidationPolicy(policy, ""); err != nil {
		t.Fatal(err)
	}
	if policy != "off" {
		// The validator loads the core definitions on first use, which under the race
		// detector takes longer than a test should wait for one message.
		svc.Do(ctx, &interaction.Request{Method: "POST", Path: "Patient/$validate", Body: []byte(`{"resourceType":"Patient"}`)})
	}
	engine := integration.New(cfg, st, svc, integration.Options{Retry: integration.Retry{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond, Attempts: 3}})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); engine.Run(runCtx) }()
	srv := &mllp.Server{Handler: engine.Handle, ReadTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	client, err := mllp.Dial(ctx, ln.Addr().String(), &mllp.Options{ResponseTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		srv.Close()
		cancel()
		<-done
		st.Close()
	})
	return &rig{svc: svc, st: st, inbox: st, engine: engine, client: client}
}

// send sends a message and returns its ACK's MSA-1 and the ACK.
func (r *rig) send(t *testing.T, m *hl7v2.Message) (string, *hl7v2.Message) {
	t.Helper()
	raw, err := r.client.Send(context.Background(), m.Encode())
	if err != nil {
		t.Fatal(err)
	}
	ack, err := hl7v2.Parse(raw)
	if err != nil {
		t.Fatalf("ACK does not parse: %v\n%q", err, raw)
	}
	return ack.Get("MSA-1"), ack
}

// settle waits until the channel has no pending message.
func (r *rig) settle(t *testing.T, channel string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		c, err := r.inbox.Counts(context.Background(), channel)
		if err != nil {
			t.Fatal(err)
		}
		if c.Pending == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	all, _ := r.inbox.List(context.Background(), store.InboxFilter{})
	for _, m := range all {
		t.Logf("message %d %s: %s, %d attempts, %s", m.Seq, m.Type, m.State, m.Attempts, m.Reason)
	}
	t.Fatal("messages still pending after a minute")
}

// search runs a FHIR search and returns the resources found.
func (r *rig) search(t *testing.T, typ, query string) []map[string]any {
	t.Helper()
	q, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	resp := r.svc.Do(context.Background(), &interaction.Request{Method: "GET", Path: typ, Query: q})
	if resp.Status != 200 {
		t.Fatalf("%s?%s: %d %s", typ, query, resp.Status, resp.Body)
	}
	var b struct {
		Entry []struct {
			Resource map[string]any
			Search   struct{ Mode string }
		}
	}
	if err := json.Unmarshal(resp.Body, &b); err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, e := range b.Entry {
		if e.Search.Mode != "outcome" {
			out = append(out, e.Resource)
		}
	}
	return out
}

// message builds a message from the sending PAS of trust RXA, with PID for one patient
// unless pid is false.
type field struct{ path, value string }

func message(t *testing.T, typ, controlID string, fields ...field) *hl7v2.Message {
	t.Helper()
	m, err := hl7v2.NewMessage(hl7v2.DefaultDelimiters, "2.5.1")
	if err != nil {
		t.Fatal(err)
	}
	code, event, _ := strings.Cut(typ, "^")
	base := []field{
		{"MSH-3", "PAS"}, {"MSH-4", "RXA01"}, {"MSH-5", "CONCORD"}, {"MSH-6", "ICS"},
		{"MSH-7", "20261127090000+0000"}, {"MSH-9.1", code}, {"MSH-9.2", event}, {"MSH-10", controlID}, {"MSH-11", "P"},
	}
	for _, f := range append(base, fields...) {
		if err := m.Set(f.path, f.value); err != nil {
			t.Fatalf("%s: %v", f.path, err)
		}
	}
	return m
}

// patient is PID for Jane Smith: NHS number 9000000009 and local number 12345.
var patient = []field{
	{"PID-1", "1"},
	{"PID-3[1].1", "9000000009"}, {"PID-3[1].4", "NHS"}, {"PID-3[1].5", "NH"},
	{"PID-3[2].1", "12345"}, {"PID-3[2].4", "RXA"}, {"PID-3[2].5", "MR"},
	{"PID-5.1", "SMITH"}, {"PID-5.2", "JANE"}, {"PID-5.5", "MRS"},
	{"PID-7", "19700101"}, {"PID-8", "F"},
	{"PID-11.1", "1 HIGH STREET"}, {"PID-11.3", "LEEDS"}, {"PID-11.5", "LS1 1AA"}, {"PID-11.7", "H"},
}

func visit(class, number, admitted string, more ...field) []field {
	f := []field{{"PV1-1", "1"}, {"PV1-2", class}, {"PV1-3.1", "WARD7"}, {"PV1-3.2", "BED3"}, {"PV1-3.4", "RXA01"},
		{"PV1-7.1", "C1234567"}, {"PV1-7.2", "BROWN"}, {"PV1-7.3", "ALAN"},
		{"PV1-19.1", number}, {"PV1-44", admitted}}
	return append(f, more...)
}

func with(groups ...[]field) []field {
	var out []field
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// TestPatientJourney sends one patient's journey over a real MLLP socket: registration,
// admission, a result, a discharge summary, discharge, and the merge of a duplicate record,
// then reads the record back through the FHIR API.
func TestPatientJourney(t *testing.T) {
	r := newRig(t, nil, "warn")
	steps := []struct {
		name string
		msg  *hl7v2.Message
	}{
		{"A04 registration", message(t, "ADT^A04", "MSG1", with([]field{{"EVN-1", "A04"}, {"EVN-2", "20261127090000+0000"}}, patient,
			visit("O", "V100", "20261127090000+0000"))...)},
		{"A01 admission", message(t, "ADT^A01", "MSG2", with([]field{{"EVN-1", "A01"}, {"EVN-2", "20261127100000+0000"}}, patient,
			visit("I", "V200", "20261127100000+0000"))...)},
		{"ORU result", message(t, "ORU^R01", "MSG3", with(patient, []field{
			{"OBR-1", "1"}, {"OBR-2", "ORD100"}, {"OBR-3", "LAB200"}, {"OBR-4.1", "UE"}, {"OBR-4.2", "Urea and electrolytes"}, {"OBR-4.3", "L"},
			{"OBR-7", "20261127103000+0000"}, {"OBR-22", "20261127110000+0000"}, {"OBR-25", "F"},
			{"OBX-1", "1"}, {"OBX-2", "NM"}, {"OBX-3.1", "2823-3"}, {"OBX-3.2", "Potassium"}, {"OBX-3.3", "LN"},
			{"OBX-5", "5.9"}, {"OBX-6.1", "mmol/L"}, {"OBX-6.3", "UCUM"}, {"OBX-7", "3.5-5.3"}, {"OBX-8", "H"}, {"OBX-11", "F"},
			{"OBX-14", "20261127103000+0000"},
		})...)},
		{"MDM discharge summary", message(t, "MDM^T02", "MSG4", with([]field{{"EVN-1", "T02"}, {"EVN-2", "20261127120000+0000"}}, patient,
			visit("I", "V200", "20261127100000+0000"), []field{
				{"TXA-1", "1"}, {"TXA-2.1", "DS"}, {"TXA-2.2", "Discharge summary"}, {"TXA-3", "TX"},
				{"TXA-4", "20261127115500+0000"}, {"TXA-12.1", "DOC300"}, {"TXA-17", "AU"},
				{"OBX-1", "1"}, {"OBX-2", "TX"}, {"OBX-3.1", "18842-5"}, {"OBX-3.2", "Discharge summary"}, {"OBX-3.3", "LN"},
				{"OBX-5", "Admitted with hyperkalaemia. Treated and discharged home."}, {"OBX-11", "F"},
			})...)},
		{"A03 discharge", message(t, "ADT^A03", "MSG5", with([]field{{"EVN-1", "A03"}, {"EVN-2", "20261127130000+0000"}}, patient,
			visit("I", "V200", "20261127100000+0000", field{"PV1-36", "01"}, field{"PV1-45", "20261127130000+0000"}))...)},
		{"A28 duplicate record", message(t, "ADT^A28", "MSG6", []field{{"EVN-1", "A28"}, {"EVN-2", "20261127140000+0000"},
			{"PID-1", "1"}, {"PID-3.1", "67890"}, {"PID-3.4", "RXA"}, {"PID-3.5", "MR"}, {"PID-5.1", "SMITH"}, {"PID-5.2", "JANE"},
			{"PID-7", "19700101"}, {"PID-8", "F"}}...)},
		{"ORU for the duplicate", message(t, "ORU^R01", "MSG6B", []field{
			{"PID-1", "1"}, {"PID-3.1", "67890"}, {"PID-3.4", "RXA"}, {"PID-3.5", "MR"}, {"PID-5.1", "SMITH"}, {"PID-5.2", "JANE"},
			{"OBR-1", "1"}, {"OBR-3", "LAB201"}, {"OBR-4.1", "FBC"}, {"OBR-4.2", "Full blood count"}, {"OBR-4.3", "L"},
			{"OBR-7", "20261127143000+0000"}, {"OBR-25", "F"},
			{"OBX-1", "1"}, {"OBX-2", "NM"}, {"OBX-3.1", "718-7"}, {"OBX-3.2", "Haemoglobin"}, {"OBX-3.3", "LN"},
			{"OBX-5", "135"}, {"OBX-6.1", "g/L"}, {"OBX-6.3", "UCUM"}, {"OBX-11", "F"},
		}...)},
		{"A40 merge", message(t, "ADT^A40", "MSG7", with([]field{{"EVN-1", "A40"}, {"EVN-2", "20261127150000+0000"}}, patient,
			[]field{{"MRG-1.1", "67890"}, {"MRG-1.4", "RXA"}, {"MRG-1.5", "MR"}})...)},
	}
	for _, s := range steps {
		if code, ack := r.send(t, s.msg); code != "AA" {
			t.Fatalf("%s: ACK %s\n%s", s.name, code, strings.ReplaceAll(ack.String(), "\r", "\n"))
		}
		r.settle(t, "default")
	}
	failed := store.InboxFailed
	if dead, _ := r.inbox.List(context.Background(), store.InboxFilter{State: &failed}); len(dead) > 0 {
		t.Fatalf("dead letters: %s: %s", dead[0].Type, dead[0].Reason)
	}

	patients := r.search(t, "Patient", "identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009")
	if len(patients) != 1 {
		t.Fatalf("%d patients with the NHS number, want 1", len(patients))
	}
	p := patients[0]
	id := p["id"].(string)
	if name := fmt.Sprint(p["name"]); !strings.Contains(name, "SMITH") && !strings.Contains(name, "Smith") {
		t.Errorf("patient name %s", name)
	}
	encounters := r.search(t, "Encounter", "patient="+id)
	if len(encounters) != 2 {
		t.Fatalf("%d encounters, want 2 (the outpatient visit and the admission)", len(encounters))
	}
	var admission map[string]any
	for _, e := range encounters {
		if strings.Contains(fmt.Sprint(e["identifier"]), "V200") {
			admission = e
		}
	}
	if admission == nil {
		t.Fatal("no encounter for visit V200")
	}
	if admission["status"] != "finished" || !strings.Contains(fmt.Sprint(admission["period"]), "2026-11-27T13:00:00") {
		t.Errorf("the admission is not finished at discharge: status %v period %v", admission["status"], admission["period"])
	}
	// Its own report, and the duplicate record's, moved to it by the merge.
	if reports := r.search(t, "DiagnosticReport", "patient="+id); len(reports) != 2 {
		t.Errorf("%d diagnostic reports, want 2", len(reports))
	}
	obs := r.search(t, "Observation", "patient="+id+"&code=http://loinc.org|2823-3")
	if len(obs) != 1 {
		t.Fatalf("%d potassium results, want 1", len(obs))
	}
	if q := fmt.Sprint(obs[0]["valueQuantity"]); !strings.Contains(q, "5.9") || !strings.Contains(q, "mmol/L") {
		t.Errorf("potassium value %s", q)
	}
	if !strings.Contains(fmt.Sprint(obs[0]["interpretation"]), "H") || obs[0]["referenceRange"] == nil {
		t.Errorf("potassium lacks its flag or range: %v", obs[0])
	}
	docs := r.search(t, "DocumentReference", "patient="+id)
	if len(docs) != 1 {
		t.Fatalf("%d documents, want 1", len(docs))
	}
	if !strings.Contains(fmt.Sprint(docs[0]["content"]), "attachment") {
		t.Errorf("the discharge summary has no attachment: %v", docs[0]["content"])
	}
	// The duplicate record is retired, pointing at the survivor.
	old := r.search(t, "Patient", "identifier=67890")
	if len(old) != 1 {
		t.Fatalf("%d records for the merged-away number, want 1", len(old))
	}
	if old[0]["active"] != false || !strings.Contains(fmt.Sprint(old[0]["link"]), "replaced-by") ||
		!strings.Contains(fmt.Sprint(old[0]["link"]), "Patient/"+id) {
		t.Errorf("merged-away record: active %v link %v", old[0]["active"], old[0]["link"])
	}
	// What the duplicate record held now belongs to the survivor.
	if hb := r.search(t, "Observation", "patient="+id+"&code=http://loinc.org|718-7"); len(hb) != 1 {
		t.Errorf("%d haemoglobin results on the surviving record, want 1", len(hb))
	}
	if left := r.search(t, "Observation", "patient="+old[0]["id"].(string)); len(left) != 0 {
		t.Errorf("%d results left on the retired record", len(left))
	}
}

// TestBadMessages: every message that cannot be taken is answered AE or AR with an ERR
// segment saying why, kept as a dead letter with the reason, and applies nothing.
func TestBadMessages(t *testing.T) {
	cfg, err := integration.ParseConfig([]byte(`
channels:
  - name: pas
    sending_application: PAS
    sending_facility: RXA01
    organization: RXA
    message_types: [ADT]
`))
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, cfg, "off")
	noPID := message(t, "ADT^A04", "B1", field{"EVN-1", "A04"})
	badDate := message(t, "ADT^A04", "B2", with([]field{{"EVN-1", "A04"}}, patient, []field{{"PID-7", "1970-13-45"}})...)
	oru := message(t, "ORU^R01", "B3", patient...)
	stranger := message(t, "ADT^A04", "B4", with([]field{{"MSH-4", "ELSEWHERE"}}, patient)...)
	for _, tc := range []struct {
		name, want, channel string
		raw                 []byte
	}{
		{"no PID", "AE", "pas", noPID.Encode()},
		{"bad date", "AE", "pas", badDate.Encode()},
		{"type the channel does not take", "AR", "pas", oru.Encode()},
		{"unknown sender", "AR", integration.Unrouted, stranger.Encode()},
		{"missing MSH", "AR", integration.Unrouted, []byte("PID|1||12345\r")},
		{"unsupported message", "AR", "pas", message(t, "ADT^A45", "B5", patient...).Encode()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := r.client.Send(context.Background(), tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			ack, err := hl7v2.Parse(raw)
			if err != nil {
				t.Fatalf("ACK does not parse: %v\n%q", err, raw)
			}
			if got := ack.Get("MSA-1"); !strings.HasPrefix(got, tc.want[:1]) || got == "AA" {
				t.Errorf("MSA-1 %s, want %s\n%s", got, tc.want, strings.ReplaceAll(ack.String(), "\r", "\n"))
			}
			if ack.Segment("ERR") == nil {
				t.Errorf("no ERR segment in\n%s", strings.ReplaceAll(ack.String(), "\r", "\n"))
			}
			failed := store.InboxFailed
			dead, err := r.inbox.List(context.Background(), store.InboxFilter{Channel: tc.channel, State: &failed, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, d := range dead {
				found = found || string(d.Body) == string(tc.raw) && d.Reason != ""
			}
			if !found {
				t.Errorf("no dead letter with a reason in channel %s", tc.channel)
			}
		})
	}
	if n := len(r.search(t, "Patient", "")); n != 0 {
		t.Errorf("%d patients written by refused messages", n)
	}
}

// TestDuplicatesAppliedOnce: a message sent twice (the same control id from the same
// sender) is acknowledged both times and applied once.
func TestDuplicatesAppliedOnce(t *testing.T) {
	r := newRig(t, nil, "off")
	m := message(t, "ADT^A04", "DUP1", with([]field{{"EVN-1", "A04"}}, patient, visit("O", "V1", "20261127090000+0000"))...)
	for range 2 {
		if code, ack := r.send(t, m); code != "AA" {
			t.Fatalf("ACK %s\n%s", code, strings.ReplaceAll(ack.String(), "\r", "\n"))
		}
	}
	r.settle(t, "default")
	all, err := r.inbox.List(context.Background(), store.InboxFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].State != store.InboxApplied {
		t.Fatalf("inbox holds %d messages, want 1 applied: %+v", len(all), all)
	}
	resp := r.svc.Do(context.Background(), &interaction.Request{Method: "GET", Path: "Patient/" + r.search(t, "Patient", "")[0]["id"].(string) + "/_history"})
	var h struct{ Total int }
	json.Unmarshal(resp.Body, &h)
	if h.Total != 1 {
		t.Errorf("the patient has %d versions, want 1", h.Total)
	}
	feeds := r.engine.Feeds(context.Background())
	if feeds[0].Channel != "default" || feeds[0].Received != 2 || feeds[0].Applied != 1 || feeds[0].QueueDepth != 0 || feeds[0].LastMessage == nil {
		t.Errorf("feed health %+v", feeds[0])
	}
}

// TestEnhancedMode: a sender asking for accept acknowledgements (MSH-15) gets CA once the
// message is stored, and CR for one refused.
func TestEnhancedMode(t *testing.T) {
	r := newRig(t, nil, "off")
	ok := message(t, "ADT^A04", "E1", with([]field{{"MSH-15", "AL"}, {"MSH-16", "NE"}, {"EVN-1", "A04"}}, patient)...)
	if code, ack := r.send(t, ok); code != "CA" {
		t.Errorf("MSA-1 %s, want CA\n%s", code, strings.ReplaceAll(ack.String(), "\r", "\n"))
	}
	bad := message(t, "ADT^A45", "E2", with([]field{{"MSH-15", "AL"}, {"MSH-16", "NE"}}, patient)...)
	if code, ack := r.send(t, bad); code != "CR" {
		t.Errorf("MSA-1 %s, want CR\n%s", code, strings.ReplaceAll(ack.String(), "\r", "\n"))
	}
}

// TestOversizedFrame: a message larger than the listener takes is refused with AR and the
// connection closed; the next connection works.
func TestOversizedFrame(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.OpenFile(ctx, filepath.Join(t.TempDir(), "concord.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := definitions.R4()
	ix, _ := search.NewExtractor(reg)
	engine := integration.New(nil, st, interaction.New(st, reg, ix), integration.Options{})
	srv := &mllp.Server{Handler: engine.Handle, OnFrameError: engine.FrameError, MaxMessageSize: 1024}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	big := message(t, "ADT^A04", "BIG", with(patient, []field{{"NTE-3", strings.Repeat("x", 4096)}})...)
	c, err := mllp.Dial(ctx, ln.Addr().String(), &mllp.Options{ResponseTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, err := c.Send(ctx, big.Encode())
	if err != nil {
		t.Fatal(err)
	}
	ack, err := hl7v2.Parse(raw)
	if err != nil || ack.Get("MSA-1") != "AR" || ack.Get("ERR-3.1") != "104" {
		t.Fatalf("NAK %q (%v)", raw, err)
	}
	small := message(t, "ADT^A04", "SMALL", with([]field{{"EVN-1", "A04"}}, patient)...)
	raw, err = c.Send(ctx, small.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if ack, _ := hl7v2.Parse(raw); ack == nil || ack.Get("MSA-1") != "AA" {
		t.Fatalf("after the oversized frame: %q", raw)
	}
}
