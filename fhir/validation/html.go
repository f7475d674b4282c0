package validation

import (
	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/fhirpath"
)

// nativeChecks implement published constraints in Go. R4 publishes txt-1 and txt-2 both
// as "htmlChecks()", a function that says only whether the markup is allowed; their
// XPath says what each really checks, so each gets its own half of the check.
var nativeChecks = map[string]func(*fhir.Node) bool{
	"Narrative|txt-1": func(n *fhir.Node) bool { ok, _ := fhirpath.XHTMLCheck(n.String()); return ok },
	"Narrative|txt-2": func(n *fhir.Node) bool { _, content := fhirpath.XHTMLCheck(n.String()); return content },
}
