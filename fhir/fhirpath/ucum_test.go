package fhirpath

import (
	"math/big"
	"testing"
)

func TestParseUnit(t *testing.T) {
	cases := []struct {
		unit   string
		factor string // in base units; "" when the unit is not understood
		dim    dims
	}{
		{"g", "1", dims{dimG: 1}},
		{"mg", "1/1000", dims{dimG: 1}},
		{"kg", "1000", dims{dimG: 1}},
		{"ug", "1/1000000", dims{dimG: 1}},
		{"cm", "1/100", dims{dimM: 1}},
		{"km", "1000", dims{dimM: 1}},
		{"[in_i]", "127/5000", dims{dimM: 1}},
		{"m2", "1", dims{dimM: 2}},
		{"cm.m", "1/100", dims{dimM: 2}},
		{"L", "1/1000", dims{dimM: 3}},
		{"mL", "1/1000000", dims{dimM: 3}},
		{"dL", "1/10000", dims{dimM: 3}},
		{"g/dL", "10000", dims{dimG: 1, dimM: -3}},
		{"mg/dL", "10", dims{dimG: 1, dimM: -3}},
		{"kg/m2", "1000", dims{dimG: 1, dimM: -2}},
		{"g/(m.s)", "1", dims{dimG: 1, dimM: -1, dimS: -1}},
		{"/min", "1/60", dims{dimS: -1}},
		{"{beats}/min", "1/60", dims{dimS: -1}},
		{"mmol/L", "1", dims{dimMol: 1, dimM: -3}},
		{"10*3/uL", "1000000000000", dims{dimM: -3}},
		{"%", "1/100", dims{}},
		{"1", "1", dims{}},
		{"", "1", dims{}},
		{"wk", "604800", dims{dimS: 1}},
		{"week", "604800", dims{dimS: 1}},
		{"ms", "1/1000", dims{dimS: 1}},
		{"s-1", "1", dims{dimS: -1}},
		{"mm[Hg]", "133322", dims{dimG: 1, dimM: -1, dimS: -2}},
		// not understood
		{"year", "", dims{}},
		{"[s]", "", dims{}},
		{"foo", "", dims{}},
		{"m(", "", dims{}},
		{"m)", "", dims{}},
		{"m[", "", dims{}},
		{"m{x", "", dims{}},
		{"11*3", "", dims{}},
		{"m99", "", dims{}},
		{"kmin", "", dims{}},
		{"m..s", "", dims{}},
	}
	for _, c := range cases {
		u, ok := parseUnit(c.unit)
		if c.factor == "" {
			if ok {
				t.Errorf("parseUnit(%q) = %v, want failure", c.unit, u.factor)
			}
			continue
		}
		want, _ := new(big.Rat).SetString(c.factor)
		if !ok || u.factor.Cmp(want) != 0 || u.dim != c.dim {
			t.Errorf("parseUnit(%q) = %v %v %v, want %v %v", c.unit, u.factor, u.dim, ok, want, c.dim)
		}
	}
}

func TestUnitProduct(t *testing.T) {
	cases := []struct {
		a, b   string
		divide bool
		want   string // "" when there is no fixed-size result
	}{
		{"cm", "m", false, "cm.m"},
		{"g", "m", true, "g/m"},
		{"m", "m", true, "1"},
		{"g", "m/s", true, "g/(m/s)"},
		{"mg", "1", false, "mg"},
		{"1", "mg", false, "mg"},
		{"1", "mg", true, "1/mg"},
		{"week", "1", false, "week"},
		{"week", "h", false, "wk.h"},
		{"year", "m", false, ""},
	}
	for _, c := range cases {
		got, ok := unitProduct(c.a, c.b, c.divide)
		if !ok {
			got = ""
		}
		if got != c.want {
			t.Errorf("unitProduct(%q, %q, %v) = %q, want %q", c.a, c.b, c.divide, got, c.want)
		}
	}
}
