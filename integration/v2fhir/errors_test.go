package v2fhir

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/concord-health/concord/integration/hl7v2"
)

func TestMapErrors(t *testing.T) {
	adt := func(segs ...string) []string {
		return append([]string{header("A01", "E1"), "EVN|A01|20240301101500"}, segs...)
	}
	cases := []struct {
		name string
		segs []string
		opts Options
		code hl7v2.ErrorCode
		loc  string
	}{
		{"missing PID", adt(pv1A), testOpts, hl7v2.CodeSegmentSequence, "PID"},
		{"empty PID-3", adt("PID|1||||SMITH^JOHN||19800214|M", pv1A), testOpts, hl7v2.CodeRequiredFieldMissing, "PID-3"},
		{"only an invalid NHS number", adt("PID|1||9434765918^^^NHS^NH||SMITH^JOHN", pv1A), testOpts, hl7v2.CodeRequiredFieldMissing, "PID-3"},
		{"bad birth date", adt("PID|1||M1^^^RXA^MR||SMITH^JOHN||19801302|M", pv1A), testOpts, hl7v2.CodeDataType, "PID-7"},
		{"bad admit time", adt(pidA, seg("PV1", map[int]string{2: "I", 19: "V1", 44: "202403011261"})), testOpts, hl7v2.CodeDataType, "PV1-44"},
		{"bad offset", adt(pidA, seg("PV1", map[int]string{2: "I", 19: "V1", 44: "20240301120000+25"})), testOpts, hl7v2.CodeDataType, "PV1-44"},
		{"unsupported type", []string{"MSH|^~\\&|PAS|RXA|X|X|20240301||SIU^S12^SIU_S12|E2|P|2.4", pidA}, testOpts, hl7v2.CodeUnsupportedMessageType, "MSH-9"},
		{"unsupported event", []string{header("A17", "E3"), pidA}, testOpts, hl7v2.CodeUnsupportedMessageType, "MSH-9"},
		{"not allowed on the channel", adt(pidA, pv1A), Options{Organization: "RXA", AllowedTypes: []string{"ORU^R01"}}, hl7v2.CodeUnsupportedMessageType, "MSH-9"},
		{"no organisation", adt(pidA, pv1A), Options{}, hl7v2.CodeApplicationInternalError, ""},
		{"organisation not an ODS code", adt(pidA, pv1A), Options{Organization: "R X/A"}, hl7v2.CodeApplicationInternalError, ""},
		{"A40 without MRG", []string{header("A40", "E4"), pidA}, testOpts, hl7v2.CodeSegmentSequence, "MRG"},
		{"MDM without document number", []string{"MSH|^~\\&|EPR|RXA|C|RXA|20240301||MDM^T02^MDM_T02|E5|P|2.4",
			"PID|1||M1^^^RXA^MR", "TXA|1|DS|TX", "OBX|1|TX|X||text"}, testOpts, hl7v2.CodeRequiredFieldMissing, "TXA-12"},
		{"ORU without observation code", []string{"MSH|^~\\&|LAB|RXA|C|RXA|20240301||ORU^R01^ORU_R01|E6|P|2.4",
			"PID|1||M1^^^RXA^MR", "OBR|1|P1||FBC^Full blood count^L", "OBX|1|NM|||5"}, testOpts, hl7v2.CodeRequiredFieldMissing, "OBX-3"},
		{"ORU bad observation date", []string{"MSH|^~\\&|LAB|RXA|C|RXA|20240301||ORU^R01^ORU_R01|E7|P|2.4",
			"PID|1||M1^^^RXA^MR", "OBR|1|P1||FBC^Full blood count^L", "OBX|1|NM|X^Y^L||5", seg("OBX", map[int]string{1: "2", 2: "NM", 3: "X^Y^L", 5: "5", 11: "F", 14: "2024-03-01"})},
			testOpts, hl7v2.CodeDataType, "OBX(2)-14"},
		{"ORU for two patients", []string{"MSH|^~\\&|LAB|RXA|C|RXA|20240301||ORU^R01^ORU_R01|E8|P|2.4",
			"PID|1||M1^^^RXA^MR", "OBR|1|P1||FBC^Full blood count^L", "PID|2||M2^^^RXA^MR", "OBR|1|P2||FBC^Full blood count^L"},
			testOpts, hl7v2.CodeSegmentSequence, "PID(2)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Map(msg(t, c.segs...), c.opts)
			var me *MapError
			if !errors.As(err, &me) {
				t.Fatalf("err %v, want a *MapError", err)
			}
			if me.Code != c.code || me.Location != c.loc {
				t.Errorf("got %d at %q (%s), want %d at %q", me.Code, me.Location, me.Message, c.code, c.loc)
			}
		})
	}
}

// An invalid NHS number next to an MRN is kept, flagged and never put under
// the NHS number system; the patient is matched by MRN.
func TestInvalidNHSNumberKept(t *testing.T) {
	m := msg(t, header("A28", "N1"), "EVN|A28|20240301101500",
		"PID|1||9434765918^^^NHS^NH~M200^^^RXA^MR||SMITH^JOHN||19800214|M", "PV1|1|N")
	r, err := Map(m, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	checkBundle(t, r.Bundle)
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "9434765918") {
		t.Errorf("warnings %v", r.Warnings)
	}
	if strings.Contains(string(r.Bundle), NHSNumberSystem) {
		t.Errorf("an invalid NHS number went under the NHS number system: %s", r.Bundle)
	}
	p := resourcesByType(t, r.Bundle)["Patient"][0]
	found := false
	for _, id := range p["identifier"].([]any) {
		id := id.(map[string]any)
		if id["value"] == "9434765918" {
			found = true
			if id["system"] != nil || id["use"] != "secondary" || !strings.Contains(id["type"].(map[string]any)["text"].(string), "Modulus 11") {
				t.Errorf("invalid NHS number identifier %v", id)
			}
		}
	}
	if !found {
		t.Error("the invalid NHS number was dropped")
	}
	if r.PatientKey != "https://fhir.rxa.nhs.uk/Id/local-patient-identifier|M200" {
		t.Errorf("patient key %q", r.PatientKey)
	}
	var b struct {
		Entry []struct{ Request struct{ URL string } }
	}
	json.Unmarshal(r.Bundle, &b)
	for _, e := range b.Entry {
		if strings.HasPrefix(e.Request.URL, "Patient?") && strings.Contains(e.Request.URL, "9434765918") {
			t.Errorf("patient matched by the invalid number: %s", e.Request.URL)
		}
	}
}

func TestDates(t *testing.T) {
	london, _ := time.LoadLocation("Europe/London")
	cases := []struct {
		in, want, date string
		ok             bool
	}{
		{"2024", "2024", "2024", true},
		{"202403", "2024-03", "2024-03", true},
		{"20240301", "2024-03-01", "2024-03-01", true},
		{"2024030112", "2024-03-01T12:00:00+00:00", "2024-03-01", true},
		{"202407011230", "2024-07-01T12:30:00+01:00", "2024-07-01", true}, // summer time
		{"20240301123045.12", "2024-03-01T12:30:45.12+00:00", "2024-03-01", true},
		{"20240301123045-0500", "2024-03-01T12:30:45-05:00", "2024-03-01", true},
		{"20150601135823+0100", "2015-06-01T13:58:23+01:00", "2015-06-01", true},
		{"20240230", "", "", false},
		{"2024030", "", "", false},
		{"20240301250000", "", "", false},
		{"20240301+01", "", "", false},
		{"2024-03-01", "", "", false},
	}
	for _, c := range cases {
		d, ok := parseDTM(c.in, london)
		if ok != c.ok {
			t.Errorf("%q: ok %v", c.in, ok)
			continue
		}
		if ok && (d.dateTime() != c.want || d.date() != c.date) {
			t.Errorf("%q: %q %q, want %q %q", c.in, d.dateTime(), d.date(), c.want, c.date)
		}
	}
}

func TestDecimal(t *testing.T) {
	for in, want := range map[string]string{"5.4": "5.4", "+007": "7", ".5": "0.5", "1.50": "1.50", "-0.0": "0.0", "-3": "-3", "5.": "5"} {
		if got, ok := decimal(in); !ok || string(got) != want {
			t.Errorf("%q: %q %v, want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "1e5", "<5", "1,5", "abc"} {
		if _, ok := decimal(in); ok {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestStructuredNumeric(t *testing.T) {
	cases := []struct {
		sn, key, want string
	}{
		{"<^0.10", "valueQuantity", `{"comparator":"\u003c","value":0.10}`},
		{"<0.10", "valueQuantity", `{"comparator":"\u003c","value":0.10}`},
		{"^5", "valueQuantity", `{"value":5}`},
		{"^1^:^128", "valueRatio", `{"denominator":{"value":128},"numerator":{"value":1}}`},
		{"^2^-^4", "valueRange", `{"high":{"value":4},"low":{"value":2}}`},
		{"<>^3", "valueString", `"\u003c\u003e 3"`},
		{"^2^+", "valueString", `"2 +"`},
	}
	for _, c := range cases {
		m := &mapper{d: hl7v2.DefaultDelimiters}
		o := obj{}
		if err := m.structuredNumeric(val{c.sn, m.d}, val{"", m.d}, o, "OBX-5"); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(o[c.key])
		if string(b) != c.want {
			t.Errorf("%q: %s = %s, want %s (all %v)", c.sn, c.key, b, c.want, o)
		}
	}
}
