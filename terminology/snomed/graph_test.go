package snomed

import "github.com/concord-health/concord/terminology/ecl"

// An Edition is the concept graph ECL expressions are evaluated over.
var (
	_ ecl.Graph        = (*Edition)(nil)
	_ ecl.MemberTester = (*Edition)(nil)
)
