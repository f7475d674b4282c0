package validation

import (
	"slices"
	"strconv"
	"strings"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/fhir/fhirpath"
)

// capabilities checks what a CapabilityStatement says of the core search parameters it
// names: a searchParam whose definition is a core SearchParameter must give that
// parameter's type, since clients build their queries from the statement.
func (p *pwalk) capabilities(n *fhir.Node, path string) {
	for i, rest := range n.Child("rest") {
		for j, r := range rest.Child("resource") {
			typ := r.Text("type")
			for k, sp := range r.Child("searchParam") {
				def, given := sp.Text("definition"), sp.Text("type")
				if def == "" || given == "" {
					continue
				}
				url, _, _ := strings.Cut(def, "|")
				core := p.v.reg.SearchParamByURL(typ, url)
				if core == nil || core.Type == given {
					continue
				}
				at := path + ".rest[" + strconv.Itoa(i) + "].resource[" + strconv.Itoa(j) + "].searchParam[" + strconv.Itoa(k) + "]"
				p.add(fhir.SeverityError, fhir.IssueInvalid, at, "Type mismatch - SearchParameter '%s' type is %s, but type here is %s",
					def, core.Type, given)
			}
		}
	}
}

// searchParameter checks a SearchParameter derived from a core one (derivedFrom): it
// must keep that parameter's type, apply to resource types that one applies to, and have
// an expression that makes sense for its own base types.
func (p *pwalk) searchParameter(n *fhir.Node, path string) {
	from := n.Text("derivedFrom")
	if from == "" {
		return
	}
	url, _, _ := strings.Cut(from, "|")
	var core *definitions.SearchParam
	for _, t := range p.v.reg.ResourceTypes() {
		if core = p.v.reg.SearchParamByURL(t, url); core != nil {
			break
		}
	}
	if core == nil {
		return
	}
	if typ := n.Text("type"); typ != "" && typ != core.Type {
		p.add(fhir.SeverityError, fhir.IssueBusinessRule, path, "The type %s is different to the type %s in the derivedFrom SearchParameter %s",
			typ, core.Type, from)
	}
	bases := n.Child("base")
	for _, b := range bases {
		if !slices.Contains(core.Base, b.String()) && !slices.Contains(core.Base, "Resource") && !slices.Contains(core.Base, "DomainResource") {
			p.add(fhir.SeverityError, fhir.IssueBusinessRule, path, "The resource type %s is not listed as a base in the SearchParameter this is derived from (%s)",
				b.String(), from)
		}
	}
	expr := n.Text("expression")
	if expr == "" {
		return
	}
	for _, b := range bases {
		if !p.v.reg.IsResource(b.String()) {
			continue
		}
		if _, err := fhirpath.CompileFor(expr, b.String()); err != nil {
			p.add(fhir.SeverityError, fhir.IssueInvalid, path+".expression", "Error in search expression '%s': %v", expr, err)
			return
		}
	}
}
