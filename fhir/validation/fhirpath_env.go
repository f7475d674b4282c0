package validation

import (
	"context"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/fhirpath"
	"github.com/concord-health/concord/terminology"
)

// env is the FHIRPath environment constraints are evaluated in: %resource and
// %rootResource, and memberOf() and conformsTo() answered by this validator's terminology
// and profiles.
func (v *Validator) env(res, root *fhir.Node) *fhirpath.Env {
	return &fhirpath.Env{Resource: res, RootResource: root, MemberOf: v.memberOf, ConformsTo: v.conformsTo}
}

// memberOf answers FHIRPath memberOf() for a code, Coding or CodeableConcept.
func (v *Validator) memberOf(item *fhir.Node, valueSet string) (member, known bool) {
	terms := v.pv.terms
	if terms == nil {
		return false, false
	}
	ctx := context.Background()
	var r terminology.Result
	switch item.Type {
	case "Coding":
		r = terms.ValidateCode(ctx, valueSet, codingOf(item))
	case "CodeableConcept":
		var cs []terminology.Coding
		for _, c := range item.Child("coding") {
			cs = append(cs, codingOf(c))
		}
		r = terms.ValidateCodeableConcept(ctx, valueSet, cs)
	default:
		if !item.IsPrimitive() || item.String() == "" {
			return false, false
		}
		r = terms.ValidateCode(ctx, valueSet, terminology.Coding{Code: item.String()})
	}
	return r.Valid, r.Known
}

// conformsTo answers FHIRPath conformsTo() by validating a resource against the profile:
// it conforms when that finds no error. Unknown profiles raise an error, as the
// specification asks.
func (v *Validator) conformsTo(item *fhir.Node, profile string) (conforms, known bool) {
	sd, err := v.pv.src.Get(profile)
	if err != nil || sd == nil {
		return false, false
	}
	if !item.IsResource() {
		return item.Type == sd.Type, true
	}
	res := &fhir.Resource{Type: item.Type, ID: item.Text("id"), Root: item}
	return !HasErrors(v.ValidateProfiles(res, profile)), true
}
