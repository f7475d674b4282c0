package validation

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/fhir/fhirpath"
	"github.com/concord-health/concord/fhir/profiles"
)

// profileValidator is the profile-driven part of a Validator: where definitions come from,
// the terminology that decides bindings, and what has been prepared per StructureDefinition.
type profileValidator struct {
	src   *profiles.Set
	terms CodeChecker
	// unknownExtWarn downgrades unknown (non-modifier) extensions to warnings.
	unknownExtWarn bool
	prepared       sync.Map // *profiles.StructureDefinition -> *prepared
	nPrepared      atomic.Int64
	// coreBindings caches the binding of each core element (*definitions.Element ->
	// *profiles.Binding, noBinding for none).
	coreBindings sync.Map
}

// prepared is what a walk needs of one StructureDefinition, computed once: the constraints
// it adds to the core ones, compiled, and its elements by path.
type prepared struct {
	sd          *profiles.StructureDefinition
	constraints map[*profiles.ElementDefinition][]*constraint
	byPath      map[string]*profiles.ElementDefinition // unsliced elements
	byElemPath  map[string]*profiles.ElementDefinition // first element per path, for contentReference
	// minLength and mustHaveValue are read from the elements' extensions.
	minLength     map[*profiles.ElementDefinition]int
	mustHaveValue map[*profiles.ElementDefinition]bool
	// valueAlternatives are the extensions that may stand in for a primitive's value.
	valueAlternatives map[*profiles.ElementDefinition][]string
	disc              sync.Map // discKey -> *discTarget
}

// maxDepth bounds nested profile walks (a profile whose elements name profiles that name
// it again).
const maxDepth = 24

var compiledExprs sync.Map // expression text -> compiledExpr

type compiledExpr struct {
	expr *fhirpath.Expr
	err  error
}

func compileCached(text string) (*fhirpath.Expr, error) {
	if v, ok := compiledExprs.Load(text); ok {
		c := v.(compiledExpr)
		return c.expr, c.err
	}
	x, err := fhirpath.Compile(text)
	compiledExprs.Store(text, compiledExpr{x, err})
	return x, err
}

func (pv *profileValidator) prepare(sd *profiles.StructureDefinition, cs *constraintSet) *prepared {
	if v, ok := pv.prepared.Load(sd); ok {
		return v.(*prepared)
	}
	p := &prepared{sd: sd, constraints: map[*profiles.ElementDefinition][]*constraint{},
		byPath: map[string]*profiles.ElementDefinition{}, byElemPath: map[string]*profiles.ElementDefinition{},
		minLength: map[*profiles.ElementDefinition]int{}, mustHaveValue: map[*profiles.ElementDefinition]bool{}}
	keys := coreKeys(cs)
	for _, e := range sd.Elements {
		if _, ok := p.byElemPath[e.Path]; !ok {
			p.byElemPath[e.Path] = e
		}
		if e.SliceName == "" && e.SliceOf == nil && !strings.Contains(e.ID, ":") {
			p.byPath[e.Path] = e
		}
		if e.Node != nil {
			for _, x := range e.Node.Child("extension") {
				switch x.Text("url") {
				case minLengthExtension:
					if n, err := strconv.Atoi(x.First("value").String()); err == nil && n > 0 {
						p.minLength[e] = n
					}
				case mustHaveValueExtension:
					if x.First("value").String() == "true" {
						p.mustHaveValue[e] = true
					}
				case valueAlternativesExtension:
					if p.valueAlternatives == nil {
						p.valueAlternatives = map[*profiles.ElementDefinition][]string{}
					}
					p.valueAlternatives[e] = append(p.valueAlternatives[e], x.First("value").String())
				}
			}
		}
		for _, rc := range e.Constraints {
			if rc.Expression == "" || keys[rc.Key] {
				continue
			}
			owner := rc.Source
			if owner == "" {
				owner = sd.URL
			}
			c := &constraint{Key: rc.Key, Severity: rc.Severity, Human: rc.Human, Expression: rc.Expression, Owner: owner}
			c.expr, c.err = compileCached(rc.Expression)
			p.constraints[e] = append(p.constraints[e], c)
		}
	}
	// A Set rebuilds its definitions when one is added, so definitions replaced there
	// would stay here; past a bound the cache starts afresh.
	if pv.nPrepared.Add(1) > maxPrepared {
		pv.prepared.Clear()
		pv.nPrepared.Store(0)
	}
	v, _ := pv.prepared.LoadOrStore(sd, p)
	return v.(*prepared)
}

const (
	minLengthExtension     = "http://hl7.org/fhir/StructureDefinition/minLength"
	mustHaveValueExtension = "http://hl7.org/fhir/5.0/StructureDefinition/extension-ElementDefinition.mustHaveValue"
	// valueAlternativesExtension names the extensions allowed in place of a primitive's
	// value; with it, a primitive without a value must carry one of them.
	valueAlternativesExtension = "http://hl7.org/fhir/5.0/StructureDefinition/extension-ElementDefinition.valueAlternatives"
)

// maxPrepared bounds the prepared definitions a validator keeps.
const maxPrepared = 20000

// coreKeys returns every constraint key of the core definitions: a profile's constraint
// with one of these keys is a core rule the core walker already checks.
func coreKeys(cs *constraintSet) map[string]bool {
	keysOnce.Do(func() {
		allKeys = map[string]bool{}
		for _, list := range cs.byPath {
			for _, c := range list {
				allKeys[c.Key] = true
			}
		}
		for _, list := range cs.byProfile {
			for _, c := range list {
				allKeys[c.Key] = true
			}
		}
	})
	return allKeys
}

// The core constraints are shared by every Validator, and so are their keys.
var (
	keysOnce sync.Once
	allKeys  map[string]bool
)

// pwalk is the state of the profile-driven part of one validation.
type pwalk struct {
	*walker
	pv    *profileValidator
	depth int
	// claimed records, per resource node, the profiles already checked, so that a profile
	// both claimed in meta.profile and requested is checked once.
	claimed map[*fhir.Node][]string
	// bundle is the innermost Bundle being walked, where urn: references resolve.
	bundle *fhir.Node
	// ancestors are the nodes above the one the core walk is at, innermost last.
	ancestors []*fhir.Node
	// vouched are the Codings whose display a profile's value set gives (vouchDisplays).
	vouched map[*fhir.Node]bool
	// unknown records the unknown type profiles reported, as "path|url".
	unknown map[string]bool
	// top is the resource being validated; anchors are the targets its narratives offer to
	// "#" links, gathered on first use.
	top     *fhir.Node
	anchors map[string]bool
}

// checkProfiles runs the profile-driven checks of res after the core walk: the core
// definitions' rules the core walker leaves out, every meta.profile claim, and requested.
func (v *Validator) checkProfiles(w *walker, root *fhir.Node, requested []string) {
	if v.pv == nil {
		return
	}
	p := &pwalk{walker: w, pv: v.pv, top: root}
	if root.Type == "Bundle" {
		p.bundle = root
	}
	for _, u := range requested {
		p.claim(root, root.Type, u, true, root, root)
	}
	p.core(root, root.Type, nil, root, root)
}

func sortIssues(issues []fhir.Issue) {
	sort.SliceStable(issues, func(i, j int) bool { return rank(issues[i].Severity) < rank(issues[j].Severity) })
}

// core applies the core definitions' rules that the core walker does not check to n and
// its subtree: extensions, reference targets, bindings and the profiles resources claim.
func (p *pwalk) core(n *fhir.Node, path string, parent, res, root *fhir.Node) {
	if n != res && p.v.reg.IsResource(n.Type) {
		if n.Name != "contained" {
			root = n
		}
		res = n
	}
	if n == res && n.Type == "Bundle" {
		outer := p.bundle
		p.bundle = n
		defer func() { p.bundle = outer }()
	}
	if n == res {
		switch n.Type {
		case "CapabilityStatement":
			p.capabilities(n, path)
		case "SearchParameter":
			p.searchParameter(n, path)
		}
		if meta := n.First("meta"); meta != nil {
			for _, c := range meta.Children {
				if c.Name == "profile" {
					p.claim(n, path, c.String(), false, res, root)
				}
			}
		}
	}
	switch {
	case n.Name == "extension" || n.Name == "modifierExtension":
		p.extension(n, path, parent, res, root)
	case n.Type == "xhtml":
		p.narrative(n, path)
	case n.Type == "Reference" && n.Def != nil:
		for _, t := range n.Def.Types {
			if t.Code == "Reference" {
				p.reference(n, path, t.TargetProfiles, res, root)
			}
		}
	}
	if p.pv.terms != nil && n.Def != nil {
		p.coreBinding(n, path)
		if n.Type == "Coding" {
			p.display(n, path, res)
		}
	}
	p.ancestors = append(p.ancestors, n)
	defer func() { p.ancestors = p.ancestors[:len(p.ancestors)-1] }()
	var prev *definitions.Element
	idx := 0
	for _, c := range n.Children {
		if c.Def == nil {
			p.core(c, path+"."+c.Name, n, res, root)
			continue
		}
		if c.Def == prev {
			idx++
		} else {
			prev, idx = c.Def, 0
		}
		cp := path + "." + c.Name
		if c.Def.IsArray() {
			cp += "[" + strconv.Itoa(idx) + "]"
		}
		p.core(c, cp, n, res, root)
	}
}

// claim checks resource n against the profile at url: one it claims in meta.profile, or
// one that was asked for (then an unknown profile is an error).
func (p *pwalk) claim(n *fhir.Node, path, url string, requested bool, res, root *fhir.Node) {
	for _, done := range p.claimed[n] {
		if done == url {
			return
		}
	}
	if p.claimed == nil {
		p.claimed = map[*fhir.Node][]string{}
	}
	p.claimed[n] = append(p.claimed[n], url)
	sd, err := p.pv.src.Get(url)
	switch {
	case err != nil:
		p.add(fhir.SeverityError, fhir.IssueProcessing, path, "Profile %s could not be read: %v", url, err)
		return
	case sd == nil && requested:
		p.add(fhir.SeverityError, fhir.IssueNotFound, path, "Profile %s is not known, so the resource could not be checked against it", url)
		return
	case sd == nil:
		p.add(fhir.SeverityWarning, fhir.IssueNotFound, path, "Profile %s is not known, so the resource was not checked against it", url)
		return
	}
	if sd.Type != n.Type && !p.v.reg.IsSubtype(n.Type, sd.Type) {
		p.add(fhir.SeverityError, fhir.IssueInvalid, path, "Profile %s is for %s resources, not %s", url, sd.Type, n.Type)
		return
	}
	if sd.URL == coreURL+n.Type {
		return // the core definition, which Validate always applies
	}
	if len(sd.Problems) > 0 {
		p.add(fhir.SeverityInformation, fhir.IssueInformation, path, "Profile %s is checked without the constraints its snapshot could not take: %s",
			url, strings.Join(sd.Problems, "; "))
	}
	p.conform(sd, n, path, res, root)
}

// conform walks n, found at path, against the StructureDefinition sd.
func (p *pwalk) conform(sd *profiles.StructureDefinition, n *fhir.Node, path string, res, root *fhir.Node) {
	p.conformAt(sd, sd.Root(), n, path, res, root)
}

// conformAt walks n against the element start of sd (its root, or the element an
// elementdefinition-profile-element extension names).
func (p *pwalk) conformAt(sd *profiles.StructureDefinition, start *profiles.ElementDefinition, n *fhir.Node, path string, res, root *fhir.Node) {
	if start == nil || p.depth >= maxDepth {
		return
	}
	p.depth++
	defer func() { p.depth-- }()
	p.element(p.pv.prepare(sd, p.v.cs), start, n, path, res, root)
}

const profileElementExtension = "http://hl7.org/fhir/StructureDefinition/elementdefinition-profile-element"

// profileStart returns the element of sd that the type profile u of ed applies from: the
// one its elementdefinition-profile-element extension names, or the root.
func profileStart(ed *profiles.ElementDefinition, sd *profiles.StructureDefinition, u string) *profiles.ElementDefinition {
	if ed.Node != nil {
		for _, t := range ed.Node.Child("type") {
			for _, pr := range t.Child("profile") {
				if pr.String() != u {
					continue
				}
				for _, x := range pr.Child("extension") {
					if x.Text("url") == profileElementExtension {
						if e := sd.ElementByID(x.First("value").String()); e != nil {
							return e
						}
					}
				}
			}
		}
	}
	return sd.Root()
}

// conforms reports whether n conforms to sd, without reporting anything.
func (p *pwalk) conforms(sd *profiles.StructureDefinition, n *fhir.Node, path string, res, root *fhir.Node) bool {
	sub := &pwalk{walker: &walker{v: p.v}, pv: p.pv, depth: p.depth, bundle: p.bundle}
	sub.conform(sd, n, path, res, root)
	return !HasErrors(sub.issues)
}

// element checks n against the profile element ed and descends into the element's
// children as the profile lists them.
func (p *pwalk) element(ps *prepared, ed *profiles.ElementDefinition, n *fhir.Node, path string, res, root *fhir.Node) {
	// A constraint on an element that holds a resource (Bundle.entry.resource,
	// Patient.contained) sees the holder as %resource, as the element's own rules do.
	envRes, envRoot := res, root
	if n != res && p.v.reg.IsResource(n.Type) {
		if n.Name != "contained" {
			root = n
		}
		res = n
	}
	if !p.types(ps, ed, n, path, res, root) {
		return // a value of another type: what the profile says of this element is not about it
	}
	p.values(ps, ed, n, path)
	if ed.Binding != nil && p.pv.terms != nil && !p.sameCoreBinding(ed, n) {
		p.binding(ed.Binding, n, path)
		p.vouchDisplays(ps.sd, ed.Binding, n)
	}
	if n.Type == "Reference" {
		p.profileReference(ed, n, path, res, root)
	}
	if n.Type == "Narrative" && ed.Node != nil {
		p.narrativeControl(ps, ed, n, path, res)
	}
	if list := ps.constraints[ed]; len(list) > 0 {
		env := p.v.env(envRes, envRoot)
		for _, c := range list {
			p.evaluate(c, n, path, env)
		}
	}
	p.children(ps, ed, n, path, res, root)
}

// children matches n's children to the child elements of ed and checks each. Where the
// profile lists no children the core walker has checked the subtree already.
func (p *pwalk) children(ps *prepared, ed *profiles.ElementDefinition, n *fhir.Node, path string, res, root *fhir.Node) {
	// An element defined by contentReference is checked against its own children only:
	// what the profile says of the element referred to is about that element.
	kids := ed.Children
	if len(kids) == 0 || n.IsPrimitive() && len(n.Children) == 0 {
		return
	}
	coreKids := p.v.reg.Children(n.DefPath())
	for _, cd := range kids {
		name := strings.TrimSuffix(cd.Name(), "[x]")
		var items []*fhir.Node
		for _, c := range n.Children {
			if c.Name == name {
				items = append(items, c)
			}
		}
		base := path + "." + name
		array := cd.Max != 1 && cd.Max != 0
		coreMin, coreMax := 0, -1
		for _, ce := range coreKids {
			if ce.Name == name {
				array = ce.IsArray()
				coreMin, coreMax = ce.Min, ce.Max
				break
			}
		}
		// Below the core bounds the core walker has reported already.
		if len(items) < cd.Min && len(items) >= coreMin {
			p.add(fhir.SeverityError, fhir.IssueRequired, base, "%s: minimum required = %d, but only found %d (from %s)",
				base, cd.Min, len(items), ps.sd.URL)
		}
		if cd.Max >= 0 && len(items) > cd.Max && (coreMax < 0 || len(items) <= coreMax) {
			p.add(fhir.SeverityError, fhir.IssueStructure, base, "%s: maximum allowed = %d, but found %d (from %s)",
				base, cd.Max, len(items), ps.sd.URL)
		}
		if len(items) == 0 {
			if cd.Slicing != nil {
				p.slices(ps, cd, nil, nil, base, res, root)
			}
			continue
		}
		paths := make([]string, len(items))
		for i := range items {
			paths[i] = base
			if array {
				paths[i] += "[" + strconv.Itoa(i) + "]"
			}
		}
		if cd.Slicing != nil || len(cd.Slices) > 0 {
			p.slices(ps, cd, items, paths, base, res, root)
			continue
		}
		for i, it := range items {
			p.element(ps, cd, it, paths[i], res, root)
		}
	}
}

// types checks that n's type is one ed allows, and checks n against the profiles ed
// names for that type. It reports false when n is of a type ed does not allow.
func (p *pwalk) types(ps *prepared, ed *profiles.ElementDefinition, n *fhir.Node, path string, res, root *fhir.Node) bool {
	if len(ed.Types) == 0 || ed.Parent == nil && ed.SliceOf == nil {
		return true // the root of a profile; claim checked its type
	}
	var match *profiles.TypeRef
	for i := range ed.Types {
		t := &ed.Types[i]
		if t.Code == n.Type || strings.HasPrefix(t.Code, "http://hl7.org/fhirpath/") ||
			p.v.reg.IsSubtype(n.Type, t.Code) || systemTyped(n, t.Code) {
			match = t
			break
		}
	}
	if match == nil {
		codes := make([]string, len(ed.Types))
		for i, t := range ed.Types {
			codes[i] = t.Code
		}
		p.add(fhir.SeverityError, fhir.IssueStructure, path, "%s: type %s is not allowed here; %s allows %s",
			path, n.Type, ps.sd.URL, strings.Join(codes, ", "))
		return false
	}
	p.typeProfiles(ed, match, n, path, res, root)
	return true
}

// systemTyped reports whether the element n, whose R4 definition types it with a FHIRPath
// system type (the ids of resources and elements, Extension.url), may be named code by a
// profile, which names it by the FHIR type it holds.
func systemTyped(n *fhir.Node, code string) bool {
	switch n.Name {
	case "id":
		return n.Type == "string" && code == "id"
	case "url":
		return n.Type == "uri" && code == "string" && n.Def != nil && n.Def.Path == "Extension.url"
	}
	return false
}

// typeProfiles checks n against the profiles that ed names for its type match.
func (p *pwalk) typeProfiles(ed *profiles.ElementDefinition, match *profiles.TypeRef, n *fhir.Node, path string, res, root *fhir.Node) {
	if len(match.Profiles) == 0 {
		return
	}
	var sds []*profiles.StructureDefinition
	var wrongType []string // resource types of profiles n cannot conform to
	for _, u := range match.Profiles {
		if n.Type == "Extension" && u == n.Text("url") {
			return // the extension walk checks an extension against its own definition
		}
		sd, err := p.pv.src.Get(u)
		if err != nil {
			p.add(fhir.SeverityError, fhir.IssueProcessing, path, "Profile %s could not be read: %v", u, err)
			return
		}
		if sd == nil {
			// The profile being applied requires this one, so not knowing it leaves the
			// instance unchecked against what the profile demands.
			// Reported once per element: a profile and the base it derives from, or a slice
			// and the element sliced, may both name it.
			if k := path + "|" + u; !p.unknown[k] {
				if p.unknown == nil {
					p.unknown = map[string]bool{}
				}
				p.unknown[k] = true
				p.add(fhir.SeverityError, fhir.IssueStructure, path, "Unknown profile %s", u)
			}
			return
		}
		// A profile on a resource type ("Resource" narrowed to a DocumentManifest profile)
		// says which resource may stand here.
		if sd.Kind == "resource" && sd.Type != n.Type && !p.v.reg.IsSubtype(n.Type, sd.Type) {
			wrongType = append(wrongType, sd.Type)
			continue
		}
		if isCoreDataTypeProfile(sd) || sd.URL == coreURL+sd.Type {
			return // core profiles of data types are checked by the core walker
		}
		sds = append(sds, sd)
	}
	if len(sds) == 0 && len(wrongType) > 0 {
		p.add(fhir.SeverityError, fhir.IssueStructure, path, "The type '%s' is not valid - must be %s",
			n.Type, strings.Join(wrongType, " or "))
		return
	}
	if len(sds) == 1 {
		p.conformAt(sds[0], profileStart(ed, sds[0], sds[0].URL), n, path, res, root)
		return
	}
	for _, sd := range sds {
		sub := &pwalk{walker: &walker{v: p.v}, pv: p.pv, depth: p.depth, bundle: p.bundle}
		sub.conformAt(sd, profileStart(ed, sd, sd.URL), n, path, res, root)
		if !HasErrors(sub.issues) {
			return
		}
	}
	p.add(fhir.SeverityError, fhir.IssueStructure, path, "%s does not conform to any of the profiles %s",
		path, strings.Join(match.Profiles, ", "))
}

// isCoreDataTypeProfile reports a core profile of a data type (SimpleQuantity,
// MoneyQuantity), whose rules are among the core constraints.
func isCoreDataTypeProfile(sd *profiles.StructureDefinition) bool {
	return strings.HasPrefix(sd.URL, coreURL) && sd.Type != "Extension" && sd.Kind != "resource"
}

// values checks fixed[x], pattern[x], maxLength, minValue[x] and maxValue[x].
func (p *pwalk) values(ps *prepared, ed *profiles.ElementDefinition, n *fhir.Node, path string) {
	if ed.Fixed != nil && !equalNode(n, ed.Fixed) {
		p.add(fhir.SeverityError, fhir.IssueValue, path, "%s: value is %s but must be exactly %s (fixed by %s)",
			path, describe(n), describe(ed.Fixed), ps.sd.URL)
	}
	if ed.Pattern != nil && !matchesPattern(n, ed.Pattern) {
		p.add(fhir.SeverityError, fhir.IssueValue, path, "%s: value is %s but must contain %s (pattern of %s)",
			path, describe(n), describe(ed.Pattern), ps.sd.URL)
	}
	if ed.MaxLength > 0 && n.Value != nil {
		if l := len([]rune(n.String())); l > ed.MaxLength {
			p.add(fhir.SeverityError, fhir.IssueTooLong, path, "%s: value is %d characters long, more than the maximum %d (from %s)",
				path, l, ed.MaxLength, ps.sd.URL)
		}
	}
	if ml := ps.minLength[ed]; ml > 0 && n.Value != nil {
		if l := len([]rune(n.String())); l < ml {
			p.add(fhir.SeverityError, fhir.IssueValue, path, "%s: value is %d characters long, shorter than the minimum %d (from %s)",
				path, l, ml, ps.sd.URL)
		}
	}
	if ps.mustHaveValue[ed] && n.IsPrimitive() && n.Value == nil {
		p.add(fhir.SeverityError, fhir.IssueRequired, path, "%s: %s requires a value here, not only extensions",
			path, ps.sd.URL)
	}
	if alts := ps.valueAlternatives[ed]; len(alts) > 0 && n.IsPrimitive() && n.Value == nil && !hasExtension(n, alts) {
		p.add(fhir.SeverityError, fhir.IssueInvalid, path, "%s: %s requires that if a value is not present, the extension %s must be present",
			path, ps.sd.URL, strings.Join(alts, " or "))
	}
	if ed.MinValue != nil {
		if c, ok := compareValue(n, ed.MinValue); ok && c < 0 {
			p.add(fhir.SeverityError, fhir.IssueValue, path, "%s: value %s is less than the minimum %s (from %s)",
				path, describe(n), describe(ed.MinValue), ps.sd.URL)
		}
	}
	if ed.MaxValue != nil {
		if c, ok := compareValue(n, ed.MaxValue); ok && c > 0 {
			p.add(fhir.SeverityError, fhir.IssueValue, path, "%s: value %s is greater than the maximum %s (from %s)",
				path, describe(n), describe(ed.MaxValue), ps.sd.URL)
		}
	}
}

// describe renders a value for a message: a primitive's text, a complex value as JSON.
func describe(n *fhir.Node) string {
	if n.IsPrimitive() {
		return fmt.Sprintf("'%s'", n.String())
	}
	var b strings.Builder
	writeJSON(&b, n)
	return b.String()
}

func writeJSON(b *strings.Builder, n *fhir.Node) {
	if n.IsPrimitive() && len(n.Children) == 0 {
		b.WriteString(strconv.Quote(n.String()))
		return
	}
	b.WriteByte('{')
	if n.Value != nil {
		b.WriteString(`"value":`)
		b.WriteString(strconv.Quote(n.String()))
		if len(n.Children) > 0 {
			b.WriteByte(',')
		}
	}
	for i, c := range n.Children {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(c.Name))
		b.WriteByte(':')
		writeJSON(b, c)
	}
	b.WriteByte('}')
}

// hasExtension reports whether n carries an extension with one of the urls.
func hasExtension(n *fhir.Node, urls []string) bool {
	for _, x := range n.Child("extension") {
		if slices.Contains(urls, x.Text("url")) {
			return true
		}
	}
	return false
}
