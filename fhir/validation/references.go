package validation

import (
	"strings"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/profiles"
)

// reference checks that the resource Reference n points to has a type its element allows
// (targets are the element's targetProfile URLs). The type is read from the reference
// ("Patient/1", "http://x/fhir/Patient/1", "Patient?identifier=…"), from the contained
// resource or Bundle entry it resolves to, or else from Reference.type. A reference whose
// type cannot be told is not judged here.
func (p *pwalk) reference(n *fhir.Node, path string, targets []string, res, root *fhir.Node) {
	if len(targets) == 0 {
		return
	}
	typ := p.referencedType(n, res, root)
	if typ == "" {
		return
	}
	names := make([]string, 0, len(targets))
	var profiled []*profiles.StructureDefinition // target profiles beyond core ones for typ
	for _, t := range targets {
		tt := p.profileType(t)
		if tt == "" || tt == "Resource" {
			return // any resource, or a target profile that is not known and so cannot rule it out
		}
		if tt == typ || p.v.reg.IsSubtype(typ, tt) {
			if t == coreURL+tt {
				return
			}
			sd, err := p.pv.src.Get(t)
			if err != nil || sd == nil {
				return
			}
			profiled = append(profiled, sd)
			continue
		}
		names = append(names, tt)
	}
	if len(profiled) == 0 {
		p.add(fhir.SeverityError, fhir.IssueStructure, path, "%s: a reference to a %s is not allowed here; the target must be %s",
			path, typ, strings.Join(names, " or "))
		return
	}
	// The target must conform to one of the profiles for its type; this is checked when
	// the target is at hand (contained, or in the Bundle being validated).
	target := p.resolveTarget(n, res, root)
	if target == nil {
		return
	}
	urls := make([]string, len(profiled))
	for i, sd := range profiled {
		if p.conforms(sd, target, path, res, root) {
			return
		}
		urls[i] = sd.URL
	}
	p.add(fhir.SeverityError, fhir.IssueStructure, path, "%s: the referenced %s does not conform to %s",
		path, typ, strings.Join(urls, " or "))
}

// resolveTarget returns the resource a Reference points to when it is contained in res's
// container or is an entry of the Bundle being walked; nil otherwise.
func (p *pwalk) resolveTarget(n *fhir.Node, res, root *fhir.Node) *fhir.Node {
	ref := n.Text("reference")
	switch {
	case ref == "" || ref == "#":
		return nil
	case ref[0] == '#':
		container := res
		if res.Name == "contained" {
			container = root
		}
		for _, c := range container.Children {
			if c.Name == "contained" && c.Text("id") == ref[1:] {
				return c
			}
		}
		return nil
	case p.bundle == nil:
		return nil
	}
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	for _, e := range p.bundle.Children {
		if e.Name != "entry" {
			continue
		}
		r := e.First("resource")
		if r == nil {
			continue
		}
		full := e.Text("fullUrl")
		if full == ref || strings.HasSuffix(full, "/"+ref) || ref == r.Type+"/"+r.Text("id") {
			return r
		}
	}
	return nil
}

// profileReference checks a Reference against a profile element's target profiles where
// they differ from the core definition's (which the core walk checks).
func (p *pwalk) profileReference(ed *profiles.ElementDefinition, n *fhir.Node, path string, res, root *fhir.Node) {
	var targets []string
	for _, t := range ed.Types {
		if t.Code == "Reference" {
			targets = append(targets, t.TargetProfiles...)
		}
	}
	if len(targets) == 0 {
		return
	}
	if n.Def != nil {
		for _, t := range n.Def.Types {
			if t.Code == "Reference" && sameStrings(t.TargetProfiles, targets) {
				return
			}
		}
	}
	p.reference(n, path, targets, res, root)
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// referencedType returns the resource type a Reference points to, or "".
func (p *pwalk) referencedType(n *fhir.Node, res, root *fhir.Node) string {
	ref := n.Text("reference")
	switch {
	case ref == "":
		return n.Text("type")
	case ref == "#":
		return "" // the container, referred to only to satisfy dom-3; its type is not judged
	case ref[0] == '#':
		container := res
		if res.Name == "contained" {
			container = root
		}
		for _, c := range container.Children {
			if c.Name == "contained" && c.Text("id") == ref[1:] {
				return c.Type
			}
		}
		return ""
	case strings.HasPrefix(ref, "urn:"):
		if t := bundleEntryType(p.bundle, ref); t != "" {
			return t
		}
		return n.Text("type")
	}
	if i := strings.IndexByte(ref, '?'); i >= 0 {
		if t := ref[:i]; p.v.reg.IsResource(t) {
			return t
		}
		return ""
	}
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	segs := strings.Split(ref, "/")
	if len(segs) < 2 {
		return n.Text("type")
	}
	if t := segs[len(segs)-2]; p.v.reg.IsResource(t) {
		return t
	}
	return ""
}

// bundleEntryType returns the type of the resource with the given fullUrl in Bundle root.
func bundleEntryType(root *fhir.Node, fullURL string) string {
	if root == nil || root.Type != "Bundle" {
		return ""
	}
	for _, e := range root.Children {
		if e.Name == "entry" && e.Text("fullUrl") == fullURL {
			if r := e.First("resource"); r != nil {
				return r.Type
			}
		}
	}
	return ""
}
