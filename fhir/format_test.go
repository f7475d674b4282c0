package fhir

import (
	"fmt"
	"regexp"
	"testing"
)

// TestFormatsMatchRegexps checks the hand-written matchers against the published regular
// expressions on every string one edit away from valid and invalid seeds, and on every
// two-digit value of each date and time field.
func TestFormatsMatchRegexps(t *testing.T) {
	matchers := []struct {
		name  string
		match func(string) bool
		re    *regexp.Regexp
	}{
		{"date", isDate, refReDate},
		{"dateTime", isDateTime, refReDateTime},
		{"instant", isInstant, refReInstant},
		{"time", isTime, refReTime},
		{"id", isID, refReID},
	}
	seeds := []string{
		"", "0000", "0001", "2020", "1000", "0100", "0010", "2020-01", "2020-12-31", "2020-02-30",
		"2015-02-07T13:28:17-05:00", "2017-01-01T00:00:00Z", "2017-01-01T00:00:00.000Z",
		"2017-01-01T23:59:60.5+14:00", "2017-01-01T10:30:00.123456789-13:59", "2017-01-01T10:30",
		"2017-01-01T10:30:00", "12:00:00", "23:59:60.1", "00:00:00.", "a-B.9", "x_y",
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.",
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.a",
	}
	alphabet := "0123456789-:.+TZz x_\n\u00e9"
	inputs := map[string]bool{}
	for _, s := range seeds {
		inputs[s] = true
		for i := 0; i <= len(s); i++ {
			if i < len(s) {
				inputs[s[:i]+s[i+1:]] = true
			}
			for _, c := range alphabet {
				inputs[s[:i]+string(c)+s[i:]] = true
				if i < len(s) {
					inputs[s[:i]+string(c)+s[i+1:]] = true
				}
			}
		}
	}
	for a := 0; a < 100; a++ {
		two := fmt.Sprintf("%02d", a)
		for _, tmpl := range []string{"2020-%s", "2020-01-%s", "2020-01-01T%s:00:00Z", "2020-01-01T00:%s:00Z",
			"2020-01-01T00:00:%sZ", "2020-01-01T00:00:00+%s:00", "2020-01-01T00:00:00-01:%s", "%s:00:00"} {
			inputs[fmt.Sprintf(tmpl, two)] = true
		}
		inputs[fmt.Sprintf("%02d%02d", a, a)] = true
		inputs[fmt.Sprintf("00%02d", a)] = true
	}
	for _, m := range matchers {
		for s := range inputs {
			if got, want := m.match(s), m.re.MatchString(s); got != want {
				t.Errorf("%s(%q) = %v, the regular expression says %v", m.name, s, got, want)
			}
		}
	}
}
