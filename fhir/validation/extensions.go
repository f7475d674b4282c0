package validation

import (
	"regexp"
	"strings"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/fhirpath"
	"github.com/concord-health/concord/fhir/profiles"
)

// extension resolves the definition of extension n (found at path under parent) and checks
// n against it and its context of use. An unknown extension is an error, as the FHIR
// reference validator reports it, except for the example domains it tolerates; an unknown
// modifier extension is always an error, since it may change the meaning of what holds it.
func (p *pwalk) extension(n *fhir.Node, path string, parent, res, root *fhir.Node) {
	url := n.Text("url")
	if url == "" {
		return // the core walker reports the missing url
	}
	if parent != nil && parent.Type == "Extension" && !strings.Contains(url, ":") {
		return // a part of a complex extension, checked against the extension's definition
	}
	modifier := n.Name == "modifierExtension"
	sd, err := p.pv.src.Get(url)
	switch {
	case err != nil:
		p.add(fhir.SeverityError, fhir.IssueProcessing, path, "The definition of extension %s could not be read: %v", url, err)
		return
	case sd == nil && tolerated(url):
		p.add(fhir.SeverityInformation, fhir.IssueInformation, path, "Unknown extension %s", url)
		return
	case sd == nil && modifier:
		p.add(fhir.SeverityError, fhir.IssueStructure, path, "The modifier extension %s could not be found, so the resource cannot be safely processed", url)
		return
	case sd == nil && p.pv.unknownExtWarn:
		p.add(fhir.SeverityWarning, fhir.IssueStructure, path, "The extension %s could not be found, so it was not checked", url)
		return
	case sd == nil:
		p.add(fhir.SeverityError, fhir.IssueStructure, path, "The extension %s could not be found so is not allowed here", url)
		return
	case sd.Type != "Extension":
		p.add(fhir.SeverityError, fhir.IssueStructure, path, "%s is a definition of %s, not of an extension", url, sd.Type)
		return
	}
	// A modifier extension changes the meaning of what holds it, so it must be where a
	// reader looks for modifiers, and only there.
	if r := sd.Root(); r != nil && r.IsModifier != modifier {
		if modifier {
			p.add(fhir.SeverityError, fhir.IssueStructure, path, "The Extension '%s' must not be used as a modifierExtension (it's a regular extension)", url)
		} else {
			p.add(fhir.SeverityError, fhir.IssueStructure, path, "The Extension '%s' must not be used as an extension (it's a modifierExtension)", url)
		}
	}
	if parent != nil && !p.contextAllows(sd, parent, path, res, root) {
		p.add(fhir.SeverityError, fhir.IssueStructure, path, "The extension %s is not allowed to be used at %s (allowed: %s)",
			url, usedAt(parent, path), contexts(sd))
	}
	if parent != nil {
		p.contextInvariants(sd, n, path, parent, res, root)
	}
	p.conform(sd, n, path, res, root)
}

// tolerated lists the URL spaces for which the reference validator accepts an unknown
// extension with only a note: example domains, and the cross-version extensions
// ("http://hl7.org/fhir/5.0/StructureDefinition/extension-…") that stand for elements of
// other FHIR versions and are defined by those versions rather than by any package.
func tolerated(url string) bool {
	return strings.Contains(url, "example.org") || strings.Contains(url, "acme.com") ||
		strings.Contains(url, "nema.org") || strings.HasPrefix(url, "http://hl7.org/fhir/tools/StructureDefinition/") ||
		crossVersion.MatchString(url)
}

var crossVersion = regexp.MustCompile(`^http://hl7\.org/fhir/[0-9]+\.[0-9]+/StructureDefinition/extension-`)

// contextAllows reports whether extension sd may be used on parent (the element holding
// the extension at path). Element contexts name a type (any element of that type
// or a specialisation of it) or an element path; extension contexts name the extension
// that may hold this one; FHIRPath contexts are evaluated on the resource.
func (p *pwalk) contextAllows(sd *profiles.StructureDefinition, parent *fhir.Node, path string, res, root *fhir.Node) bool {
	if len(sd.Contexts) == 0 {
		return true
	}
	// The 4.0.1 definitions themselves carry structuredefinition-fhir-type on
	// ElementDefinition.type, not on the type.code its context names.
	if sd.URL == fhirTypeExtension && parent.Def != nil && parent.Def.Path == "ElementDefinition.type" {
		return true
	}
	var instPath string
	for _, c := range sd.Contexts {
		e := c.Expression
		switch c.Type {
		case "fhirpath":
			// The context holds where the expression, evaluated on the resource, leads.
			x, err := compileCached(e)
			if err != nil {
				return true // not judged: the definition's expression cannot be evaluated
			}
			out, err := x.EvaluateWith(res, p.v.env(res, root))
			if err != nil {
				return true
			}
			for _, o := range out {
				if o == parent {
					return true
				}
			}
		case "extension":
			// On that extension, or on its value.
			if parent.Type == "Extension" && parent.Text("url") == e {
				return true
			}
			if a := p.ancestors; parent.Name == "value" && len(a) >= 2 && a[len(a)-1] == parent &&
				a[len(a)-2].Type == "Extension" && a[len(a)-2].Text("url") == e {
				return true
			}
		default:
			// "Element" is the most general context: anything, resources included.
			if e == "Element" || parent.Type == e || p.v.reg.IsSubtype(parent.Type, e) {
				return true
			}
			if e == "CanonicalResource" || e == "MetadataResource" {
				// Later versions' names for the resources with a canonical url.
				if p.v.reg.IsResource(parent.Type) && p.v.reg.Element(parent.Type+".url") != nil {
					return true
				}
				continue
			}
			dot := strings.IndexByte(e, '.')
			if dot < 0 {
				continue
			}
			// An element inherited from a base type ("DomainResource.text" on Patient.text).
			if parent.Def != nil {
				if owner, rest, ok := strings.Cut(parent.Def.Path, "."); ok && rest == e[dot+1:] && p.v.reg.IsSubtype(owner, e[:dot]) {
					return true
				}
			}
			// An element defined by reference to another ("RequestGroup.action.action") is
			// used where that one is allowed.
			if parent.Def != nil && (parent.Def.Path == e || parent.Def.ContentRef == e) {
				return true
			}
			if instPath == "" {
				instPath = withoutIndexes(usedAt(parent, path))
			}
			if instPath == e || strings.HasSuffix(instPath, "."+e) {
				return true
			}
		}
	}
	return false
}

const fhirTypeExtension = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"

// contextInvariants checks the extension definition's context invariants, evaluated on
// the element holding the extension.
func (p *pwalk) contextInvariants(sd *profiles.StructureDefinition, n *fhir.Node, path string, parent, res, root *fhir.Node) {
	for _, inv := range sd.ContextInvariants {
		x, err := compileCached(inv)
		if err != nil {
			p.add(fhir.SeverityWarning, fhir.IssueNotSupported, path, "Context invariant '%s' of extension %s could not be checked: %v", inv, sd.URL, err)
			continue
		}
		out, err := x.EvaluateWith(parent, &fhirpath.Env{Resource: res, RootResource: root, Vars: map[string]*fhir.Node{"extension": n}})
		if err != nil {
			p.add(fhir.SeverityWarning, fhir.IssueProcessing, path, "Context invariant '%s' of extension %s could not be checked: %v", inv, sd.URL, err)
			continue
		}
		if !satisfied(out) {
			p.add(fhir.SeverityError, fhir.IssueStructure, path, "The extension %s is not allowed to be used here: its context invariant '%s' is not met",
				sd.URL, inv)
		}
	}
}

// usedAt is the path of the element holding the extension at path.
func usedAt(parent *fhir.Node, path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return parent.Type
}

func contexts(sd *profiles.StructureDefinition) string {
	out := make([]string, len(sd.Contexts))
	for i, c := range sd.Contexts {
		out[i] = c.Expression
	}
	return strings.Join(out, ", ")
}

// withoutIndexes drops the list indexes of a path: "Patient.name[0].given" → "Patient.name.given".
func withoutIndexes(path string) string {
	var b strings.Builder
	skip := false
	for i := 0; i < len(path); i++ {
		switch c := path[i]; {
		case c == '[':
			skip = true
		case c == ']':
			skip = false
		case !skip:
			b.WriteByte(c)
		}
	}
	return b.String()
}
