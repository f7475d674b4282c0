package fhirpath

import "testing"

func TestBoundaries(t *testing.T) {
	runReflectCases(t, nil, []reflectCase{
		{expr: "1.587.lowBoundary()", want: "1.58650000"},
		{expr: "1.587.highBoundary(2)", want: "1.59"},
		{expr: "(-1.587).lowBoundary(2)", want: "-1.59"},
		{expr: "(-1.587).highBoundary(2)", want: "-1.58"},
		{expr: "0.0.highBoundary(3)", want: "0.050"},
		{expr: "0.0.lowBoundary(3)", want: "-0.050"},
		{expr: "120.lowBoundary(2)", want: "119.50"},
		{expr: "1.587.lowBoundary(-1)", want: ""},
		{expr: "1.587.lowBoundary(29)", want: ""},
		{expr: "2.5 'mg'.highBoundary(2)", want: "2.55 'mg'"},
		{expr: "@2016-02.highBoundary()", want: "2016-02-29"},
		{expr: "@2014.lowBoundary(8)", want: "2014-01-01"},
		{expr: "@2014-06-05.highBoundary(5)", want: ""},
		{expr: "@2014-01-01T08:05Z.highBoundary()", want: "2014-01-01T08:05:59.999Z"},
		{expr: "@2014-01-01.lowBoundary(12)", want: ""},
		{expr: "@2014-01-01T10.lowBoundary(12)", want: "2014-01-01T10:00+14:00"},
		{expr: "@T10.highBoundary()", want: "10:59:59.999"},
		{expr: "'abc'.lowBoundary()", wantErr: true},
		{expr: "1.5.lowBoundary('x')", wantErr: true},
		{expr: "(1.5 | 2.5).highBoundary()", wantErr: true},
	})
}

func TestPrecision(t *testing.T) {
	runReflectCases(t, nil, []reflectCase{
		{expr: "1.58700.precision()", want: "5"},
		{expr: "12.precision()", want: "0"},
		{expr: "@2014-03.precision()", want: "6"},
		{expr: "@2014-01-05T10:30.precision()", want: "12"},
		{expr: "@T10:30:00.precision()", want: "6"},
		{expr: "{}.precision()", want: ""},
		{expr: "'x'.precision()", wantErr: true},
	})
}

func TestDecimalBoundaryExponent(t *testing.T) {
	// FHIR JSON may carry decimals in exponent form; the mantissa's digits set the precision
	for _, c := range []struct{ in, low, high string }{
		{"1.5e2", "149.50000000", "150.50000000"},
		{"25e-3", "0.02450000", "0.02550000"},
	} {
		lo, ok1 := decimalBoundary(c.in, -1, false)
		hi, ok2 := decimalBoundary(c.in, -1, true)
		if !ok1 || !ok2 || lo != c.low || hi != c.high {
			t.Errorf("%s: boundaries %q %q, want %q %q", c.in, lo, hi, c.low, c.high)
		}
	}
	if _, ok := decimalBoundary("1.2.3", -1, false); ok {
		t.Error("malformed decimal accepted")
	}
}
