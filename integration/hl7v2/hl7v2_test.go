package hl7v2

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

const oru = "MSH|^~\\&|LAB|RIVERSIDE^1.2.3^ISO|EPR|ROYAL|20240102030405+0000||ORU^R01^ORU_R01|MSG0001|P|2.5.1|||AL|NE||UNICODE UTF-8\r" +
	"PID|1||123456^^^RIV^MR~9434765919^^^NHS^NH||SMITH^JOHN^A^^MR||19700101|M|||1 HIGH ST^^LEEDS^^LS1 1AA^GBR\r" +
	"PV1|1|O|CLINIC^ROOM 1^BED 2\r" +
	"OBR|1|ORD1|FIL1|718-7^Haemoglobin^LN|||20240102020000\r" +
	"OBX|1|NM|718-7^Haemoglobin^LN||135|g/L^grams per litre^UCUM|130-170|N|||F\r" +
	"OBX|2|ST|COMMENT^Comment^L||Sample \\T\\ report: A\\F\\B\\S\\C\\R\\D\\E\\ line\\.br\\two \\H\\bold\\N\\ \\X4142\\ \\Zlocal\\||||||F\r" +
	"OBX|3|CE|CODE^Coded^L||A&B&C^Text^L||||||F\r" +
	"NTE|1||Trailing note\r" +
	"ZPI|1|local^value~second\r"

func mustParse(t testing.TB, s string) *Message {
	t.Helper()
	m, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return m
}

func TestGet(t *testing.T) {
	m := mustParse(t, oru)
	cases := []struct{ path, want string }{
		{"MSH-1", "|"},
		{"MSH-2", "^~\\&"},
		{"MSH-3", "LAB"},
		{"MSH-4.2", "1.2.3"},
		{"MSH-9", "ORU"},
		{"MSH-9.2", "R01"},
		{"MSH-10", "MSG0001"},
		{"PID-3", "123456"},
		{"PID-3[1].4", "RIV"},
		{"PID-3[2]", "9434765919"},
		{"PID-3[2].4", "NHS"},
		{"PID-3[2].5", "NH"},
		{"PID-3[3]", ""},
		{"PID-5", "SMITH"},
		{"PID-5.2", "JOHN"},
		{"PID.5.3", "A"},
		{"PID-5.5", "MR"},
		{"PID-5.9", ""},
		{"PID-11.5", "LS1 1AA"},
		{"PID-99", ""},
		{"PV1-3.3", "BED 2"},
		{"OBX-5", "135"},
		{"OBX(1)-5", "135"},
		{"OBX(2)-5", "Sample & report: A|B^C~D\\ line\ntwo bold AB \\Zlocal\\"},
		{"OBX(3)-5", "A"},
		{"OBX(3)-5.1.2", "B"},
		{"OBX(3)-5[1].1.3", "C"},
		{"OBX(3)-5.1.4", ""},
		{"OBX(4)-5", ""},
		{"NTE-3", "Trailing note"},
		{"ZZZ-1", ""},
		{"ZPI-2.2", "value"},
		{"ZPI-2[2]", "second"},
		{"bad path", ""},
		{"PID-0", ""},
	}
	for _, c := range cases {
		if got := m.Get(c.path); got != c.want {
			t.Errorf("Get(%q) = %q, want %q", c.path, got, c.want)
		}
	}
	raws := []struct{ path, want string }{
		{"PID-3", "123456^^^RIV^MR~9434765919^^^NHS^NH"},
		{"PID-3[2]", "9434765919^^^NHS^NH"},
		{"PID-5.1", "SMITH"},
		{"OBX(3)-5.1", "A&B&C"},
		{"OBX(2)-5", "Sample \\T\\ report: A\\F\\B\\S\\C\\R\\D\\E\\ line\\.br\\two \\H\\bold\\N\\ \\X4142\\ \\Zlocal\\"},
	}
	for _, c := range raws {
		if got := m.Raw(c.path); got != c.want {
			t.Errorf("Raw(%q) = %q, want %q", c.path, got, c.want)
		}
	}
	obx := m.SegmentsNamed("OBX")
	if len(obx) != 3 || obx[2].Get("5.1.2") != "B" || obx[0].Get("OBX-3.2") != "Haemoglobin" || obx[0].Get("PID-3") != "" {
		t.Errorf("segment-relative Get failed")
	}
	if s := m.Segment("PV1"); s == nil || s.Name() != "PV1" || s.Field(2) != "O" || s.NumFields() != 3 {
		t.Errorf("Segment(PV1) = %v", s)
	}
	if m.Segment("ZZZ") != nil {
		t.Errorf("Segment(ZZZ) should be nil")
	}
	code, event, structure := m.Type()
	if code != "ORU" || event != "R01" || structure != "ORU_R01" || m.Version() != "2.5.1" || m.ProcessingID() != "P" {
		t.Errorf("header: %s %s %s %s", code, event, structure, m.Version())
	}
	if m.SendingApplication().String() != "LAB" || m.SendingFacility() != (HD{"RIVERSIDE", "1.2.3", "ISO"}) ||
		m.ReceivingApplication().Namespace != "EPR" || m.ReceivingFacility().Namespace != "ROYAL" {
		t.Errorf("applications/facilities wrong")
	}
}

func TestSet(t *testing.T) {
	m := mustParse(t, oru)
	steps := []struct {
		path, value string
		raw         string // the field's encoded text afterwards
	}{
		{"PID-5.2", "JANE", "SMITH^JANE^A^^MR"},
		{"PID-5", "JONES", "JONES^JANE^A^^MR"},
		{"PID-5.7", "L", "JONES^JANE^A^^MR^^L"},
		{"PID-3[3].1", "X1", "123456^^^RIV^MR~9434765919^^^NHS^NH~X1"},
		{"PID-3[5].4", "Y", "123456^^^RIV^MR~9434765919^^^NHS^NH~X1~~^^^Y"},
		{"PID-3[2].4.2", "2.16.840.1.113883.2.1.4.1", "123456^^^RIV^MR~9434765919^^^NHS&2.16.840.1.113883.2.1.4.1^NH~X1~~^^^Y"},
		{"PID-8", "F|^~\\&\n", "F\\F\\\\S\\\\R\\\\E\\\\T\\\\.br\\"},
		{"PID-30", "Y", "Y"},
	}
	for _, s := range steps {
		if err := m.Set(s.path, s.value); err != nil {
			t.Fatalf("Set(%q): %v", s.path, err)
		}
		p, _ := ParsePath(s.path)
		field := "PID-" + strconv.Itoa(p.Field)
		if got := m.Raw(field); got != s.raw {
			t.Errorf("after Set(%q, %q): %s = %q, want %q", s.path, s.value, field, got, s.raw)
		}
		if got := m.Get(s.path); got != s.value {
			t.Errorf("Get(%q) after Set = %q", s.path, got)
		}
	}
	if n := m.Segment("PID").NumFields(); n != 30 {
		t.Errorf("PID has %d fields, want 30", n)
	}
	// The message still parses to the same thing.
	again := mustParse(t, m.String())
	if again.String() != m.String() || again.Get("PID-8") != "F|^~\\&\n" {
		t.Errorf("re-parse differs")
	}

	if err := m.SetRaw("PID-5", "DOE^JOHN"); err != nil || m.Get("PID-5.2") != "JOHN" {
		t.Errorf("SetRaw field: %v", err)
	}
	if err := m.SetRaw("PID-5.1", "A^B"); err == nil {
		t.Errorf("SetRaw of a component with a component separator should fail")
	}
	if err := m.SetRaw("PID-5", "A|B"); err == nil {
		t.Errorf("SetRaw with a field separator should fail")
	}
	if err := m.Set("MSH-2", "x"); err == nil {
		t.Errorf("Set(MSH-2) should fail")
	}
	if err := m.Set("MSH-1", "x"); err == nil {
		t.Errorf("Set(MSH-1) should fail")
	}
	if err := m.Set("OBX(5)-1", "5"); err == nil {
		t.Errorf("Set of OBX(5) with 3 OBX should fail")
	}
	if err := m.Set("OBX(4)-5", "new"); err != nil || len(m.SegmentsNamed("OBX")) != 4 || m.Get("OBX(4)-5") != "new" {
		t.Errorf("Set appending OBX(4): %v", err)
	}
	if err := m.Set("ZP2-2.2", "z"); err != nil || m.Segments()[len(m.Segments())-1].String() != "ZP2||^z" {
		t.Errorf("Set appending ZP2: %v %q", err, m.Segments()[len(m.Segments())-1].String())
	}
	if err := m.Set("nonsense", "x"); err == nil {
		t.Errorf("Set with a bad path should fail")
	}
}

func TestBuildMessage(t *testing.T) {
	m, err := NewMessage(DefaultDelimiters, "2.4")
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range [][2]string{
		{"MSH-3", "CONCORD"}, {"MSH-9.1", "ADT"}, {"MSH-9.2", "A01"}, {"MSH-10", "1"}, {"MSH-11", "P"},
		{"EVN-1", "A01"}, {"PID-3.1", "123"}, {"PID-5.1", "O'BRIEN & SONS"}, {"PID-5.2", "MARY"},
	} {
		if err := m.Set(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	want := "MSH|^~\\&|CONCORD||||||ADT^A01|1|P|2.4\rEVN|A01\rPID|||123||O'BRIEN \\T\\ SONS^MARY\r"
	if got := m.String(); got != want {
		t.Errorf("built:\n%q\nwant\n%q", got, want)
	}
	if _, err := m.AddSegment("MSH"); err == nil {
		t.Errorf("adding a second MSH should fail")
	}
	if _, err := m.AddSegment("PIDX"); err == nil {
		t.Errorf("adding a 4-letter segment should fail")
	}
	if _, err := NewMessage(Delimiters{Field: '|', Component: '|', Repetition: '~', Escape: '\\', Subcomponent: '&'}, "2.5"); err == nil {
		t.Errorf("NewMessage with repeated delimiters should fail")
	}
}

func TestEscape(t *testing.T) {
	d := DefaultDelimiters
	cases := []struct{ in, want string }{
		{"plain", "plain"},
		{`\F\\S\\T\\R\\E\`, `|^&~\`},
		{`a\.br\b`, "a\nb"},
		{`\H\bold\N\`, "bold"},
		{`\X41\`, "A"},
		{`\X0D0A\`, "\r\n"},
		{`\Xc3a9\`, "é"},
		{`\X4\`, `\X4\`},   // odd length: kept
		{`\XZZ\`, `\XZZ\`}, // not hex: kept
		{`\Zabc\`, `\Zabc\`},
		{`\C2842\`, `\C2842\`},
		{`\M2442\`, `\M2442\`},
		{`\.sp2\`, `\.sp2\`},
		{`\P\`, `\P\`}, // no truncation character declared
		{`unterminated \F`, `unterminated \F`},
		{`\\`, `\\`},
		{`\Zx\F\`, `\Zx\F\`}, // after \Zx\, "F\" is text with an unterminated escape
	}
	for _, c := range cases {
		if got := Unescape(c.in, d); got != c.want {
			t.Errorf("Unescape(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, s := range []string{"", "plain", `|^~\&`, "a\nb\rc\r\n", "#", `\X41\`, "é"} {
		if got := Unescape(Escape(s, d), d); got != s {
			t.Errorf("Unescape(Escape(%q)) = %q", s, got)
		}
	}
	if got := Escape(`a|b^c~d\e&f`+"\n\r", d); got != `a\F\b\S\c\R\d\E\e\T\f\.br\\X0D\` {
		t.Errorf("Escape = %q", got)
	}
	tr := d
	tr.Truncation = '#'
	if got := Escape("#1", tr); got != `\P\1` || Unescape(got, tr) != "#1" || Escape("#1", d) != "#1" {
		t.Errorf("truncation character escape = %q", got)
	}
	// Other delimiters.
	o := Delimiters{Field: '!', Component: '@', Repetition: '*', Escape: '$', Subcomponent: '%'}
	if got := Escape("a!b@c$", o); got != "a$F$b$S$c$E$" || Unescape(got, o) != "a!b@c$" || Unescape(`x|y\F\`, o) != `x|y\F\` {
		t.Errorf("custom delimiters escape = %q", got)
	}
}

func TestDelimitersAndLineEndings(t *testing.T) {
	body := []string{
		"MSH|^~\\&|A|B|C|D|20240101||ADT^A01^ADT_A01|1|P|2.3",
		"PID|||1^^^X~2^^^Y||DOE^JANE",
	}
	cases := []struct{ name, in string }{
		{"CR", strings.Join(body, "\r") + "\r"},
		{"LF", strings.Join(body, "\n") + "\n"},
		{"CRLF", strings.Join(body, "\r\n") + "\r\n"},
		{"no final terminator", strings.Join(body, "\r")},
		{"trailing empty lines", strings.Join(body, "\r") + "\r\r\n\n  \r"},
		{"blank line between", strings.Join(body, "\r\n\r\n")},
		{"BOM", "\xef\xbb\xbf" + strings.Join(body, "\r") + "\r"},
		{"leading blank lines", "\xef\xbb\xbf\r\n\n" + strings.Join(body, "\r") + "\r"},
		{"mixed", body[0] + "\n" + body[1] + "\r"},
		{"other delimiters", "MSH!@*$%!A!B!C!D!20240101!!ADT@A01@ADT_A01!1!P!2.3\rPID!!!1@@@X*2@@@Y!!DOE@JANE\r"},
		{"truncation character v2.7", "MSH|^~\\&#|A|B|C|D|20240101||ADT^A01^ADT_A01|1|P|2.7\rPID|||1^^^X~2^^^Y||DOE^JANE^\\P\\#\r"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := mustParse(t, c.in)
			if got := string(m.Encode()); got != c.in {
				t.Fatalf("round trip:\n got %q\nwant %q", got, c.in)
			}
			if len(m.Segments()) != 2 {
				t.Fatalf("%d segments", len(m.Segments()))
			}
			if m.Get("PID-3[2].4") != "Y" || m.Get("PID-5.2") != "JANE" || m.ControlID() != "1" {
				t.Errorf("values: %q %q", m.Get("PID-3[2].4"), m.Get("PID-5.2"))
			}
		})
	}
	m := mustParse(t, cases[len(cases)-1].in)
	if d := m.Delimiters(); d.Truncation != '#' || m.Get("PID-5") != "DOE" || m.Get("PID-5.3") != "##" {
		t.Errorf("truncation: %+v %q", d, m.Get("PID-5.3"))
	}
	m = mustParse(t, cases[len(cases)-2].in)
	if m.Get("MSH-1") != "!" || m.Get("MSH-2") != "@*$%" || m.Get("MSH-9.2") != "A01" {
		t.Errorf("custom delimiters: %q %q", m.Get("MSH-1"), m.Get("MSH-2"))
	}
	// Segments added to an LF message end in LF, and a missing final terminator is supplied.
	m = mustParse(t, strings.Join(body, "\n"))
	if err := m.Set("NTE-3", "x"); err != nil {
		t.Fatal(err)
	}
	if got := m.String(); got != strings.Join(body, "\n")+"\nNTE|||x\n" {
		t.Errorf("appended: %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, in string
		code     ErrorCode
		segment  string
		index    int
		field    int
		offset   int
	}{
		{"empty", "", CodeSegmentSequence, "", 0, 0, 0},
		{"blank", " \r\n", CodeSegmentSequence, "", 0, 0, 0},
		{"missing MSH", "PID|1\r", CodeSegmentSequence, "PID", 1, 0, 0},
		{"batch", "FHS|^~\\&\r", CodeSegmentSequence, "FHS", 1, 0, 0},
		{"no field separator", "MSH", CodeDataType, "MSH", 1, 1, 0},
		{"letter field separator", "MSHX^~\\&", CodeDataType, "MSH", 1, 1, 0},
		{"short MSH-2", "MSH|^~\\|A\r", CodeDataType, "MSH", 1, 2, 0},
		{"long MSH-2", "MSH|^~\\&#!|A\r", CodeDataType, "MSH", 1, 2, 0},
		{"repeated MSH-2", "MSH|^~\\^|A\r", CodeDataType, "MSH", 1, 2, 0},
		{"alphanumeric MSH-2", "MSH|^~\\A|A\r", CodeDataType, "MSH", 1, 2, 0},
		{"segment name too long", "MSH|^~\\&|A\rPIDX|1\r", CodeSegmentSequence, "PIDX", 2, 0, 11},
		{"segment name too short", "MSH|^~\\&|A\rPI|1\r", CodeSegmentSequence, "PI", 2, 0, 11},
		{"lower-case segment name", "MSH|^~\\&|A\rpid|1\r", CodeSegmentSequence, "pid", 2, 0, 11},
		{"two messages", "MSH|^~\\&|A\rMSH|^~\\&|B\r", CodeSegmentSequence, "MSH", 2, 0, 11},
		{"batch trailer inside", "MSH|^~\\&|A\rBTS|1\r", CodeSegmentSequence, "BTS", 2, 0, 11},
		{"BOM offset", "\xef\xbb\xbfMSH|^~\\&|A\r PID|1\r", CodeSegmentSequence, " PID", 2, 0, 14},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := Parse([]byte(c.in))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, %v; want a *ParseError", m, err)
			}
			if pe.Code != c.code || pe.Segment != c.segment || pe.SegmentIndex != c.index || pe.Field != c.field || pe.Offset != c.offset {
				t.Errorf("got %+v", *pe)
			}
			if !strings.Contains(pe.Error(), pe.Code.Text()) {
				t.Errorf("message %q lacks the code text", pe.Error())
			}
		})
	}
}

func TestParseHeader(t *testing.T) {
	m, err := ParseHeader([]byte("MSH|^~\\&|A|B|C|D|||ADT^A01|42|P|2.4\rPIDX|broken\r"))
	if err != nil || m.ControlID() != "42" || len(m.Segments()) != 1 {
		t.Fatalf("ParseHeader: %v", err)
	}
	if _, err := ParseHeader([]byte("XYZ")); err == nil {
		t.Errorf("ParseHeader accepted a non-MSH start")
	}
}

func TestCheckHeader(t *testing.T) {
	ok := mustParse(t, oru)
	if errs := ok.CheckHeader(); len(errs) != 0 {
		t.Fatalf("unexpected: %v", errs)
	}
	m := mustParse(t, "MSH|^~\\&|A|B|C|D|2024130||||X|2.1|||XX\r")
	got := map[int]ErrorCode{}
	for _, e := range m.CheckHeader() {
		got[e.Field] = e.Code
	}
	want := map[int]ErrorCode{7: CodeDataType, 9: CodeRequiredFieldMissing, 10: CodeRequiredFieldMissing,
		11: CodeTableValueNotFound, 12: CodeUnsupportedVersionID, 15: CodeTableValueNotFound}
	for f, c := range want {
		if got[f] != c {
			t.Errorf("MSH-%d: got %d, want %d", f, got[f], c)
		}
	}
	for _, ts := range []string{"2024", "202401", "20240102", "2024010203", "202401020304", "20240102030405", "20240102030405.1234", "20240102030405+0100", "202401020304-0500"} {
		if !validDTM(ts) {
			t.Errorf("validDTM(%q) = false", ts)
		}
	}
	for _, ts := range []string{"24", "2024-01", "20241301", "20240132", "2024010224", "20240102030405.", "202401020304+01", "2024010203.5"} {
		if validDTM(ts) {
			t.Errorf("validDTM(%q) = true", ts)
		}
	}
}

func TestAcksWanted(t *testing.T) {
	cases := []struct {
		msh15, msh16          string
		success               bool
		enhanced, accept, app bool
	}{
		{"", "", true, false, false, true},
		{"", "", false, false, false, true},
		{"AL", "NE", true, true, true, false},
		{"AL", "AL", false, true, true, true},
		{"NE", "AL", true, true, false, true},
		{"ER", "SU", true, true, false, true},
		{"ER", "SU", false, true, true, false},
		{"SU", "ER", true, true, true, false},
		{"NE", "NE", false, true, false, false},
		{"AL", "", true, true, true, true},
	}
	for _, c := range cases {
		m := mustParse(t, "MSH|^~\\&|A|B|C|D|||ADT^A01|1|P|2.5|||"+c.msh15+"|"+c.msh16+"\r")
		accept, app := m.AcksWanted(c.success)
		if m.EnhancedMode() != c.enhanced || accept != c.accept || app != c.app {
			t.Errorf("MSH-15 %q MSH-16 %q success %v: enhanced %v accept %v app %v", c.msh15, c.msh16, c.success, m.EnhancedMode(), accept, app)
		}
	}
}

func TestNewACK(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	orig24 := mustParse(t, "MSH|^~\\&|SND|SFAC|RCV|RFAC|20240101||ADT^A01|CTRL1|P|2.4\rPID|1\r")
	orig251 := mustParse(t, "MSH|^~\\&|SND|SFAC^1.2^ISO|RCV|RFAC|20240101||ORU^R01^ORU_R01|CTRL2|T|2.5.1|||AL|AL||8859/1\rPID|1\r")
	orig23 := mustParse(t, "MSH|^~\\&|SND|SFAC|RCV|RFAC|20240101||ADT^A04|C3|P|2.3\r")
	pidErr := &ParseError{Segment: "PID", SegmentIndex: 2, Field: 3, Repetition: 1, Component: 1, Code: CodeRequiredFieldMissing, Msg: "patient id missing"}
	cases := []struct {
		name string
		msg  *Message
		code AckCode
		opts []AckOption
		want string
	}{
		{"original AA v2.4", orig24, ApplicationAccept, nil,
			"MSH|^~\\&|RCV|RFAC|SND|SFAC|20240506070809+0000||ACK^A01^ACK|ACK1|P|2.4\rMSA|AA|CTRL1\r"},
		{"original AE v2.4 with error", orig24, ApplicationError, []AckOption{WithError(pidErr)},
			"MSH|^~\\&|RCV|RFAC|SND|SFAC|20240506070809+0000||ACK^A01^ACK|ACK1|P|2.4\rMSA|AE|CTRL1|patient id missing\r" +
				"ERR|PID^2^3^101&Required field missing&HL70357\r"},
		{"original AR v2.3 with text", orig23, ApplicationReject, []AckOption{WithText("unsupported | event"), WithAckError(AckError{Code: CodeUnsupportedEventCode})},
			"MSH|^~\\&|RCV|RFAC|SND|SFAC|20240506070809+0000||ACK^A04|ACK1|P|2.3\rMSA|AR|C3|unsupported \\F\\ event\r" +
				"ERR|^^^201&Unsupported event code&HL70357\r"},
		{"enhanced CA v2.5.1", orig251, CommitAccept, nil,
			"MSH|^~\\&|RCV|RFAC|SND|SFAC^1.2^ISO|20240506070809+0000||ACK^R01^ACK|ACK1|T|2.5.1||||||8859/1\rMSA|CA|CTRL2\r"},
		{"enhanced CE v2.5.1 with errors", orig251, CommitError, []AckOption{WithError(pidErr), WithError(errors.New("db down")),
			WithAckError(AckError{Code: CodeTableValueNotFound, Severity: SeverityWarning, Segment: "PID", SegmentIndex: 2, Field: 8, Diagnostic: "sex X", UserMessage: "unknown sex"})},
			"MSH|^~\\&|RCV|RFAC|SND|SFAC^1.2^ISO|20240506070809+0000||ACK^R01^ACK|ACK1|T|2.5.1||||||8859/1\rMSA|CE|CTRL2\r" +
				"ERR||PID^2^3^1^1|101^Required field missing^HL70357|E||||patient id missing\r" +
				"ERR|||207^Application internal error^HL70357|E||||db down\r" +
				"ERR||PID^2^8|103^Table value not found^HL70357|W|||sex X|unknown sex\r"},
		{"v2.5.1 AE text only", orig251, ApplicationError, []AckOption{WithText("failed")},
			"MSH|^~\\&|RCV|RFAC|SND|SFAC^1.2^ISO|20240506070809+0000||ACK^R01^ACK|ACK1|T|2.5.1||||||8859/1\rMSA|AE|CTRL2\r" +
				"ERR|||207^Application internal error^HL70357|E||||failed\r"},
		{"unreadable original", nil, ApplicationReject, []AckOption{WithVersion("2.4"), WithText("not HL7")},
			"MSH|^~\\&|||||20240506070809+0000||ACK^^ACK|ACK1||2.4\rMSA|AR||not HL7\r"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := append([]AckOption{WithTime(at), WithControlID("ACK1")}, c.opts...)
			ack := NewACK(c.msg, c.code, opts...)
			if got := ack.String(); got != c.want {
				t.Errorf("got\n%q\nwant\n%q", got, c.want)
			}
			again, err := Parse(ack.Encode())
			if err != nil {
				t.Fatalf("ACK does not parse: %v", err)
			}
			if again.Get("MSA-1") != string(c.code) {
				t.Errorf("MSA-1 = %q", again.Get("MSA-1"))
			}
		})
	}
	a := NewACK(orig24, ApplicationAccept)
	b := NewACK(orig24, ApplicationAccept)
	if a.ControlID() == "" || a.ControlID() == b.ControlID() || a.ControlID() == orig24.ControlID() {
		t.Errorf("control ids %q %q", a.ControlID(), b.ControlID())
	}
	// Delimiters of the original carry over.
	o := mustParse(t, "MSH!@*$%!S!F!R!G!!!ADT@A01!X1!P!2.5\r")
	if got := NewACK(o, ApplicationAccept, WithTime(at), WithControlID("K")).String(); got != "MSH!@*$%!R!G!S!F!20240506070809+0000!!ACK@A01@ACK!K!P!2.5\rMSA!AA!X1\r" {
		t.Errorf("custom delimiters ACK: %q", got)
	}
}

func TestNewACKByVersion(t *testing.T) {
	cases := []struct {
		version, msh9 string
		old           bool // ERR-1 and MSA-3 rather than ERR-2..8
	}{
		{"2.3", "ACK^A01", true},
		{"2.3.1", "ACK^A01^ACK", true},
		{"2.4", "ACK^A01^ACK", true},
		{"2.5", "ACK^A01^ACK", false},
		{"2.5.1", "ACK^A01^ACK", false},
		{"2.6", "ACK^A01^ACK", false},
		{"2.7", "ACK^A01^ACK", false},
		{"2.7.1", "ACK^A01^ACK", false},
		{"2.8", "ACK^A01^ACK", false},
		{"2.8.2", "ACK^A01^ACK", false},
	}
	for _, c := range cases {
		enc := "^~\\&"
		if versionAtLeast(c.version, 2, 7) {
			enc += "#" // the truncation character arrives with v2.7
		}
		m := mustParse(t, "MSH|"+enc+"|S|SF|R|RF|20240101||ADT^A01^ADT_A01|C1|P|"+c.version+"\rEVN|A01\rPID|1\r")
		if errs := m.CheckHeader(); len(errs) != 0 {
			t.Errorf("%s: CheckHeader %v", c.version, errs)
		}
		ack := mustParse(t, NewACK(m, ApplicationError, WithError(&ParseError{Segment: "PID", SegmentIndex: 3, Field: 3,
			Code: CodeRequiredFieldMissing, Msg: "no id"})).String())
		if got := ack.Raw("MSH-9"); got != c.msh9 {
			t.Errorf("%s: MSH-9 %q, want %q", c.version, got, c.msh9)
		}
		if ack.Version() != c.version || ack.Delimiters() != m.Delimiters() {
			t.Errorf("%s: version %q delimiters %+v", c.version, ack.Version(), ack.Delimiters())
		}
		if c.old {
			if ack.Get("MSA-3") != "no id" || ack.Raw("ERR-1") != "PID^3^3^101&Required field missing&HL70357" || ack.Raw("ERR-3") != "" {
				t.Errorf("%s: old-style ERR wanted: %q", c.version, ack.String())
			}
		} else {
			if ack.Get("MSA-3") != "" || ack.Raw("ERR-1") != "" || ack.Raw("ERR-2") != "PID^3^3" ||
				ack.Get("ERR-3.1") != "101" || ack.Get("ERR-4") != "E" || ack.Get("ERR-8") != "no id" {
				t.Errorf("%s: v2.5-style ERR wanted: %q", c.version, ack.String())
			}
		}
	}
}

func TestBatch(t *testing.T) {
	msg1 := "MSH|^~\\&|A|B|C|D|||ADT^A01|1|P|2.5\rPID|1\r"
	msg2 := "MSH|^~\\&|A|B|C|D|||ADT^A08|2|P|2.5\rPID|2\r"
	msg3 := "MSH!@*$%!A!B!C!D!!!ADT@A03!3!P!2.5\rPID!3\r"
	ok := []struct {
		name   string
		in     string
		groups int
		msgs   int
	}{
		{"concatenated", msg1 + msg2, 1, 2},
		{"concatenated with blank lines and LF", strings.ReplaceAll(msg1+"\r"+msg2, "\r", "\n") + "\n\n", 1, 2},
		{"one batch", "BHS|^~\\&|A\r" + msg1 + msg2 + "BTS|2\r", 1, 2},
		{"file", "FHS|^~\\&|A\rBHS|^~\\&|A\r" + msg1 + "BTS|1\rBHS|^~\\&|A\r" + msg2 + msg3 + "BTS|2\rFTS|2\r", 2, 3},
		{"file without counts", "\xef\xbb\xbfFHS|^~\\&\r\nBHS|^~\\&\r\n" + msg1 + "BTS\r\nFTS\r\n", 1, 1},
		{"empty file", "FHS|^~\\&\rFTS|0\r", 1, 0},
		{"leading blank line", "\n" + msg1 + msg2, 1, 2},
		{"other batch delimiters", "FHS!@*$%\rBHS!@*$%\r" + msg3 + "BTS!1\rFTS!1\r", 1, 1},
	}
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			b, err := ParseBatch([]byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(b.Encode()); got != c.in {
				t.Fatalf("round trip:\n got %q\nwant %q", got, c.in)
			}
			if len(b.Groups) != c.groups || len(b.Messages()) != c.msgs {
				t.Fatalf("%d groups, %d messages", len(b.Groups), len(b.Messages()))
			}
			for i, m := range b.Messages() {
				if m.Get("PID-1") == "" || m.ControlID() != m.Get("PID-1") {
					t.Errorf("message %d: PID-1 %q control id %q", i, m.Get("PID-1"), m.ControlID())
				}
			}
		})
	}
	bad := []struct{ name, in string }{
		{"empty", ""},
		{"BTS count", "BHS|^~\\&\r" + msg1 + "BTS|2\r"},
		{"FTS count", "FHS|^~\\&\rBHS|^~\\&\r" + msg1 + "BTS|1\rFTS|3\r"},
		{"count not a number", "BHS|^~\\&\r" + msg1 + "BTS|two\r"},
		{"two BTS", "BHS|^~\\&\r" + msg1 + "BTS|1\rBTS|1\r"},
		{"after FTS", "FHS|^~\\&\rFTS\r" + msg1},
		{"late FHS", msg1 + "FHS|^~\\&\r"},
		{"junk first", "PID|1\r" + msg1},
		{"bad message", "BHS|^~\\&\r" + "MSH|^~\\&\rPIDX|1\r"},
		{"bad BHS delimiters", "BHS|^~\r"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseBatch([]byte(c.in))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want a *ParseError", err)
			}
		})
	}
}

func TestParsePath(t *testing.T) {
	good := map[string]Path{
		"PID-3[2].1.2": {Segment: "PID", Field: 3, Repetition: 2, Component: 1, Subcomponent: 2},
		"OBX(12)-5":    {Segment: "OBX", Occurrence: 12, Field: 5},
		"ZP1.4.1":      {Segment: "ZP1", Field: 4, Component: 1},
		"3[2]":         {Field: 3, Repetition: 2},
	}
	for s, want := range good {
		p, err := ParsePath(s)
		if err != nil || p != want {
			t.Errorf("ParsePath(%q) = %+v, %v", s, p, err)
		}
		if again, _ := ParsePath(p.String()); again != p {
			t.Errorf("String of %q = %q does not parse back", s, p.String())
		}
	}
	for _, s := range []string{"", "PID", "PID-", "PID-0", "PID-3[0]", "PID-3[", "PID-3.x", "PID(0)-1", "pid-3", "PI-3", "PID-3.1.2.3", "PID-3]", "PID-1234567"} {
		if _, err := ParsePath(s); err == nil {
			t.Errorf("ParsePath(%q) succeeded", s)
		}
	}
}

func TestErrorCodes(t *testing.T) {
	if CodeApplicationInternalError.Text() != "Application internal error" || ErrorCode(999).Text() != "Error 999" {
		t.Errorf("Text: %q %q", CodeApplicationInternalError.Text(), ErrorCode(999).Text())
	}
	if !CodeUnsupportedVersionID.Rejection() || CodeRequiredFieldMissing.Rejection() {
		t.Errorf("Rejection wrong")
	}
	e := &ParseError{Segment: "PID", SegmentIndex: 2, Field: 3, Repetition: 2, Component: 1, Subcomponent: 2, Offset: 40,
		Code: CodeDataType, Msg: "bad"}
	if got := e.Error(); got != "hl7v2: PID-3[2].1.2 (segment 2, offset 40): bad [102 Data type error]" {
		t.Errorf("Error() = %q", got)
	}
	wrapped := fmt.Errorf("reading feed: %w", e)
	if ae := AckErrorOf(wrapped); ae.Segment != "PID" || ae.Field != 3 || ae.Code != CodeDataType || ae.UserMessage != "bad" {
		t.Errorf("AckErrorOf(wrapped) = %+v", ae)
	}
	if ae := AckErrorOf(errors.New("disk full")); ae.Code != CodeApplicationInternalError || ae.UserMessage != "disk full" {
		t.Errorf("AckErrorOf(plain) = %+v", ae)
	}
}
