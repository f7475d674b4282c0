package validation

import "github.com/concord-health/concord/fhir"

// NHSNumberSystem is the identifier system of NHS numbers in England and Wales.
const NHSNumberSystem = "https://fhir.nhs.uk/Id/nhs-number"

// ValidNHSNumber reports whether s is a ten-digit NHS number with a correct Modulus 11 check
// digit: the first nine digits weighted 10 down to 2, the check digit 11 minus the weighted
// sum modulo 11 (11 becomes 0; 10 means no number has those nine digits).
func ValidNHSNumber(s string) bool {
	if len(s) != 10 {
		return false
	}
	sum := 0
	for i := 0; i < 10; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		if i < 9 {
			sum += int(s[i]-'0') * (10 - i)
		}
	}
	check := 11 - sum%11
	switch check {
	case 11:
		check = 0
	case 10:
		return false
	}
	return int(s[9]-'0') == check
}

// identifier checks an Identifier whose system says it is an NHS number: a wrong number
// matches no patient and must not be trusted to link records.
func (w *walker) identifier(n *fhir.Node, path string) {
	if n.Text("system") != NHSNumberSystem {
		return
	}
	v := n.Text("value")
	if v == "" || ValidNHSNumber(v) {
		return
	}
	w.add(fhir.SeverityError, fhir.IssueValue, path+".value",
		"%q is not a valid NHS number: it needs ten digits and a correct Modulus 11 check digit", v)
}
