package validation

import (
	"strings"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/fhirpath"
	"github.com/concord-health/concord/fhir/profiles"
)

// discKey identifies a discriminator path on one slice.
type discKey struct {
	slice *profiles.ElementDefinition
	path  string
}

// discTarget is the element a discriminator path leads to within a slice: the one whose
// fixed/pattern value, existence, types or profiles tell the slice's items apart.
type discTarget struct {
	el *profiles.ElementDefinition
	// resolved: the path went through resolve(), so types and profiles are the
	// reference's target profiles.
	resolved bool
}

// slices checks the items of a sliced element: each conforms to the element itself and
// to the slice its discriminators assign it to, and the slicing's counts, rules and order
// hold.
func (p *pwalk) slices(ps *prepared, entry *profiles.ElementDefinition, items []*fhir.Node, paths []string, base string, res, root *fhir.Node) {
	for i, it := range items {
		p.element(ps, entry, it, paths[i], res, root)
	}
	p.assign(ps, entry, items, paths, base, res, root)
}

// assign distributes items over the slices of entry (a sliced element or a slice that is
// sliced again) and checks each slice's items.
func (p *pwalk) assign(ps *prepared, entry *profiles.ElementDefinition, items []*fhir.Node, paths []string, base string, res, root *fhir.Node) {
	if len(entry.Slices) == 0 {
		return
	}
	which := make([]int, len(items))
	counts := make([]int, len(entry.Slices))
	for i, it := range items {
		which[i] = -1
		for si, s := range entry.Slices {
			if p.matches(ps, entry, s, it, res, root) {
				which[i] = si
				counts[si]++
				break
			}
		}
	}
	for si, s := range entry.Slices {
		if counts[si] < s.Min {
			p.add(fhir.SeverityError, fhir.IssueRequired, base, "%s: slice '%s' requires at least %d, but only found %d (from %s)",
				base, s.SliceName, s.Min, counts[si], ps.sd.URL)
		}
		if s.Max >= 0 && counts[si] > s.Max {
			p.add(fhir.SeverityError, fhir.IssueStructure, base, "%s: slice '%s' allows at most %d, but found %d (from %s)",
				base, s.SliceName, s.Max, counts[si], ps.sd.URL)
		}
	}
	if sl := entry.Slicing; sl != nil {
		last, unmatched := -1, false
		for i, si := range which {
			switch {
			case si < 0 && sl.Rules == "closed":
				p.add(fhir.SeverityError, fhir.IssueStructure, paths[i], "%s does not match any slice of %s, and the slicing is closed (from %s)",
					paths[i], entry.ID, ps.sd.URL)
			case si < 0 && strings.HasSuffix(entry.Path, "Extension.extension") && !strings.Contains(items[i].Text("url"), ":"):
				// A part of a complex extension that its definition does not name.
				p.add(fhir.SeverityError, fhir.IssueStructure, paths[i], "Sub-extension url '%s' is not defined by the extension %s",
					items[i].Text("url"), ps.sd.URL)
				unmatched = true
			case si < 0:
				unmatched = true
			case unmatched && sl.Rules == "openAtEnd":
				p.add(fhir.SeverityError, fhir.IssueStructure, paths[i], "%s matches slice '%s' but comes after an item that matches no slice; %s allows other items only at the end (from %s)",
					paths[i], entry.Slices[si].SliceName, entry.ID, ps.sd.URL)
			}
			if si >= 0 && sl.Ordered && si < last {
				p.add(fhir.SeverityError, fhir.IssueStructure, paths[i], "%s matches slice '%s', which comes before slice '%s' of the item before it; the slices of %s are ordered (from %s)",
					paths[i], entry.Slices[si].SliceName, entry.Slices[last].SliceName, entry.ID, ps.sd.URL)
			}
			if si >= 0 {
				last = max(last, si)
			}
		}
	}
	for si, s := range entry.Slices {
		if counts[si] == 0 {
			if len(s.Slices) > 0 {
				p.assign(ps, s, nil, nil, base, res, root)
			}
			continue
		}
		var sub []*fhir.Node
		var subPaths []string
		for i, it := range items {
			if which[i] == si {
				p.element(ps, s, it, paths[i], res, root)
				sub, subPaths = append(sub, it), append(subPaths, paths[i])
			}
		}
		if len(s.Slices) > 0 {
			p.assign(ps, s, sub, subPaths, base, res, root)
		}
	}
}

// matches reports whether item belongs to slice by every discriminator of entry.
func (p *pwalk) matches(ps *prepared, entry, slice *profiles.ElementDefinition, item *fhir.Node, res, root *fhir.Node) bool {
	if entry.Slicing == nil || len(entry.Slicing.Discriminators) == 0 {
		// Without discriminators an item belongs to the first slice it conforms to.
		sub := &pwalk{walker: &walker{v: p.v}, pv: p.pv, depth: p.depth, bundle: p.bundle}
		sub.element(ps, slice, item, "", res, root)
		return !HasErrors(sub.issues)
	}
	for _, d := range entry.Slicing.Discriminators {
		t := p.discTarget(ps, slice, d.Path)
		if t.el == nil {
			return false
		}
		vals := discValues(d.Path, item, res, root)
		switch d.Type {
		case "value", "pattern":
			switch {
			case t.el.Fixed != nil || t.el.Pattern != nil:
				if !matchesValue(t.el, vals) {
					return false
				}
			case t.el.Max == 0:
				// A slice that forbids the element holds the items without it.
				if len(vals) > 0 {
					return false
				}
			}
			// A slice that leaves the path unconstrained admits any value there.
		case "exists":
			switch {
			case t.el.Min >= 1:
				if len(vals) == 0 {
					return false
				}
			case t.el.Max == 0:
				if len(vals) > 0 {
					return false
				}
			default:
				return false
			}
		case "type":
			if !p.matchesType(t, vals) {
				return false
			}
		case "profile":
			if !p.matchesProfile(t, vals, res, root) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// matchesValue reports whether some value equals the element's fixed value or contains
// its pattern.
func matchesValue(el *profiles.ElementDefinition, vals []*fhir.Node) bool {
	for _, v := range vals {
		switch {
		case el.Fixed != nil && el.Fixed.Value != nil:
			// A primitive discriminates by its value; extensions on it do not count.
			if v.Value != nil && v.String() == el.Fixed.String() {
				return true
			}
		case el.Fixed != nil:
			if equalNode(v, el.Fixed) {
				return true
			}
		case el.Pattern != nil:
			if matchesPattern(v, el.Pattern) {
				return true
			}
		}
	}
	return false
}

func (p *pwalk) matchesType(t *discTarget, vals []*fhir.Node) bool {
	if len(vals) == 0 {
		return false
	}
	var allowed []string
	for _, tr := range t.el.Types {
		if !t.resolved {
			allowed = append(allowed, tr.Code)
			continue
		}
		for _, tp := range tr.TargetProfiles {
			if typ := p.profileType(tp); typ != "" {
				allowed = append(allowed, typ)
			}
		}
	}
	for _, v := range vals {
		ok := false
		for _, a := range allowed {
			if v.Type == a || p.v.reg.IsSubtype(v.Type, a) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (p *pwalk) matchesProfile(t *discTarget, vals []*fhir.Node, res, root *fhir.Node) bool {
	var urls []string
	for _, tr := range t.el.Types {
		if t.resolved {
			urls = append(urls, tr.TargetProfiles...)
		} else {
			urls = append(urls, tr.Profiles...)
		}
	}
	switch {
	case len(urls) == 0:
		return true // the slice names no profile there, so any item fits
	case len(vals) == 0:
		return t.el.Min == 0
	}
	for _, v := range vals {
		ok := false
		for _, u := range urls {
			sd, err := p.pv.src.Get(u)
			if err != nil || sd == nil {
				continue
			}
			if sd.Type != v.Type && !p.v.reg.IsSubtype(v.Type, sd.Type) {
				continue
			}
			if p.conforms(sd, v, "", res, root) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// profileType returns the type a profile constrains, or "" when it is not known.
func (p *pwalk) profileType(url string) string {
	if name, ok := strings.CutPrefix(url, coreURL); ok && p.v.reg.Type(name) != nil {
		return name
	}
	sd, err := p.pv.src.Get(url)
	if err != nil || sd == nil {
		return ""
	}
	return sd.Type
}

// discValues evaluates a discriminator path on an item.
func discValues(path string, item, res, root *fhir.Node) []*fhir.Node {
	if path == "$this" || path == "" {
		return []*fhir.Node{item}
	}
	x, err := compileCached(path)
	if err != nil {
		return nil
	}
	out, err := x.EvaluateWith(item, &fhirpath.Env{Resource: res, RootResource: root})
	if err != nil {
		return nil
	}
	return out
}

// discTarget finds the element a discriminator path leads to within slice, following the
// slice's children and, where the slice lists none, the profile its type names (an
// extension slice's url is fixed by the extension's definition).
func (p *pwalk) discTarget(ps *prepared, slice *profiles.ElementDefinition, path string) *discTarget {
	key := discKey{slice, path}
	if v, ok := ps.disc.Load(key); ok {
		return v.(*discTarget)
	}
	t := &discTarget{el: slice}
	for _, seg := range splitPath(path) {
		if t.el == nil {
			break
		}
		switch {
		case seg == "$this" || strings.HasPrefix(seg, "ofType("):
		case seg == "resolve()":
			t.resolved = true
		case strings.HasPrefix(seg, "extension(") && strings.HasSuffix(seg, ")"):
			url := strings.Trim(seg[len("extension("):len(seg)-1], `'"`)
			t.el = p.extensionSlice(ps, t.el, url)
		default:
			if t.resolved {
				t.el = p.targetRoot(t.el)
				t.resolved = false
				if t.el == nil {
					break
				}
			}
			if c := p.childElement(ps, t.el, seg); c != nil {
				t.el = c
			} else {
				t.el = withinValue(t.el, seg)
			}
		}
	}
	v, _ := ps.disc.LoadOrStore(key, t)
	return v.(*discTarget)
}

// childElement returns the child of el named name, from el's own children or else from
// the profile el's type names. Where el lists the child without a value but the profile
// fixes one (a slice typed with a profile that says what it holds), the profile's is used.
func (p *pwalk) childElement(ps *prepared, el *profiles.ElementDefinition, name string) *profiles.ElementDefinition {
	kids := el.Children
	if len(kids) == 0 && el.ContentReference != "" {
		if target := ps.byElemPath[el.ContentReference]; target != nil {
			kids = target.Children
		}
	}
	own := findChild(kids, name)
	if own != nil && (own.Fixed != nil || own.Pattern != nil) {
		return own
	}
	for _, t := range el.Types {
		for _, u := range t.Profiles {
			sd, err := p.pv.src.Get(u)
			if err != nil || sd == nil || sd.Root() == nil {
				continue
			}
			if c := findChild(profileStart(el, sd, u).Children, name); c != nil && (own == nil || c.Fixed != nil || c.Pattern != nil) {
				return c
			}
		}
	}
	return own
}

// findChild finds the element named name among kids; a choice constrained to one type
// may be listed under its typed name ("valueCode").
func findChild(kids []*profiles.ElementDefinition, name string) *profiles.ElementDefinition {
	for _, c := range kids {
		if n := c.Name(); n == name || n == name+"[x]" {
			return c
		}
	}
	for _, c := range kids {
		if n := c.Name(); len(n) > len(name) && strings.HasPrefix(n, name) && n[len(name)] >= 'A' && n[len(name)] <= 'Z' {
			return c
		}
	}
	return nil
}

// withinValue returns, for a path that goes on into an element's fixed or pattern value
// rather than into a listed child, an element holding that part of the value.
func withinValue(el *profiles.ElementDefinition, name string) *profiles.ElementDefinition {
	v, fixed := el.Pattern, false
	if el.Fixed != nil {
		v, fixed = el.Fixed, true
	}
	if v == nil {
		return nil
	}
	c := v.First(name)
	if c == nil {
		return nil
	}
	out := &profiles.ElementDefinition{ID: el.ID + "." + name, Path: el.Path + "." + name, Min: 1, Max: -1}
	if fixed {
		out.Fixed = c
	} else {
		out.Pattern = c
	}
	return out
}

// extensionSlice returns the slice of el's extensions that holds the extension url.
func (p *pwalk) extensionSlice(ps *prepared, el *profiles.ElementDefinition, url string) *profiles.ElementDefinition {
	ext := p.childElement(ps, el, "extension")
	if ext == nil {
		return nil
	}
	for _, s := range ext.Slices {
		if p.holdsExtension(ps, s, url) {
			// A re-slice of it on this slice says more ("actionType/Single").
			for _, r := range s.Slices {
				if p.holdsExtension(ps, r, url) {
					return r
				}
			}
			return s
		}
	}
	return nil
}

// holdsExtension reports whether slice s is for the extension url.
func (p *pwalk) holdsExtension(ps *prepared, s *profiles.ElementDefinition, url string) bool {
	for _, t := range s.Types {
		for _, pr := range t.Profiles {
			if pr == url {
				return true
			}
		}
	}
	u := p.childElement(ps, s, "url")
	return u != nil && u.Fixed != nil && u.Fixed.String() == url
}

// targetRoot returns the root element of the profile a reference element targets.
func (p *pwalk) targetRoot(el *profiles.ElementDefinition) *profiles.ElementDefinition {
	for _, t := range el.Types {
		for _, u := range t.TargetProfiles {
			if sd, err := p.pv.src.Get(u); err == nil && sd != nil && sd.Root() != nil {
				return sd.Root()
			}
		}
	}
	return nil
}

// splitPath splits a discriminator path at the dots outside parentheses and quotes
// ("extension('http://x.org/a').value" has two segments).
func splitPath(path string) []string {
	var out []string
	depth, quote, start := 0, byte(0), 0
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == '.' && depth == 0:
			out = append(out, path[start:i])
			start = i + 1
		}
	}
	return append(out, path[start:])
}
