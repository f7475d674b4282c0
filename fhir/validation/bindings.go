package validation

import (
	"context"
	"strings"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/fhir/profiles"
	"github.com/concord-health/concord/terminology"
)

// CodeChecker decides whether codes are in value sets; *terminology.Service implements it.
type CodeChecker interface {
	ValidateCode(ctx context.Context, valueSet string, c terminology.Coding) terminology.Result
	ValidateCodeableConcept(ctx context.Context, valueSet string, codings []terminology.Coding) terminology.Result
}

// IssueCodeInvalid is the issue-type code of a code that is not in its value set.
const IssueCodeInvalid = "code-invalid"

// bindable reports the types a binding applies to (terminologies.html#4.1.2: code, Coding,
// CodeableConcept, Quantity, and string and uri holding a code).
func bindable(typ string) bool {
	switch typ {
	case "code", "Coding", "CodeableConcept", "Quantity", "string", "uri":
		return true
	}
	return false
}

// noBinding marks a core element known to have no binding in the cache.
var noBinding = &profiles.Binding{}

// coreBindingOf returns the binding of a core element, read once from the core definition.
func (p *pwalk) coreBindingOf(def *definitions.Element) *profiles.Binding {
	if v, ok := p.pv.coreBindings.Load(def); ok {
		return v.(*profiles.Binding)
	}
	b := noBinding
	typ, _, _ := strings.Cut(def.Path, ".")
	if sd, err := p.pv.src.ForType(typ); err == nil && sd != nil {
		if ed := p.pv.prepare(sd, p.v.cs).byPath[def.Path]; ed != nil && ed.Binding != nil {
			b = ed.Binding
		}
	}
	p.pv.coreBindings.Store(def, b)
	return b
}

// coreBinding checks n against the binding of its core element.
func (p *pwalk) coreBinding(n *fhir.Node, path string) {
	if !bindable(n.Type) {
		return
	}
	if b := p.coreBindingOf(n.Def); b != noBinding {
		p.binding(b, n, path)
	}
}

// sameCoreBinding reports whether a profile element's binding is the core one for n, which
// the core walk has checked.
func (p *pwalk) sameCoreBinding(ed *profiles.ElementDefinition, n *fhir.Node) bool {
	if !bindable(n.Type) {
		return true
	}
	if n.Def == nil {
		return false
	}
	b := p.coreBindingOf(n.Def)
	return b.Strength == ed.Binding.Strength && b.ValueSet == ed.Binding.ValueSet
}

// binding checks n against a required or extensible binding: a code not in a required
// value set is an error, not in an extensible one a warning. Preferred and example
// bindings are guidance only. When the terminology cannot decide (a value set or code
// system it does not hold) nothing is reported beyond a note for required bindings.
func (p *pwalk) binding(b *profiles.Binding, n *fhir.Node, path string) {
	if b.ValueSet == "" || (b.Strength != "required" && b.Strength != "extensible") {
		return
	}
	sev := fhir.SeverityError
	if b.Strength == "extensible" {
		sev = fhir.SeverityWarning
	}
	ctx := context.Background()
	var r terminology.Result
	var shown string
	switch n.Type {
	case "code", "string", "uri":
		if n.Value == nil {
			return
		}
		shown = "'" + n.String() + "'"
		r = p.pv.terms.ValidateCode(ctx, b.ValueSet, terminology.Coding{Code: n.String()})
	case "Coding":
		c := codingOf(n)
		if c.Code == "" {
			return
		}
		shown = c.System + "#" + c.Code
		r = p.pv.terms.ValidateCode(ctx, b.ValueSet, c)
	case "Quantity":
		c := terminology.Coding{System: n.Text("system"), Code: n.Text("code")}
		if c.Code == "" {
			return
		}
		shown = c.System + "#" + c.Code
		r = p.pv.terms.ValidateCode(ctx, b.ValueSet, c)
	case "CodeableConcept":
		var codings []terminology.Coding
		for _, c := range n.Children {
			if c.Name == "coding" {
				if cd := codingOf(c); cd.Code != "" {
					codings = append(codings, cd)
				}
			}
		}
		if len(codings) == 0 {
			if b.Strength == "required" {
				p.add(sev, IssueCodeInvalid, path, "%s: no code provided, and a code is required from the value set %s", path, b.ValueSet)
			} else {
				p.add(sev, IssueCodeInvalid, path, "%s: no code provided, and a code should be provided from the value set %s", path, b.ValueSet)
			}
			return
		}
		parts := make([]string, len(codings))
		for i, c := range codings {
			parts[i] = c.System + "#" + c.Code
		}
		shown = strings.Join(parts, ", ")
		r = p.pv.terms.ValidateCodeableConcept(ctx, b.ValueSet, codings)
	default:
		return
	}
	switch {
	case r.Valid:
	case !r.Known:
		if b.Strength == "required" {
			p.add(fhir.SeverityInformation, fhir.IssueInformation, path, "%s: %s could not be checked against the value set %s: %s",
				path, shown, b.ValueSet, r.Message)
		}
	default:
		p.add(sev, IssueCodeInvalid, path, "%s: %s was not found in the value set %s (%s binding): %s",
			path, shown, b.ValueSet, b.Strength, r.Message)
	}
}

func codingOf(n *fhir.Node) terminology.Coding {
	return terminology.Coding{System: n.Text("system"), Version: n.Text("version"), Code: n.Text("code"), Display: n.Text("display")}
}
