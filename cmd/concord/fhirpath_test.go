package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
)

func TestFhirpathCmd(t *testing.T) {
	patient, err := os.ReadFile("testdata/patient.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		stdin   string
		want    string // stdout without the final newline
		wantErr string // substring of the error; stdout must then be empty
	}{
		{name: "path", args: []string{"-r", "testdata/patient.json", "Patient.name.given"}, want: `["Peter","James","Jim"]`},
		{name: "boolean", args: []string{"-r", "testdata/patient.json", "Patient.active"}, want: `[true]`},
		{name: "type info", args: []string{"-r", "testdata/patient.json", "Patient.active.type() | 1.type()"},
			want: `[{"namespace":"FHIR","name":"boolean","baseType":"FHIR.Element"},{"namespace":"System","name":"Integer","baseType":"System.Any"}]`},
		{name: "computed boolean", args: []string{"-r", "testdata/patient.json", "Patient.name.exists() and Patient.gender = 'female'"}, want: `[false]`},
		{name: "integer", args: []string{"-r", "testdata/patient.json", "Patient.name.given.count()"}, want: `[3]`},
		{name: "decimal keeps its digits", args: []string{"-r", "testdata/observation.json", "Observation.value.value"}, want: `[67.50]`},
		{name: "empty", args: []string{"-r", "testdata/patient.json", "Patient.deceased"}, want: `[]`},
		{name: "date", args: []string{"-r", "testdata/patient.json", "Patient.birthDate"}, want: `["1974-12-25"]`},
		{name: "complex element", args: []string{"-r", "testdata/patient.json", "Patient.name.where(use = 'usual')"}, want: `[{"use":"usual","given":["Jim"]}]`},
		{name: "FHIR Quantity", args: []string{"-r", "testdata/observation.json", "Observation.value"}, want: `[{"value":67.50,"unit":"kg","system":"http://unitsofmeasure.org","code":"kg"}]`},
		{name: "resolve", args: []string{"-r", "testdata/patient.json", "Patient.managingOrganization.resolve()"}, want: `[{"resourceType":"Organization","id":"1"}]`},
		{name: "no resource", args: []string{"1 + 2"}, want: `[3]`},
		{name: "no resource, path", args: []string{"Patient.name"}, want: `[]`},
		{name: "System.Quantity", args: []string{"5 'mg'"}, want: `[{"value":5,"unit":"mg"}]`},
		{name: "System.Date", args: []string{"@2020-01-02"}, want: `["2020-01-02"]`},
		{name: "string escaping", args: []string{`'a"b\\c'`}, want: `["a\"b\\c"]`},
		{name: "expression after --", args: []string{"--", "-5"}, want: `[-5]`},
		{name: "stdin", args: []string{"-r", "-", "Patient.gender"}, stdin: string(patient), want: `["male"]`},
		{name: "XML", args: []string{"-r", "testdata/patient.xml", "Patient.name.given"}, want: `["Peter","James","Jim"]`},
		{name: "XML extension", args: []string{"-r", "testdata/patient.xml", "Patient.birthDate.extension.value"}, want: `["1974-12-25T14:35:45-05:00"]`},
		{name: "XML on stdin after a byte order mark", args: []string{"-r", "-", "Patient.active"}, stdin: "\uFEFF \n" + `<Patient xmlns="http://hl7.org/fhir"><active value="true"/></Patient>`, want: `[true]`},
		{name: "invalid XML", args: []string{"-r", "testdata/broken.xml", "Patient"}, wantErr: "invalid XML"},
		{name: "compile error", args: []string{"-r", "testdata/patient.json", "Patient.("}, wantErr: "expected a name"},
		{name: "type error", args: []string{"-r", "testdata/patient.json", "Patient.gender + 1"}, wantErr: "not defined"},
		{name: "several items where one is required", args: []string{"-r", "testdata/patient.json", "Patient.name.given.substring(0)"}, wantErr: "single item"},
		{name: "missing file", args: []string{"-r", "testdata/nope.json", "Patient"}, wantErr: "nope.json"},
		{name: "invalid JSON", args: []string{"-r", "-", "Patient"}, stdin: `{"resourceType":`, wantErr: "invalid JSON"},
		{name: "invalid resource", args: []string{"-r", "-", "Patient"}, stdin: `{"resourceType":"Patient","bogus":1}`, wantErr: "bogus"},
		{name: "no expression", args: []string{"-r", "testdata/patient.json"}, wantErr: "exactly one expression"},
		{name: "two expressions", args: []string{"a", "b"}, wantErr: "exactly one expression"},
		{name: "batch with an expression", args: []string{"--batch", "Patient"}, wantErr: "--batch"},
		{name: "unknown flag", args: []string{"--nope", "Patient"}, wantErr: "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := fhirpathCmd(tt.args, strings.NewReader(tt.stdin), &stdout, &stderr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if stdout.Len() != 0 {
					t.Fatalf("stdout = %q, want nothing on error", stdout.String())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := stdout.String(); got != tt.want+"\n" {
				t.Fatalf("stdout = %s, want %s", got, tt.want)
			}
			if !json.Valid(stdout.Bytes()) {
				t.Fatalf("stdout is not JSON: %s", stdout.String())
			}
		})
	}
}

func TestFhirpathBatch(t *testing.T) {
	patient, err := os.ReadFile("testdata/patient.json")
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, patient); err != nil {
		t.Fatal(err)
	}
	line := func(expr string) string {
		return fmt.Sprintf(`{"resource":%s,"expression":%q}`, compact.String(), expr)
	}
	tests := []struct {
		name string
		in   []string // input lines
		want []string // output lines; an "error:" prefix means an error line containing the rest
	}{
		{
			name: "good and bad lines interleaved",
			in: []string{
				line("Patient.name.given"),
				`{"resource":`,
				line("Patient.active"),
				`{"resource":{"resourceType":"Patient"}}`,
				line("Patient.("),
				`{"resource":{"resourceType":"Patient","bogus":1},"expression":"Patient"}`,
				line("Patient.gender + 1"),
				`{"expression":"1 + 1"}`,
				`{"resource":null,"expression":"true"}`,
				`{"expression":42}`,
				`{"expression":"1"} trailing`,
				``,
				line("Patient.deceased"),
				line("Patient.name.given"),
			},
			want: []string{
				`{"result":["Peter","James","Jim"]}`,
				`error:invalid JSON`,
				`{"result":[true]}`,
				`error:missing "expression"`,
				`error:expected a name`,
				`error:bogus`,
				`error:not defined`,
				`{"result":[2]}`,
				`{"result":[true]}`,
				`error:invalid JSON`,
				`error:invalid JSON`,
				`error:empty line`,
				`{"result":[]}`,
				`{"result":["Peter","James","Jim"]}`,
			},
		},
		{
			name: "CRLF and no final newline",
			in:   []string{`{"expression":"'a'"}` + "\r", `{"expression":"2.0 * 2"}`},
			want: []string{`{"result":["a"]}`, `{"result":[4.0]}`},
		},
		{
			name: "nothing in, nothing out",
			in:   nil,
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			input := strings.Join(tt.in, "\n")
			if len(tt.in) > 0 && !strings.HasSuffix(tt.name, "no final newline") {
				input += "\n"
			}
			var stdout, stderr bytes.Buffer
			if err := fhirpathCmd([]string{"--batch"}, strings.NewReader(input), &stdout, &stderr); err != nil {
				t.Fatal(err)
			}
			got := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
			if stdout.Len() == 0 {
				got = nil
			}
			if len(got) != len(tt.in) {
				t.Fatalf("%d output lines for %d input lines:\n%s", len(got), len(tt.in), stdout.String())
			}
			for i, g := range got {
				if !json.Valid([]byte(g)) {
					t.Errorf("line %d is not JSON: %s", i+1, g)
				}
				if msg, isErr := strings.CutPrefix(tt.want[i], "error:"); isErr {
					var e struct{ Error string }
					if json.Unmarshal([]byte(g), &e) != nil || !strings.Contains(e.Error, msg) {
						t.Errorf("line %d = %s, want an error containing %q", i+1, g, msg)
					}
				} else if g != tt.want[i] {
					t.Errorf("line %d = %s, want %s", i+1, g, tt.want[i])
				}
			}
		})
	}
}

// TestFhirpathBatchLongLine checks that lines beyond bufio's default buffer are read whole.
func TestFhirpathBatchLongLine(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	in := `{"resource":{"resourceType":"Patient","id":"p","name":[{"text":"` + long + `"}]},"expression":"Patient.name.text.length()"}` + "\n" +
		`{"expression":"1"}` + "\n"
	var stdout, stderr bytes.Buffer
	if err := fhirpathCmd([]string{"--batch"}, strings.NewReader(in), &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("{\"result\":[%d]}\n{\"result\":[1]}\n", len(long))
	if stdout.String() != want {
		t.Fatalf("stdout = %q, want %q", stdout.String(), want)
	}
}

// TestFhirpathBatchCache checks that an expression text is compiled once, errors included.
func TestFhirpathBatchCache(t *testing.T) {
	cache := map[string]compiled{}
	for range 3 {
		evalLine([]byte(`{"expression":"1 + 1"}`), cache)
		evalLine([]byte(`{"expression":"Patient.("}`), cache)
	}
	first := cache["1 + 1"].expr
	evalLine([]byte(`{"resource":{"resourceType":"Patient"},"expression":"1 + 1"}`), cache)
	if len(cache) != 2 || cache["1 + 1"].expr != first || cache["Patient.("].err == nil {
		t.Fatalf("cache = %v", cache)
	}
}

// TestReadLine checks line splitting and that an overlong line is skipped as a whole.
func TestReadLine(t *testing.T) {
	in := "short\r\n" + strings.Repeat("y", 100) + "\n\nlast"
	r := bufio.NewReaderSize(strings.NewReader(in), 16)
	type res struct {
		line    string
		tooLong bool
		err     error
	}
	want := []res{{"short", false, nil}, {"", true, nil}, {"", false, nil}, {"last", false, io.EOF}}
	for i, w := range want {
		line, tooLong, err := readLine(r, 50)
		if string(line) != w.line || tooLong != w.tooLong || err != w.err {
			t.Fatalf("line %d = %q, %v, %v; want %q, %v, %v", i+1, line, tooLong, err, w.line, w.tooLong, w.err)
		}
	}
	if line, _, err := readLine(r, 50); line != nil || err != io.EOF {
		t.Fatalf("after the end: %q, %v", line, err)
	}
}
