// Package profiles holds StructureDefinitions ready for validation: the FHIR R4 core
// definitions and any implementation guide loaded on top (UK Core, a package, a folder, or
// definitions uploaded through the API). Each definition carries its snapshot as a linked
// tree of ElementDefinitions; snapshots are generated from differentials where a profile
// ships without one.
package profiles

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/concord-health/concord/fhir"
)

// StructureDefinition is one profile, extension definition or type definition with its
// snapshot. It is immutable once built and shared by every validation.
type StructureDefinition struct {
	URL            string
	Version        string
	Name           string
	Type           string // the type constrained or defined: "Patient", "Extension", "Quantity"
	Kind           string // "resource", "complex-type", "primitive-type", "logical"
	Derivation     string // "specialization" or "constraint"
	BaseDefinition string
	Abstract       bool
	// Contexts say where an extension may be used (StructureDefinition.context).
	Contexts          []Context
	ContextInvariants []string
	// Elements is the snapshot in order; Elements[0] is the root element (path == Type).
	Elements []*ElementDefinition
	// Source is the StructureDefinition as loaded.
	Source *fhir.Resource
	// Generated reports that the snapshot was generated here from the differential.
	Generated bool
	// Problems lists what generating the snapshot could not apply (a differential element
	// that matches nothing, a cardinality or type the base does not allow), each naming the
	// differential element's id. The snapshot is usable without those constraints.
	Problems []string
}

// Root returns the root element of the snapshot.
func (sd *StructureDefinition) Root() *ElementDefinition {
	if len(sd.Elements) == 0 {
		return nil
	}
	return sd.Elements[0]
}

// ElementByID returns the snapshot element with the given id, or nil.
func (sd *StructureDefinition) ElementByID(id string) *ElementDefinition {
	for _, e := range sd.Elements {
		if e.ID == id {
			return e
		}
	}
	return nil
}

// Context is one StructureDefinition.context entry.
type Context struct {
	Type       string // "element", "fhirpath", "extension"
	Expression string
}

// ElementDefinition is one snapshot element, with the parts validation uses read out and
// linked into a tree.
type ElementDefinition struct {
	ID        string // "Patient.identifier:nhsNumber.system"
	Path      string // "Patient.identifier.system"
	SliceName string
	Min       int
	Max       int // -1 for "*"
	Types     []TypeRef
	// ContentReference names the element whose definition this one reuses ("#Questionnaire.item"
	// without '#').
	ContentReference string
	// Fixed and Pattern are the fixed[x] / pattern[x] values; their Type says which type.
	Fixed, Pattern *fhir.Node
	Binding        *Binding
	Constraints    []Constraint
	Slicing        *Slicing
	MaxLength      int // 0: no limit
	MustSupport    bool
	IsModifier     bool
	// MinValue and MaxValue are minValue[x] / maxValue[x].
	MinValue, MaxValue *fhir.Node

	// Node is the ElementDefinition as loaded, for anything not read out above.
	Node *fhir.Node

	// Parent is the element this one is a child of (nil for the root). A slice's Parent is
	// the parent of the element it slices.
	Parent *ElementDefinition
	// Children are the direct child elements, in snapshot order, without slices.
	Children []*ElementDefinition
	// SliceOf is, for a slice, the element it slices (the entry with the Slicing).
	SliceOf *ElementDefinition
	// Slices are, for a sliced element, its slices in snapshot order.
	Slices []*ElementDefinition
}

// Name returns the last segment of the path, "value[x]" for a choice.
func (e *ElementDefinition) Name() string { return e.Path[strings.LastIndexByte(e.Path, '.')+1:] }

// IsChoice reports whether the element is a choice ("value[x]").
func (e *ElementDefinition) IsChoice() bool { return strings.HasSuffix(e.Path, "[x]") }

// TypeRef is one ElementDefinition.type.
type TypeRef struct {
	// Code is the FHIR type; for the FHIRPath system types of ids and Extension.url it is
	// the FHIR type named by the structuredefinition-fhir-type extension.
	Code           string
	Profiles       []string
	TargetProfiles []string
	Aggregation    []string
}

// Binding is ElementDefinition.binding.
type Binding struct {
	Strength string // "required", "extensible", "preferred", "example"
	ValueSet string // canonical, possibly "url|version"
	// MaxValueSet is the elementdefinition-maxValueSet extension, if any.
	MaxValueSet string
}

// Constraint is one ElementDefinition.constraint.
type Constraint struct {
	Key        string
	Severity   string // "error" or "warning"
	Human      string
	Expression string
	Source     string // the StructureDefinition that defined it
}

// Slicing is ElementDefinition.slicing.
type Slicing struct {
	Discriminators []Discriminator
	Ordered        bool
	Rules          string // "closed", "open", "openAtEnd"
}

// Discriminator is one slicing discriminator.
type Discriminator struct {
	Type string // "value", "exists", "pattern", "type", "profile"
	Path string
}

// ErrNoSnapshot is returned by FromResource for a StructureDefinition without a snapshot.
var ErrNoSnapshot = errors.New("profiles: StructureDefinition has no snapshot")

const fhirTypeExtension = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"

// FromResource reads a StructureDefinition with a snapshot into the validation model.
func FromResource(res *fhir.Resource) (*StructureDefinition, error) {
	if res == nil || res.Root == nil || res.Type != "StructureDefinition" {
		return nil, fmt.Errorf("profiles: not a StructureDefinition")
	}
	sd := header(res)
	snap := res.Root.First("snapshot")
	if snap == nil {
		return nil, ErrNoSnapshot
	}
	for _, n := range snap.Child("element") {
		sd.Elements = append(sd.Elements, ReadElement(n))
	}
	if err := Link(sd.Elements); err != nil {
		return nil, fmt.Errorf("profiles: %s: %w", sd.URL, err)
	}
	return sd, nil
}

// header reads everything of a StructureDefinition but its elements.
func header(res *fhir.Resource) *StructureDefinition {
	r := res.Root
	sd := &StructureDefinition{
		URL: r.Text("url"), Version: r.Text("version"), Name: r.Text("name"), Type: r.Text("type"),
		Kind: r.Text("kind"), Derivation: r.Text("derivation"), BaseDefinition: r.Text("baseDefinition"),
		Abstract: r.Text("abstract") == "true", Source: res,
	}
	for _, c := range r.Child("context") {
		sd.Contexts = append(sd.Contexts, Context{Type: c.Text("type"), Expression: c.Text("expression")})
	}
	for _, c := range r.Child("contextInvariant") {
		sd.ContextInvariants = append(sd.ContextInvariants, c.String())
	}
	return sd
}

// ReadElement reads one ElementDefinition node. The result is not linked into a tree.
func ReadElement(n *fhir.Node) *ElementDefinition {
	e := &ElementDefinition{
		ID: n.Text("id"), Path: n.Text("path"), SliceName: n.Text("sliceName"),
		ContentReference: strings.TrimPrefix(n.Text("contentReference"), "#"),
		MustSupport:      n.Text("mustSupport") == "true", IsModifier: n.Text("isModifier") == "true",
		Fixed: n.First("fixed"), Pattern: n.First("pattern"),
		MinValue: n.First("minValue"), MaxValue: n.First("maxValue"), Node: n,
	}
	if i := strings.IndexByte(e.ContentReference, '#'); i >= 0 {
		e.ContentReference = e.ContentReference[i+1:] // "http://…/Questionnaire#Questionnaire.item"
	}
	e.Min, _ = strconv.Atoi(n.Text("min"))
	e.Max = parseMax(n.Text("max"))
	e.MaxLength, _ = strconv.Atoi(n.Text("maxLength"))
	for _, t := range n.Child("type") {
		tr := TypeRef{Code: t.Text("code")}
		for _, x := range t.Child("extension") {
			if x.Text("url") == fhirTypeExtension {
				if v := x.First("value"); v != nil && v.String() != "" {
					tr.Code = v.String()
				}
			}
		}
		for _, p := range t.Child("profile") {
			tr.Profiles = append(tr.Profiles, p.String())
		}
		for _, p := range t.Child("targetProfile") {
			tr.TargetProfiles = append(tr.TargetProfiles, p.String())
		}
		for _, a := range t.Child("aggregation") {
			tr.Aggregation = append(tr.Aggregation, a.String())
		}
		e.Types = append(e.Types, tr)
	}
	if b := n.First("binding"); b != nil {
		e.Binding = &Binding{Strength: b.Text("strength"), ValueSet: b.Text("valueSet")}
		for _, x := range b.Child("extension") {
			if x.Text("url") == "http://hl7.org/fhir/StructureDefinition/elementdefinition-maxValueSet" {
				e.Binding.MaxValueSet = x.First("value").String()
			}
		}
	}
	for _, c := range n.Child("constraint") {
		e.Constraints = append(e.Constraints, Constraint{Key: c.Text("key"), Severity: c.Text("severity"),
			Human: c.Text("human"), Expression: c.Text("expression"), Source: c.Text("source")})
	}
	if s := n.First("slicing"); s != nil {
		sl := &Slicing{Ordered: s.Text("ordered") == "true", Rules: s.Text("rules")}
		for _, d := range s.Child("discriminator") {
			sl.Discriminators = append(sl.Discriminators, Discriminator{Type: d.Text("type"), Path: d.Text("path")})
		}
		e.Slicing = sl
	}
	return e
}

func parseMax(s string) int {
	if s == "*" {
		return -1
	}
	if s == "" {
		return -1 // absent: as the base allows; snapshots always state it
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

// Link builds the tree of a snapshot in order: Parent, Children, SliceOf and Slices. Ids
// are derived from paths and slice names where a snapshot lacks them.
func Link(elements []*ElementDefinition) error {
	if len(elements) == 0 {
		return errors.New("empty snapshot")
	}
	byID := make(map[string]*ElementDefinition, len(elements))
	for i, e := range elements {
		if e.ID == "" {
			e.ID = deriveID(elements[:i], e)
		}
		if _, dup := byID[e.ID]; dup {
			return fmt.Errorf("element id %q appears twice", e.ID)
		}
		byID[e.ID] = e
		if i == 0 {
			if strings.Contains(e.Path, ".") {
				return fmt.Errorf("first element %q is not the root", e.Path)
			}
			continue
		}
		last := lastSegment(e.ID)
		if e.SliceName != "" && strings.HasSuffix(last, ":"+e.SliceName) {
			// The entry of slice "x:a" is "x"; of re-slice "x:a/b", "x:a".
			entryID := e.ID[:len(e.ID)-len(e.SliceName)-1]
			if i := strings.LastIndexByte(e.SliceName, '/'); i >= 0 {
				entryID += ":" + e.SliceName[:i]
			}
			entry := byID[entryID]
			if entry == nil {
				return fmt.Errorf("slice %q comes before the element it slices", e.ID)
			}
			e.SliceOf = entry
			e.Parent = entry.Parent
			entry.Slices = append(entry.Slices, e)
			continue
		}
		parentID := parentOf(e.ID)
		p := byID[parentID]
		if p == nil {
			return fmt.Errorf("element %q comes before its parent %q", e.ID, parentID)
		}
		e.Parent = p
		p.Children = append(p.Children, e)
	}
	return nil
}

// lastSegment returns the last dot-separated segment of an element id. Slice names
// containing '.' are not supported: ids do not escape them.
func lastSegment(id string) string { return id[splitPoint(id)+1:] }

func parentOf(id string) string { return id[:max(splitPoint(id), 0)] }

// splitPoint returns the index of the dot before an id's last segment (-1 if none).
func splitPoint(id string) int { return strings.LastIndexByte(id, '.') }

// deriveID makes an element id from its path and slice name, following the slice names of
// the elements before it (the nearest preceding element with each ancestor path).
func deriveID(before []*ElementDefinition, e *ElementDefinition) string {
	segs := strings.Split(e.Path, ".")
	id := segs[0]
	for i := 1; i < len(segs); i++ {
		prefix := strings.Join(segs[:i+1], ".")
		seg := segs[i]
		if i == len(segs)-1 {
			if e.SliceName != "" {
				seg += ":" + e.SliceName
			}
		} else {
			// Take the slice name of the nearest preceding element with this path.
			for j := len(before) - 1; j >= 0; j-- {
				if before[j].Path == prefix {
					if before[j].SliceName != "" {
						seg += ":" + before[j].SliceName
					}
					break
				}
			}
		}
		id += "." + seg
	}
	return id
}
