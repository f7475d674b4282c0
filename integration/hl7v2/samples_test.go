package hl7v2

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// sampleDirs hold public sample messages outside the repository (see
// ../shared/data/README.md); CI has them.
var sampleDirs = []string{
	"../../../shared/data/hl7v2-microsoft/messages",
	"../../../shared/data/hl7v2-to-fhir-ig/extracted-messages",
}

func sampleFiles(t testing.TB) []string {
	var files []string
	for _, dir := range sampleDirs {
		m, err := filepath.Glob(filepath.Join(dir, "*.hl7"))
		if err != nil {
			t.Fatal(err)
		}
		if len(m) == 0 {
			t.Logf("no sample messages in %s (the shared data folder is absent here)", dir)
		}
		files = append(files, m...)
	}
	return files
}

func TestSamplesRoundTrip(t *testing.T) {
	files := sampleFiles(t)
	if len(files) == 0 {
		t.Skip("sample messages not found: ../shared/data is absent; CI has it")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Parse(data)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got := m.Encode(); !bytes.Equal(got, data) {
				t.Fatalf("round trip differs:\n got %q\nwant %q", got, data)
			}
			code, event, _ := m.Type()
			if code == "" || event == "" || m.ControlID() == "" || m.Version() == "" {
				t.Errorf("header: type %q^%q control id %q version %q", code, event, m.ControlID(), m.Version())
			}
			if errs := m.CheckHeader(); len(errs) > 0 {
				t.Errorf("CheckHeader: %v", errs)
			}
			// Every field of every segment must survive unescape → escape → unescape.
			d := m.Delimiters()
			for _, s := range m.Segments() {
				for i := 1; i <= s.NumFields(); i++ {
					if s.Name() == "MSH" && i <= 2 {
						continue
					}
					v := Unescape(s.Field(i), d)
					if Unescape(Escape(v, d), d) != v {
						t.Errorf("%s-%d: escape round trip", s.Name(), i)
					}
				}
			}
			// Re-setting every component of PID-5 through Set keeps the message identical.
			if pid := m.Segment("PID"); pid != nil {
				before := string(m.Encode())
				for c := 1; c <= 3; c++ {
					p := "PID-5[1]." + string(rune('0'+c))
					if m.Raw(p) == "" {
						continue
					}
					if err := m.Set(p, m.Get(p)); err != nil {
						t.Fatal(err)
					}
				}
				if after := string(m.Encode()); after != before {
					t.Errorf("Set of the same values changed the message:\n%q\n%q", before, after)
				}
			}
		})
	}
	t.Logf("%d sample messages parsed and round-tripped byte for byte", len(files))
}
