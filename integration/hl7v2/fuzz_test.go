package hl7v2

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParse checks that Parse never panics, that whatever it accepts encodes
// back to the same bytes and parses again to the same segments, and that the
// accessors, Set and NewACK cope with anything Parse accepts.
func FuzzParse(f *testing.F) {
	f.Add([]byte(oru))
	f.Fuzz(func(t *testing.T, data []byte) {
		if b, err := ParseBatch(data); err == nil {
			if !bytes.Equal(b.Encode(), data) {
				t.Fatalf("batch round trip differs")
			}
		}
		m, err := Parse(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error is %T, not *ParseError", err)
			}
			return
		}
		enc := m.Encode()
		if !bytes.Equal(enc, data) {
			t.Fatalf("round trip:\n got %q\nwant %q", enc, data)
		}
		again, err := Parse(enc)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		sameSegments(t, m, again)

		d := m.Delimiters()
		for _, s := range m.Segments() {
			for i := 1; i <= min(s.NumFields(), 12); i++ {
				p := Path{Field: i, Repetition: 2, Component: 2, Subcomponent: 2}
				_ = s.Get(p.String())
				v := s.Get(Path{Field: i}.String())
				if Unescape(Escape(v, d), d) != v {
					t.Fatalf("escape round trip of %q", v)
				}
			}
		}
		m.Type()
		m.CheckHeader()
		m.AcksWanted(true)
		if _, err := Parse(NewACK(m, ApplicationError, WithText(string(data))).Encode()); err != nil {
			t.Fatalf("ACK does not parse: %v", err)
		}
		v := string(data)
		if err := m.Set("ZZZ-2[2].3.2", v); err != nil {
			t.Fatalf("Set: %v", err)
		}
		built, err := Parse(m.Encode())
		if err != nil {
			t.Fatalf("modified message does not parse: %v\n%q", err, m.Encode())
		}
		if got := built.Get("ZZZ-2[2].3.2"); got != v {
			t.Fatalf("Get after Set = %q, want %q", got, v)
		}
	})
}

func sameSegments(t *testing.T, a, b *Message) {
	t.Helper()
	as, bs := a.Segments(), b.Segments()
	if len(as) != len(bs) || a.Delimiters() != b.Delimiters() {
		t.Fatalf("re-parse: %d vs %d segments", len(as), len(bs))
	}
	for i := range as {
		if as[i].name != bs[i].name || as[i].raw != bs[i].raw || as[i].term != bs[i].term {
			t.Fatalf("segment %d differs after re-parse", i+1)
		}
	}
}
