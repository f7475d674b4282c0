package fhirpath

import (
	"testing"

	"github.com/concord-health/concord/fhir"
)

func TestQuantityOperators(t *testing.T) {
	cases := []struct {
		expr string
		want string // "" for empty, "error" when evaluation must fail
	}{
		// equality converts units; units that cannot be converted give empty
		{"4.0000 'g' = 4000.0 'mg'", "true"},
		{"1 'kg' = 1000 'g'", "true"},
		{"1 'kg' = 1001 'g'", "false"},
		{"1 '[in_i]' = 2.54 'cm'", "true"},
		{"1 'L' = 1000 'mL'", "true"},
		{"1 'dL' = 100 'mL'", "true"},
		{"1000 'ug' = 1 'mg'", "true"},
		{"1 'km' = 1000000 'mm'", "true"},
		{"1 'cm' = 1 's'", ""},
		{"1 'cm' != 1 's'", ""},
		{"1 'cm' = 1 '[foo]'", ""},
		{"1 '[foo]' = 1 '[foo]'", "true"},
		{"1 'cm' = 1 'cm2'", ""},
		// calendar durations: a week and below equal their UCUM units, years and months not
		{"7 days = 1 week", "true"},
		{"1 second = 1 's'", "true"},
		{"1 hour = 60 'min'", "true"},
		{"1 year = 1 'a'", ""},
		{"1 month = 1 'mo'", ""},
		{"1 year = 12 months", ""},
		{"1 year = 1 year", "true"},
		{"1 year ~ 1 'a'", "true"},
		{"1 year ~ 12 months", "true"},
		{"1 'cm' ~ 1 's'", "false"},
		// equivalence compares at the precision of the less precise value
		{"4 'g' ~ 4040 'mg'", "true"},
		{"4.0 'g' ~ 4040 'mg'", "true"},
		{"4.00 'g' ~ 4040 'mg'", "false"},
		// ordering
		{"6 days < 1 week", "true"},
		{"1 'm' > 99 'cm'", "true"},
		{"1 'm' < 1 's'", ""},
		// arithmetic
		{"3 'm' + 3 'cm'", "3.03 'm'"},
		{"3 'cm' - 1 'mm'", "2.9 'cm'"},
		{"1 'cm' + 1 's'", ""},
		{"2.0 'cm' * 2.0 'm'", "4.00 'cm.m'"},
		{"2.0 'cm' * 2.0 'm' = 0.040 'm2'", "true"},
		{"4.0 'g' / 2.0 'm'", "2 'g/m'"},
		{"1.0 'm' / 1.0 'm' = 1 '1'", "true"},
		{"2 'mg' * 3", "6 'mg'"},
		{"3 * 2 'mg'", "6 'mg'"},
		{"2 weeks * 2", "4 week"},
		{"6 'mg' / 0", ""},
		{"1 'g' / 2 'g/L'", "0.5 'g/(g/L)'"},
		{"(1 'g' / 2 'g/L') = 500 'mL'", "true"},
		{"-(1.50 'mg')", "-1.50 'mg'"},
		{"(-1.50 'mg').abs()", "1.50 'mg'"},
		// text keeps the value as written; calendar keywords are not quoted
		{"1.58650000 'cm'.toString()", "1.58650000 'cm'"},
		{"1 week.toString()", "1 week"},
		{"1 'wk'.toString()", "1 'wk'"},
		// comparable()
		{"1 'cm'.comparable(1 '[in_i]')", "true"},
		{"1 'cm'.comparable(1 '[s]')", "false"},
		{"1 'cm'.comparable(1 's')", "false"},
		{"1.comparable(2)", "true"},
		{"1 'mg'.comparable({})", ""},
		// toQuantity(unit)
		{"'1 g'.toQuantity('mg')", ""},
		{"'1 \\'g\\''.toQuantity('mg')", "1000 'mg'"},
		{"1 'kg'.toQuantity('[lb_av]') > 2.2 '[lb_av]'", "true"},
		{"1 'kg'.toQuantity('m')", ""},
		{"1 'kg'.convertsToQuantity('m')", "false"},
		{"1 'kg'.convertsToQuantity('g')", "true"},
		// decimal arithmetic is exact
		{"1.2 * 1.8", "2.16"},
		{"0.1 + 0.2", "0.3"},
		{"1.8 - 1.2", "0.6"},
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			got := evalText(t, c.expr)
			if got != c.want {
				t.Errorf("%s = %q, want %q", c.expr, got, c.want)
			}
		})
	}
}

func TestDateTimeQuantityArithmetic(t *testing.T) {
	cases := []struct {
		expr string
		want string
	}{
		{"@1973-12-25 + 1 'wk'", "1974-01-01"},
		{"@1973-12-25 + 1 'd'", "1973-12-26"},
		{"@1973-12-25 + 1 month", "1974-01-25"},
		{"@1973-12-25 + 1 'mo'", "error"},
		{"@1973-12-25 + 1 'a'", "error"},
		{"@1973-12-25 - 1 'cm'", "error"},
		{"@2012-01-31 + 1 month", "2012-02-29"},
		{"@1973-12-25T00:00:00.000+10:00 + 1.5 hours", "1973-12-25T01:00:00.000+10:00"},
		{"@1973-12-25T00:00:00.000+10:00 + 0.1 's'", "1973-12-25T00:00:00.100+10:00"},
		// seconds and milliseconds compare as one decimal precision
		{"@2012-04-15T15:30:31 = @2012-04-15T15:30:31.1", "false"},
		{"@2012-04-15T15:30:31 = @2012-04-15T15:30:31.0", "true"},
		{"@2012-04-15T15:30:31 ~ @2012-04-15T15:30:31.1", "false"},
		{"@2012-04-15T15:30 = @2012-04-15T15:30:31", ""},
		// without an offset the result is known only when every offset gives the same one
		{"@2012-04-15T15:00:00Z = @2012-04-15T10:00:00", ""},
		{"@2012-04-15T15:00:00Z = @2012-04-17T10:00:00", "false"},
		{"@2012-04-15T15:00:00Z < @2012-04-17T10:00:00", "true"},
		{"@2012-04-15T15:00:00Z < @2012-04-15T16:00:00", ""},
		{"@2012-04-15T15:00:00+02:00 = @2012-04-15T13:00:00Z", "true"},
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			if got := evalText(t, c.expr); got != c.want {
				t.Errorf("%s = %q, want %q", c.expr, got, c.want)
			}
		})
	}
}

// evalText evaluates an expression without input and writes its single result as text: ""
// when empty, "error" when evaluation fails.
func evalText(t *testing.T, expr string) string {
	t.Helper()
	e, err := Compile(expr)
	if err != nil {
		return "error"
	}
	out, err := e.Evaluate(nil)
	if err != nil {
		return "error"
	}
	switch len(out) {
	case 0:
		return ""
	case 1:
		s, ok := toText(out[0])
		if !ok {
			t.Fatalf("%s: result has no text form", expr)
		}
		return s
	}
	t.Fatalf("%s: %d results", expr, len(out))
	return ""
}

// TestCompareValueless: a primitive that has only extensions compares as empty, not as an
// error.
func TestCompareValueless(t *testing.T) {
	res, err := fhir.Parse([]byte(`{"resourceType":"Patient","_birthDate":{"extension":[{"url":"http://x","valueString":"unknown"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, expr := range []string{"birthDate > @2010-01-01", "birthDate = @2010-01-01", "birthDate < today()"} {
		out, err := MustCompile(expr).Evaluate(res.Root)
		if err != nil || len(out) != 0 {
			t.Errorf("%s: %v, %v; want empty", expr, out, err)
		}
	}
}
