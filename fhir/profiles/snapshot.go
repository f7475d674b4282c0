package profiles

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
)

// generator builds one snapshot from a base snapshot and a differential, following the
// rules of https://hl7.org/fhir/R4/profiling.html#snapshot. Elements of the base are
// shared with other definitions, so every change is made on a copy.
type generator struct {
	set   *Set
	stack []string // canonicals being generated, for cycle detection
	url   string
	els   []*ElementDefinition
	// base is the snapshot as inherited, before the differential: a contentReference
	// reuses the definition of the element it names, not what this profile makes of it.
	base     []*ElementDefinition
	fresh    map[string]bool // ids of slices this differential introduced
	problems []string
	cur      string // id of the differential element being applied
}

// generate builds the snapshot of a StructureDefinition that has only a differential.
func (s *Set) generate(res *fhir.Resource, stack []string) (*StructureDefinition, error) {
	sd := header(res)
	if sd.BaseDefinition == "" {
		return nil, fmt.Errorf("profiles: %s: no snapshot and no baseDefinition", sd.URL)
	}
	base, err := s.get(sd.BaseDefinition, stack)
	if err != nil {
		return nil, fmt.Errorf("profiles: %s: base: %w", sd.URL, err)
	}
	if base == nil {
		return nil, fmt.Errorf("profiles: %s: unknown base %s", sd.URL, sd.BaseDefinition)
	}
	g := &generator{set: s, stack: stack, url: sd.URL, fresh: map[string]bool{}}
	special := sd.Derivation == "specialization"
	g.els = make([]*ElementDefinition, len(base.Elements))
	if special {
		// A new type starts from its base's elements moved under its own name
		// (Element.id becomes Identifier.id); the differential adds the rest.
		root := base.Root()
		for i, e := range base.Elements {
			g.els[i] = g.rerooted(e, root.ID, root.Path, sd.Type, sd.Type)
		}
	} else {
		if base.Type != sd.Type {
			g.problem("type %s differs from the type %s of the base", sd.Type, base.Type)
		}
		for i, e := range base.Elements {
			g.els[i] = clone(e)
		}
	}
	g.base = append([]*ElementDefinition(nil), g.els...)
	var diff []*ElementDefinition
	if d := res.Root.First("differential"); d != nil {
		for _, n := range d.Child("element") {
			e := ReadElement(n)
			if e.ID == "" {
				e.ID = deriveID(diff, e)
			}
			diff = append(diff, e)
		}
	}
	for _, d := range diff {
		g.cur = d.ID
		if special && g.define(d) {
			continue
		}
		if i, id := g.ensure(d.ID); i >= 0 {
			g.els[i] = g.merge(g.els[i], d, id)
		}
	}
	if err := Link(g.els); err != nil {
		return nil, fmt.Errorf("profiles: %s: generated snapshot: %w", sd.URL, err)
	}
	sd.Elements, sd.Generated, sd.Problems = g.els, true, g.problems
	return sd, nil
}

// define adds an element a specialization introduces: one its base does not have, whose
// parent is already in the snapshot. The differential element is its whole definition.
// It reports whether d was such an element.
func (g *generator) define(d *ElementDefinition) bool {
	if g.index(d.ID) >= 0 || strings.ContainsRune(lastSegment(d.ID), ':') {
		return false
	}
	pi := g.index(parentOf(d.ID))
	if pi < 0 {
		return false
	}
	e := clone(d)
	// Every element holds the invariants of Element (ele-1); those of its type are checked
	// on the type's own definition.
	if len(e.Types) > 0 {
		if t, err := g.set.get(coreBase+"Element", g.stack); err == nil && t != nil && t.Root() != nil {
			var cs []Constraint
			for _, c := range t.Root().Constraints {
				if !hasKey(e.Constraints, c.Key) {
					cs = append(cs, c)
				}
			}
			e.Constraints = append(cs, e.Constraints...)
			if e.Node != nil {
				n := *e.Node
				n.Children = nil
				for _, c := range t.Root().Node.Child("constraint") {
					if !hasKey(d.Constraints, c.Text("key")) {
						n.Children = append(n.Children, c)
					}
				}
				n.Children = append(n.Children, e.Node.Children...)
				sortChildren(&n)
				e.Node = &n
			}
		}
	}
	g.insert(g.subtreeEnd(pi, true), []*ElementDefinition{e})
	return true
}

func (g *generator) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if g.cur != "" {
		msg = g.cur + ": " + msg
	}
	g.problems = append(g.problems, msg)
}

// clone copies an element without its links into the tree, which Link rebuilds.
func clone(e *ElementDefinition) *ElementDefinition {
	c := *e
	c.Parent, c.Children, c.SliceOf, c.Slices = nil, nil, nil, nil
	return &c
}

func (g *generator) index(id string) int {
	return elementIndex(g.els, id)
}

func elementIndex(els []*ElementDefinition, id string) int {
	for i, e := range els {
		if e.ID == id {
			return i
		}
	}
	return -1
}

// subtreeEnd returns the index after the element at i and everything below it: its
// children and, with slices, its slices and theirs.
func (g *generator) subtreeEnd(i int, slices bool) int {
	return subtreeEnd(g.els, i, slices)
}

func subtreeEnd(els []*ElementDefinition, i int, slices bool) int {
	id := els[i].ID
	j := i + 1
	for j < len(els) {
		x := els[j].ID
		if !strings.HasPrefix(x, id) || len(x) == len(id) {
			break
		}
		switch x[len(id)] {
		case '.':
		case ':', '/':
			if !slices {
				return j
			}
		default:
			return j
		}
		j++
	}
	return j
}

func (g *generator) insert(at int, els []*ElementDefinition) {
	g.els = append(g.els[:at], append(els, g.els[at:]...)...)
}

// ensure returns the index of the snapshot element a differential id denotes, creating it
// when it is a new slice or lies inside a type the snapshot has not expanded yet, together
// with its id in the snapshot (a renamed choice "valueQuantity" becomes "value[x]"). It
// returns -1 after recording a problem when there is no such element.
func (g *generator) ensure(id string) (int, string) {
	if i := g.index(id); i >= 0 {
		return i, id
	}
	sp := splitPoint(id)
	if sp < 0 {
		g.problem("the root %s does not match the base root %s", id, g.els[0].ID)
		return -1, ""
	}
	parentID, seg := id[:sp], id[sp+1:]
	name, slice, sliced := strings.Cut(seg, ":")
	if sliced {
		entryID := parentID + "." + name
		if k := strings.LastIndexByte(slice, '/'); k >= 0 {
			entryID += ":" + slice[:k] // re-slice "a/b" of slice "a"
		}
		ei, entryID := g.ensure(entryID)
		if ei < 0 {
			return -1, ""
		}
		// The entry may have been renamed; a slice keeps its own name.
		prefix := entryID
		if strings.ContainsRune(slice, '/') {
			prefix = entryID[:strings.LastIndexByte(entryID, ':')]
		}
		id = prefix + ":" + slice
		if i := g.index(id); i >= 0 {
			return i, id
		}
		return g.newSlice(ei, id, slice), id
	}
	pi, parentID := g.ensure(parentID)
	if pi < 0 {
		return -1, ""
	}
	id = parentID + "." + name
	if i := g.index(id); i >= 0 {
		return i, id
	}
	if g.subtreeEnd(pi, false) == pi+1 {
		if !g.expand(pi) {
			return -1, ""
		}
		if i := g.index(id); i >= 0 {
			return i, id
		}
	}
	if i := g.choice(pi, name); i >= 0 {
		return i, g.els[i].ID
	}
	g.problem("no element %s in the base", id)
	return -1, ""
}

// choice finds the choice child of the element at pi that a type-specific name denotes
// ("valueQuantity" for "value[x]") and narrows it to that type.
func (g *generator) choice(pi int, name string) int {
	parentID := g.els[pi].ID
	for j, end := pi+1, g.subtreeEnd(pi, false); j < end; j++ {
		e := g.els[j]
		rest := e.ID[len(parentID)+1:]
		if strings.ContainsAny(rest, ".:") || !e.IsChoice() {
			continue
		}
		stem := strings.TrimSuffix(e.Name(), "[x]")
		if !strings.HasPrefix(name, stem) {
			continue
		}
		for k, t := range e.Types {
			if stem+upperFirst(t.Code) == name {
				if len(e.Types) > 1 {
					c := clone(e)
					c.Types = []TypeRef{t}
					c.Node = keepNth(e.Node, "type", k)
					g.els[j] = c
				}
				return j
			}
		}
	}
	return -1
}

// newSlice inserts a slice of the element at ei: a copy of it and its children, placed
// after its existing slices.
func (g *generator) newSlice(ei int, id, sliceName string) int {
	entry := g.els[ei]
	s := clone(entry)
	// A slice's cardinality counts within the sliced element's: a slice is optional
	// unless the differential says otherwise.
	s.ID, s.SliceName, s.Slicing, s.Min = id, sliceName, nil, 0
	s.Node = withChild(withoutChild(entry.Node, "slicing"), "sliceName", sliceName)
	s.Node = withChild(withChild(s.Node, "id", id), "min", json.Number("0"))
	if entry.IsChoice() {
		// A type slice "value[x]:valueQuantity" takes that one type; the choice is sliced
		// by type if the base did not say how.
		stem := strings.TrimSuffix(entry.Name(), "[x]")
		for k, t := range entry.Types {
			if stem+upperFirst(t.Code) == sliceName {
				s.Types = []TypeRef{t}
				s.Node = keepNth(s.Node, "type", k)
			}
		}
		if entry.Slicing == nil {
			e := clone(entry)
			e.Slicing = &Slicing{Discriminators: []Discriminator{{Type: "type", Path: "$this"}}, Rules: "open"}
			g.els[ei], entry = e, e
		}
	} else if entry.Slicing == nil && isExtension(entry) {
		// Extensions are always sliced by url, whether or not the base says so.
		e := clone(entry)
		e.Slicing = &Slicing{Discriminators: []Discriminator{{Type: "value", Path: "url"}}, Rules: "open"}
		g.els[ei], entry = e, e
	} else if entry.Slicing == nil && !strings.ContainsRune(sliceName, '/') {
		g.problem("slice %s of %s, which is not sliced", sliceName, entry.ID)
	}
	out := []*ElementDefinition{s}
	for j, end := ei+1, g.subtreeEnd(ei, false); j < end; j++ {
		out = append(out, g.rerooted(g.els[j], entry.ID, entry.Path, id, entry.Path))
	}
	at := g.subtreeEnd(ei, true)
	g.insert(at, out)
	g.fresh[id] = true
	return at
}

func isExtension(e *ElementDefinition) bool {
	n := e.Name()
	return n == "extension" || n == "modifierExtension"
}

// rerooted copies an element from under one root (id and path) to another.
func (g *generator) rerooted(e *ElementDefinition, fromID, fromPath, toID, toPath string) *ElementDefinition {
	c := clone(e)
	c.ID = toID + strings.TrimPrefix(e.ID, fromID)
	c.Path = toPath + strings.TrimPrefix(e.Path, fromPath)
	c.Node = withChild(withChild(e.Node, "id", c.ID), "path", c.Path)
	return c
}

// expand inserts the children of the element at i, which the snapshot does not list:
// those of the element a contentReference names, or those of its type, taken from the
// type's profile when it has one.
func (g *generator) expand(i int) bool {
	el := g.els[i]
	var src []*ElementDefinition
	var rootID, rootPath string
	if el.ContentReference != "" {
		els := g.base
		ri := elementIndex(els, el.ContentReference)
		if ri < 0 {
			els, ri = g.els, g.index(el.ContentReference)
		}
		if ri < 0 {
			g.problem("%s: no element %s for its contentReference", el.ID, el.ContentReference)
			return false
		}
		src, rootID, rootPath = els[ri+1:subtreeEnd(els, ri, false)], els[ri].ID, els[ri].Path
	} else {
		if len(el.Types) != 1 {
			g.problem("cannot look inside %s: it has %d types", el.ID, len(el.Types))
			return false
		}
		t := el.Types[0]
		canonical := coreBase + t.Code
		if len(t.Profiles) > 1 {
			g.problem("cannot look inside %s: its type has %d profiles", el.ID, len(t.Profiles))
			return false
		}
		if len(t.Profiles) == 1 {
			canonical = t.Profiles[0]
		}
		sd, err := g.set.get(canonical, g.stack)
		if err != nil {
			g.problem("%s: %v", el.ID, err)
			return false
		}
		if sd == nil {
			g.problem("%s: unknown type definition %s", el.ID, canonical)
			return false
		}
		src, rootID, rootPath = sd.Elements[1:], sd.Elements[0].ID, sd.Elements[0].Path
	}
	out := make([]*ElementDefinition, 0, len(src))
	for _, e := range src {
		out = append(out, g.rerooted(e, rootID, rootPath, el.ID, el.Path))
	}
	g.insert(i+1, out)
	return true
}

// merge applies a differential element to a copy of the snapshot element it matches.
func (g *generator) merge(base, d *ElementDefinition, id string) *ElementDefinition {
	n := d.Node
	c := clone(base)
	// skip lists the differential's parts that must not reach the merged Node.
	skip := map[string]bool{"id": true, "path": true, "sliceName": true, "contentReference": true}
	if n.First("min") != nil {
		if d.Min < base.Min && !g.fresh[id] {
			g.problem("min %d is below the base's min %d", d.Min, base.Min)
			skip["min"] = true
		} else {
			c.Min = d.Min
		}
	}
	if n.First("max") != nil {
		switch {
		case base.Max < 0 || d.Max >= 0 && d.Max <= base.Max:
			c.Max = d.Max
		case g.fresh[id]:
			// A new slice copies the sliced element's max; a differential that sets it
			// higher contradicts itself, and its own statement about the slice wins, as in
			// the published core snapshots.
			g.problem("max %s is above the max %d of the sliced element", n.Text("max"), base.Max)
			c.Max = d.Max
		default:
			g.problem("max %s is above the base's max %d", n.Text("max"), base.Max)
			skip["max"] = true
		}
	}
	if c.Max >= 0 && c.Min > c.Max {
		g.problem("min %d is above max %d", c.Min, c.Max)
	}
	if len(d.Types) > 0 {
		if types, node := g.narrow(base, d); types != nil {
			c.Types = types
			n = node
		} else {
			skip["type"] = true
		}
	}
	if d.Fixed != nil {
		c.Fixed = d.Fixed
	}
	if d.Pattern != nil {
		c.Pattern = d.Pattern
	}
	if d.MinValue != nil {
		c.MinValue = d.MinValue
	}
	if d.MaxValue != nil {
		c.MaxValue = d.MaxValue
	}
	if n.First("maxLength") != nil {
		c.MaxLength = d.MaxLength
	}
	if n.First("mustSupport") != nil {
		c.MustSupport = d.MustSupport
	}
	if n.First("isModifier") != nil {
		c.IsModifier = d.IsModifier
	}
	if d.Binding != nil {
		b := Binding{}
		if base.Binding != nil {
			b = *base.Binding
		}
		if d.Binding.Strength != "" {
			if base.Binding != nil && base.Binding.Strength == "required" && d.Binding.Strength != "required" {
				g.problem("binding strength %s weakens the base's required binding", d.Binding.Strength)
				skip["binding"] = true
			} else {
				b.Strength = d.Binding.Strength
			}
		}
		if d.Binding.ValueSet != "" {
			b.ValueSet = d.Binding.ValueSet
		}
		if d.Binding.MaxValueSet != "" {
			b.MaxValueSet = d.Binding.MaxValueSet
		}
		c.Binding = &b
	}
	if len(d.Constraints) > 0 {
		cs := make([]Constraint, 0, len(base.Constraints)+len(d.Constraints))
		for _, bc := range base.Constraints {
			if !hasKey(d.Constraints, bc.Key) {
				cs = append(cs, bc)
			}
		}
		for _, dc := range d.Constraints {
			if dc.Source == "" {
				dc.Source = g.url
			}
			cs = append(cs, dc)
		}
		c.Constraints = cs
	}
	if d.Slicing != nil {
		s := Slicing{}
		if base.Slicing != nil {
			s = *base.Slicing
		}
		ns := n.First("slicing")
		if len(d.Slicing.Discriminators) > 0 {
			s.Discriminators = d.Slicing.Discriminators
		}
		if ns.First("ordered") != nil {
			s.Ordered = d.Slicing.Ordered
		}
		if d.Slicing.Rules != "" {
			s.Rules = d.Slicing.Rules
		}
		c.Slicing = &s
	}
	c.Node = withChild(withChild(mergeNode(base.Node, n, skip), "id", id), "path", base.Path)
	if len(d.Types) == 1 && d.Types[0].Code == "Extension" && len(d.Types[0].Profiles) == 1 &&
		(n.First("min") == nil || n.First("max") == nil) {
		g.extensionCardinality(c, d.Types[0].Profiles[0], n.First("min") == nil, n.First("max") == nil)
	}
	return c
}

// extensionCardinality applies the cardinality an extension definition gives its root to
// an element that uses it and does not state its own. An extension definition that cannot
// be read is the validator's concern, not the snapshot's.
func (g *generator) extensionCardinality(c *ElementDefinition, profile string, setMin, setMax bool) {
	sd, err := g.set.get(profile, g.stack)
	if err != nil || sd == nil || sd.Root() == nil {
		return
	}
	root := sd.Root()
	if setMin && root.Min > c.Min {
		c.Min = root.Min
		c.Node = withChild(c.Node, "min", json.Number(fmt.Sprint(root.Min)))
	}
	if setMax && root.Max >= 0 && (c.Max < 0 || root.Max < c.Max) {
		c.Max = root.Max
		c.Node = withChild(c.Node, "max", fmt.Sprint(root.Max))
	}
}

func hasKey(cs []Constraint, key string) bool {
	for _, c := range cs {
		if c.Key == key {
			return true
		}
	}
	return false
}

// narrow checks a differential's type list against the base's: each type must be one of
// the base's or a specialisation of one. Profiles and target profiles the differential
// leaves out are kept from the base. It returns the types (nil when none is allowed) and
// the differential node with its type entries completed the same way.
func (g *generator) narrow(base, d *ElementDefinition) ([]TypeRef, *fhir.Node) {
	dn := d.Node
	typeNodes := dn.Child("type")
	var out []TypeRef
	var nodes []*fhir.Node
	for i, t := range d.Types {
		k := allowedBy(base.Types, t.Code)
		if k < 0 {
			g.problem("type %s is not among the base's types %s", t.Code, typeCodes(base.Types))
			continue
		}
		bt := base.Types[k]
		var btNode *fhir.Node
		if base.Node != nil {
			if bn := base.Node.Child("type"); k < len(bn) {
				btNode = bn[k]
			}
		}
		if len(t.Profiles) == 0 {
			t.Profiles = bt.Profiles
		}
		if len(t.TargetProfiles) == 0 {
			t.TargetProfiles = bt.TargetProfiles
		}
		if len(t.Aggregation) == 0 {
			t.Aggregation = bt.Aggregation
		}
		out = append(out, t)
		tn := typeNodes[i]
		if btNode != nil && btNode.Text("code") == tn.Text("code") {
			tn = mergeNode(btNode, tn, nil)
		}
		nodes = append(nodes, tn)
	}
	if out == nil {
		return nil, dn
	}
	m := *dn
	m.Children = nil
	for _, c := range dn.Children {
		if c.Name != "type" {
			m.Children = append(m.Children, c)
		}
	}
	m.Children = append(m.Children, nodes...)
	sortChildren(&m)
	return out, &m
}

// allowedBy returns the index of the base type a type code narrows, or -1.
func allowedBy(base []TypeRef, code string) int {
	reg := definitions.R4()
	for i, b := range base {
		if b.Code == code || b.Code == "*" {
			return i
		}
	}
	for i, b := range base {
		if reg.IsSubtype(code, b.Code) {
			return i
		}
	}
	return -1
}

func typeCodes(ts []TypeRef) string {
	var s []string
	for _, t := range ts {
		s = append(s, t.Code)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// The ElementDefinition parts a differential adds to the base's instead of replacing them.
var additive = map[string]bool{"constraint": true, "mapping": true, "condition": true}

// mergeNode returns a copy of base in which the children the differential node has
// replace those of the same name (or are added to them, for additive parts), except the
// names in skip.
func mergeNode(base, diff *fhir.Node, skip map[string]bool) *fhir.Node {
	if base == nil {
		base = &fhir.Node{Name: diff.Name, Type: diff.Type, Def: diff.Def}
	}
	inDiff := map[string]bool{}
	keys := map[string]bool{} // constraint keys the differential redefines
	for _, c := range diff.Children {
		if !skip[c.Name] {
			inDiff[c.Name] = true
		}
		if c.Name == "constraint" {
			keys[c.Text("key")] = true
		}
	}
	m := *base
	m.Children = make([]*fhir.Node, 0, len(base.Children)+len(diff.Children))
	for _, c := range base.Children {
		if c.Name == "constraint" && keys[c.Text("key")] {
			continue
		}
		if !inDiff[c.Name] || additive[c.Name] {
			m.Children = append(m.Children, c)
		}
	}
	for _, c := range diff.Children {
		if inDiff[c.Name] {
			m.Children = append(m.Children, c)
		}
	}
	sortChildren(&m)
	return &m
}

// sortChildren puts children back in definition order, which serialization relies on.
func sortChildren(n *fhir.Node) {
	sort.SliceStable(n.Children, func(i, j int) bool {
		return defIndex(n.Children[i]) < defIndex(n.Children[j])
	})
}

func defIndex(n *fhir.Node) int {
	if n.Def == nil {
		return -1
	}
	return n.Def.Index
}

// withChild returns a copy of n whose single-valued primitive child name holds value.
func withChild(n *fhir.Node, name string, value any) *fhir.Node {
	if n == nil {
		return nil
	}
	m := *n
	m.Children = make([]*fhir.Node, 0, len(n.Children)+1)
	found := false
	for _, c := range n.Children {
		if c.Name == name {
			if found {
				continue
			}
			cc := *c
			cc.Value = value
			c, found = &cc, true
		}
		m.Children = append(m.Children, c)
	}
	if !found {
		el, typ, ok := definitions.R4().Child("ElementDefinition", name)
		if !ok {
			return &m
		}
		m.Children = append(m.Children, &fhir.Node{Name: el.Name, Type: typ, Def: el, Value: value})
		sortChildren(&m)
	}
	return &m
}

// withoutChild returns a copy of n without the children called name.
func withoutChild(n *fhir.Node, name string) *fhir.Node {
	if n == nil || n.First(name) == nil {
		return n
	}
	m := *n
	m.Children = nil
	for _, c := range n.Children {
		if c.Name != name {
			m.Children = append(m.Children, c)
		}
	}
	return &m
}

// keepNth returns a copy of n keeping only the k-th child called name.
func keepNth(n *fhir.Node, name string, k int) *fhir.Node {
	if n == nil {
		return nil
	}
	m := *n
	m.Children = nil
	seen := 0
	for _, c := range n.Children {
		if c.Name == name {
			seen++
			if seen-1 != k {
				continue
			}
		}
		m.Children = append(m.Children, c)
	}
	return &m
}
