package terminology

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/concord-health/concord/fhir"
)

// codeSystem is a FHIR CodeSystem resource held as a provider. It is immutable once built.
type codeSystem struct {
	url, version, name, title, status string
	content                           string // complete, fragment, example, not-present, supplement
	supplements                       string
	caseSensitive                     bool
	propTypes                         map[string]string // declared property code -> type
	concepts                          []*conceptNode    // definition order, depth first
	byCode                            map[string]*conceptNode
}

// conceptNode is a concept with its place in the code system's hierarchy, which may be a
// polyhierarchy (v3 code systems add parents through the "child" property).
type conceptNode struct {
	Concept
	parents, children []*conceptNode
}

func (cs *codeSystem) URL() string         { return cs.url }
func (cs *codeSystem) Version() string     { return cs.version }
func (cs *codeSystem) CaseSensitive() bool { return cs.caseSensitive }

// Complete reports whether the resource lists every code: fragment and example code systems
// list some, not-present ones none.
func (cs *codeSystem) Complete() bool { return cs.content == "complete" || cs.content == "" }

func (cs *codeSystem) key(code string) string {
	if cs.caseSensitive {
		return code
	}
	return strings.ToLower(code)
}

func (cs *codeSystem) node(code string) *conceptNode { return cs.byCode[cs.key(code)] }

func (cs *codeSystem) Lookup(_ context.Context, code string) (Concept, bool, error) {
	if n := cs.node(code); n != nil {
		return n.Concept, true, nil
	}
	return Concept{}, false, nil
}

func (cs *codeSystem) Concepts(_ context.Context, yield func(Concept) bool) error {
	for _, n := range cs.concepts {
		if !yield(n.Concept) {
			break
		}
	}
	return nil
}

// newCodeSystem reads a CodeSystem resource. Strings are copied out of the parsed tree so
// that the tree (and the document it was parsed from) can be released.
func newCodeSystem(root *fhir.Node) (*codeSystem, error) {
	cs := &codeSystem{
		url:           text(root, "url"),
		version:       text(root, "version"),
		name:          text(root, "name"),
		title:         text(root, "title"),
		status:        text(root, "status"),
		content:       text(root, "content"),
		supplements:   text(root, "supplements"),
		caseSensitive: true,
		propTypes:     map[string]string{},
		byCode:        map[string]*conceptNode{},
	}
	if cs.url == "" {
		return nil, fmt.Errorf("terminology: CodeSystem %q has no url", root.Text("id"))
	}
	if v, ok := boolean(root, "caseSensitive"); ok {
		cs.caseSensitive = v
	}
	for _, p := range root.Child("property") {
		cs.propTypes[text(p, "code")] = text(p, "type")
	}
	var links []propertyLink
	var walk func(parent *conceptNode, list []*fhir.Node)
	walk = func(parent *conceptNode, list []*fhir.Node) {
		for _, c := range list {
			n := cs.addConcept(c, &links)
			if n == nil {
				continue
			}
			if parent != nil {
				link(parent, n)
			}
			walk(n, c.Child("concept"))
		}
	}
	walk(nil, root.Child("concept"))
	for _, l := range links {
		other := cs.node(l.code)
		if other == nil || other == l.from {
			continue
		}
		if l.childOf {
			link(other, l.from)
		} else {
			link(l.from, other)
		}
	}
	return cs, nil
}

// propertyLink is a hierarchy edge given by a property (parent, subsumedBy, child), resolved
// once every concept is known.
type propertyLink struct {
	from    *conceptNode
	code    string
	childOf bool // from is a child of code (parent, subsumedBy); else code is its child
}

func (cs *codeSystem) addConcept(c *fhir.Node, links *[]propertyLink) *conceptNode {
	code := text(c, "code")
	if code == "" || cs.node(code) != nil {
		return nil // codes are unique within a code system; keep the first
	}
	n := &conceptNode{Concept: Concept{Code: code, Display: text(c, "display"), Definition: text(c, "definition")}}
	for _, d := range c.Child("designation") {
		n.Designations = append(n.Designations, Designation{
			Language: text(d, "language"), Use: coding(d.First("use")), Value: text(d, "value"),
		})
	}
	for _, p := range c.Child("property") {
		v := p.First("value")
		if v == nil {
			continue
		}
		prop := Property{Code: text(p, "code"), Type: v.Type}
		if v.Type == "Coding" {
			prop.Value = strings.Clone(v.Text("system") + "|" + v.Text("code"))
		} else {
			prop.Value = strings.Clone(v.String())
		}
		n.Properties = append(n.Properties, prop)
		switch prop.Code {
		case "status":
			switch prop.Value {
			case "retired", "inactive":
				n.Inactive = true
			case "deprecated":
				n.Deprecated = true
			}
		case "inactive":
			n.Inactive = n.Inactive || prop.Value == "true"
		case "notSelectable", "abstract":
			n.Abstract = n.Abstract || prop.Value == "true"
		case "deprecated", "deprecationDate":
			n.Deprecated = true
		case "parent", "subsumedBy":
			*links = append(*links, propertyLink{from: n, code: prop.Value, childOf: true})
		case "child":
			*links = append(*links, propertyLink{from: n, code: prop.Value})
		}
	}
	cs.concepts = append(cs.concepts, n)
	cs.byCode[cs.key(code)] = n
	return n
}

func link(parent, child *conceptNode) {
	for _, c := range parent.children {
		if c == child {
			return
		}
	}
	parent.children = append(parent.children, child)
	child.parents = append(child.parents, parent)
}

// text returns a primitive child's value copied out of the parsed document.
func text(n *fhir.Node, name string) string { return strings.Clone(n.Text(name)) }

// boolean returns a boolean child's value, and whether it is present.
func boolean(n *fhir.Node, name string) (value, ok bool) {
	if c := n.First(name); c != nil {
		value, ok = c.Value.(bool)
	}
	return value, ok
}

func coding(n *fhir.Node) Coding {
	if n == nil {
		return Coding{}
	}
	return Coding{System: text(n, "system"), Version: text(n, "version"), Code: text(n, "code"), Display: text(n, "display")}
}

// Filter evaluates a compose filter over the code system: the matching concepts are worked
// out once, which suits code systems of the size FHIR resources carry.
func (cs *codeSystem) Filter(_ context.Context, property, op, value string) (ConceptFilter, error) {
	var keep func(*conceptNode) bool
	switch op {
	case "is-a", "descendent-of", "generalizes", "is-not-a":
		if property != "concept" && property != "code" {
			return nil, fmt.Errorf("%w: %s %s on %s (only concept)", ErrUnsupportedFilter, property, op, cs.url)
		}
		var set map[*conceptNode]bool
		if root := cs.node(value); root != nil {
			if op == "generalizes" {
				set = closure(root, func(n *conceptNode) []*conceptNode { return n.parents })
			} else {
				set = closure(root, func(n *conceptNode) []*conceptNode { return n.children })
			}
			if op == "descendent-of" {
				delete(set, root)
			}
		}
		if op == "is-not-a" {
			keep = func(n *conceptNode) bool { return !set[n] }
		} else {
			keep = func(n *conceptNode) bool { return set[n] }
		}
	case "=", "in", "not-in", "regex", "exists":
		values, err := cs.propertyValues(property)
		if err != nil {
			return nil, err
		}
		eq := func(a, b string) bool { return a == b }
		if (property == "concept" || property == "code") && !cs.caseSensitive {
			eq = strings.EqualFold
		}
		switch op {
		case "=":
			keep = func(n *conceptNode) bool { return anyValue(values(n), func(v string) bool { return eq(v, value) }) }
		case "in", "not-in":
			list := splitList(value)
			in := func(n *conceptNode) bool {
				return anyValue(values(n), func(v string) bool {
					return anyValue(list, func(w string) bool { return eq(v, w) })
				})
			}
			keep = in
			if op == "not-in" {
				keep = func(n *conceptNode) bool { return !in(n) }
			}
		case "regex":
			re, err := regexp.Compile("^(?:" + value + ")$")
			if err != nil {
				return nil, fmt.Errorf("terminology: filter regex %q on %s: %v", value, cs.url, err)
			}
			keep = func(n *conceptNode) bool { return anyValue(values(n), re.MatchString) }
		case "exists":
			want := value == "true"
			keep = func(n *conceptNode) bool { return (len(values(n)) > 0) == want }
		}
	default:
		return nil, fmt.Errorf("%w: operator %q", ErrUnsupportedFilter, op)
	}
	f := &nodeFilter{cs: cs, set: map[*conceptNode]bool{}}
	for _, n := range cs.concepts {
		if keep(n) {
			f.matched = append(f.matched, n)
			f.set[n] = true
		}
	}
	return f, nil
}

// closure returns root and every concept reachable from it through next.
func closure(root *conceptNode, next func(*conceptNode) []*conceptNode) map[*conceptNode]bool {
	set := map[*conceptNode]bool{root: true}
	stack := []*conceptNode{root}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, m := range next(n) {
			if !set[m] {
				set[m] = true
				stack = append(stack, m)
			}
		}
	}
	return set
}

// propertyValues returns how to read a filter property off a concept: the code itself,
// its display, its direct parents or children, or the values of a concept property
// (inactive and notSelectable also from the flags the status implies).
func (cs *codeSystem) propertyValues(property string) (func(*conceptNode) []string, error) {
	switch property {
	case "concept", "code":
		return func(n *conceptNode) []string { return []string{n.Code} }, nil
	case "display":
		return func(n *conceptNode) []string { return []string{n.Display} }, nil
	case "parent":
		return func(n *conceptNode) []string { return codes(n.parents) }, nil
	case "child":
		return func(n *conceptNode) []string { return codes(n.children) }, nil
	}
	if _, declared := cs.propTypes[property]; !declared && !cs.usesProperty(property) {
		if property != "inactive" && property != "notSelectable" {
			return nil, fmt.Errorf("%w: %s defines no property %q", ErrUnsupportedFilter, cs.url, property)
		}
	}
	return func(n *conceptNode) []string {
		var out []string
		for _, p := range n.Properties {
			if p.Code == property {
				out = append(out, p.Value)
			}
		}
		if out == nil {
			switch {
			case property == "inactive":
				out = []string{boolText(n.Inactive)}
			case property == "notSelectable" || property == "abstract":
				out = []string{boolText(n.Abstract)}
			}
		}
		return out
	}, nil
}

func (cs *codeSystem) usesProperty(property string) bool {
	for _, n := range cs.concepts {
		for _, p := range n.Properties {
			if p.Code == property {
				return true
			}
		}
	}
	return false
}

func codes(list []*conceptNode) []string {
	out := make([]string, len(list))
	for i, n := range list {
		out[i] = n.Code
	}
	return out
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func anyValue(list []string, f func(string) bool) bool {
	for _, v := range list {
		if f(v) {
			return true
		}
	}
	return false
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// nodeFilter is a filter already evaluated over a code system.
type nodeFilter struct {
	cs      *codeSystem
	matched []*conceptNode
	set     map[*conceptNode]bool
}

func (f *nodeFilter) Match(_ context.Context, code string) (bool, error) {
	n := f.cs.node(code)
	return n != nil && f.set[n], nil
}

func (f *nodeFilter) Concepts(_ context.Context, yield func(Concept) bool) error {
	for _, n := range f.matched {
		if !yield(n.Concept) {
			break
		}
	}
	return nil
}
