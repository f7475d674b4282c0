package validation

import (
	"context"
	"fmt"
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

// conceptLookup is what a CodeChecker offers when it also holds the code systems' concepts
// (*terminology.Service does): then the displays of codings can be checked.
type conceptLookup interface {
	Lookup(ctx context.Context, system, code string) (terminology.Concept, bool)
}

// display checks the display of Coding n against the concept its code denotes, in a code
// system the terminology holds: it must be the concept's display or one of its designations
// (those in the resource's language when it states one), ignoring case and spacing.
func (p *pwalk) display(n *fhir.Node, path string, res *fhir.Node) {
	lk, ok := p.pv.terms.(conceptLookup)
	if !ok {
		return
	}
	d := n.First("display")
	if d == nil || d.Value == nil || p.vouched[n] {
		return
	}
	system, code := n.Text("system"), n.Text("code")
	if system == "" || code == "" {
		return
	}
	if v := n.Text("version"); v != "" {
		system += "|" + v
	}
	c, found := lk.Lookup(context.Background(), system, code)
	if !found || c.Display == "" {
		return
	}
	given := normalSpace(d.String())
	lang := res.Text("language")
	choices := []string{"'" + c.Display + "'"}
	if strings.EqualFold(given, normalSpace(c.Display)) {
		return
	}
	for _, des := range c.Designations {
		if des.Value == "" || lang != "" && des.Language != "" && !sameLanguage(des.Language, lang) {
			continue
		}
		if strings.EqualFold(given, normalSpace(des.Value)) {
			return
		}
		if des.Language != "" {
			choices = append(choices, "'"+des.Value+"' ("+des.Language+")")
		} else {
			choices = append(choices, "'"+des.Value+"'")
		}
	}
	var valid string
	switch len(choices) {
	case 1:
		valid = "Valid display is " + choices[0]
	default:
		valid = fmt.Sprintf("Valid display is one of %d choices: %s or %s", len(choices),
			strings.Join(choices[:len(choices)-1], ", "), choices[len(choices)-1])
	}
	p.add(fhir.SeverityError, fhir.IssueInvalid, path+".display", "Wrong Display Name '%s' for %s#%s. %s",
		d.String(), n.Text("system"), code, valid)
}

// sameLanguage reports whether language tag a is b or a variant of it ("de-CH" of "de").
func sameLanguage(a, b string) bool {
	a, b = strings.ToLower(a), strings.ToLower(b)
	return a == b || strings.HasPrefix(a, b+"-") || strings.HasPrefix(b, a+"-")
}

func normalSpace(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// vouchDisplays records the codings of n whose display the value set of a profile's
// binding lists for their code: a value set may carry its own displays (in its expansion or
// its compose), which the display check then accepts. Only value sets contained in the
// profile are read here; those the terminology holds give the code system's displays.
func (p *pwalk) vouchDisplays(sd *profiles.StructureDefinition, b *profiles.Binding, n *fhir.Node) {
	if !strings.HasPrefix(b.ValueSet, "#") || sd.Source == nil || sd.Source.Root == nil {
		return
	}
	var vs *fhir.Node
	for _, c := range sd.Source.Root.Child("contained") {
		if c.Type == "ValueSet" && c.Text("id") == b.ValueSet[1:] {
			vs = c
		}
	}
	if vs == nil {
		return
	}
	codings := []*fhir.Node{n}
	if n.Type == "CodeableConcept" {
		codings = n.Child("coding")
	}
	for _, c := range codings {
		if d := c.Text("display"); d != "" && listsDisplay(vs, c.Text("system"), c.Text("code"), normalSpace(d)) {
			if p.vouched == nil {
				p.vouched = map[*fhir.Node]bool{}
			}
			p.vouched[c] = true
		}
	}
}

// listsDisplay reports whether ValueSet vs gives display (or a designation) d to
// system#code, in its expansion or in the concepts its compose includes.
func listsDisplay(vs *fhir.Node, system, code, d string) bool {
	matches := func(c *fhir.Node) bool {
		if c.Text("code") != code {
			return false
		}
		if strings.EqualFold(normalSpace(c.Text("display")), d) {
			return true
		}
		for _, des := range c.Child("designation") {
			if strings.EqualFold(normalSpace(des.Text("value")), d) {
				return true
			}
		}
		return false
	}
	var contains func(list []*fhir.Node) bool
	contains = func(list []*fhir.Node) bool {
		for _, c := range list {
			if c.Text("system") == system && matches(c) || contains(c.Child("contains")) {
				return true
			}
		}
		return false
	}
	if x := vs.First("expansion"); x != nil && contains(x.Child("contains")) {
		return true
	}
	if cp := vs.First("compose"); cp != nil {
		for _, inc := range cp.Child("include") {
			if inc.Text("system") != system {
				continue
			}
			for _, c := range inc.Child("concept") {
				if matches(c) {
					return true
				}
			}
		}
	}
	return false
}
