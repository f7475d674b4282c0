package validation

import (
	"strconv"
	"strings"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/fhirpath"
)

// equalNode reports whether n is exactly v: the same primitive value and the same
// children, with nothing extra (a fixed[x] value).
func equalNode(n, v *fhir.Node) bool {
	if (n.Value == nil) != (v.Value == nil) || n.Value != nil && n.String() != v.String() {
		return false
	}
	if len(n.Children) != len(v.Children) {
		return false
	}
	for i, c := range n.Children {
		if c.Name != v.Children[i].Name || !equalNode(c, v.Children[i]) {
			return false
		}
	}
	return true
}

// matchesPattern reports whether n contains everything in pattern p: its primitive value,
// and for each child of the pattern some child of n with that name matching it (so each
// item of a repeating pattern element is matched by some item of n).
func matchesPattern(n, p *fhir.Node) bool {
	if p.Value != nil && (n.Value == nil || n.String() != p.String()) {
		return false
	}
next:
	for _, pc := range p.Children {
		for _, c := range n.Children {
			if c.Name == pc.Name && matchesPattern(c, pc) {
				continue next
			}
		}
		return false
	}
	return true
}

// compareValue compares n with a minValue[x]/maxValue[x] limit: numbers numerically,
// dates and times as text at the precision both share, Quantities by value. ok is false
// when the two cannot be compared.
func compareValue(n, limit *fhir.Node) (c int, ok bool) {
	if n.Type == "Quantity" || limit.Type == "Quantity" {
		nv, lv := n.First("value"), limit.First("value")
		if nv == nil || lv == nil {
			return 0, false
		}
		if n.Text("code") != limit.Text("code") {
			return compareUCUM(n, limit)
		}
		n, limit = nv, lv
	}
	if n.Value == nil || limit.Value == nil {
		return 0, false
	}
	switch limit.Type {
	case "integer", "decimal", "positiveInt", "unsignedInt":
		a, err1 := strconv.ParseFloat(n.String(), 64)
		b, err2 := strconv.ParseFloat(limit.String(), 64)
		if err1 != nil || err2 != nil {
			return 0, false
		}
		switch {
		case a < b:
			return -1, true
		case a > b:
			return 1, true
		}
		return 0, true
	case "date", "dateTime", "instant", "time":
		a, b := n.String(), limit.String()
		l := min(len(a), len(b))
		return strings.Compare(a[:l], b[:l]), true
	}
	return 0, false
}

const ucumSystem = "http://unitsofmeasure.org"

// ucumLess and ucumMore compare two Quantities after converting their UCUM units, which
// FHIRPath's comparison does.
var (
	ucumLess = fhirpath.MustCompile("%q < %limit")
	ucumMore = fhirpath.MustCompile("%q > %limit")
)

// compareUCUM compares Quantities in different UCUM units of the same dimension ("-1 g"
// with "0 kg"); ok is false when either is not UCUM or the units do not convert.
func compareUCUM(q, limit *fhir.Node) (c int, ok bool) {
	if q.Text("system") != ucumSystem || limit.Text("system") != ucumSystem {
		return 0, false
	}
	env := &fhirpath.Env{Vars: map[string]*fhir.Node{"q": q, "limit": limit}}
	less, err1 := ucumLess.EvaluateWith(q, env)
	more, err2 := ucumMore.EvaluateWith(q, env)
	if err1 != nil || err2 != nil || len(less) != 1 || len(more) != 1 {
		return 0, false
	}
	switch {
	case less[0].String() == "true":
		return -1, true
	case more[0].String() == "true":
		return 1, true
	}
	return 0, true
}
