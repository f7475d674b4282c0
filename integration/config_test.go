package integration

import (
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	good := `
channels:
  - name: pas
    sending_application: PAS
    sending_facility: RXA01
    organization: RXA
    message_types: [ADT]
  - name: lab
    sending_application: LAB
    message_types: [ORU^R01]
    validate: enforce
  - name: anything-else
`
	c, err := ParseConfig([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ app, facility, want string }{
		{"PAS", "RXA01", "pas"},
		{"pas", "rxa01", "pas"},
		{"LAB", "RXA01", "lab"},
		{"PAS", "OTHER", "anything-else"},
		{"", "", "anything-else"},
	} {
		if got := c.route(tc.app, tc.facility); got == nil || got.Name != tc.want {
			t.Errorf("route(%s, %s) = %v, want %s", tc.app, tc.facility, got, tc.want)
		}
	}
	pas, lab := c.Channel("pas"), c.Channel("lab")
	if !pas.accepts("ADT", "A40") || pas.accepts("ORU", "R01") || !lab.accepts("ORU", "R01") || lab.accepts("ORU", "R30") {
		t.Error("message types not applied as configured")
	}
	for _, tc := range []struct{ yaml, want string }{
		{"", "names no channel"},
		{"channels: []", "names no channel"},
		{"channels:\n  - name: PAS\n", "must be lower-case"},
		{"channels:\n  - name: a\n  - name: a\n    sending_application: X\n", "named twice"},
		{"channels:\n  - name: a\n    validate: maybe\n", "not off, warn or enforce"},
		{"channels:\n  - name: a\n    message_types: [ADT_A01]\n", "not like ADT"},
		{"channels:\n  - name: a\n    colour: blue\n", "colour"},
		{"channels:\n  - name: a\n  - name: b\n", "take the same senders"},
	} {
		_, err := ParseConfig([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
