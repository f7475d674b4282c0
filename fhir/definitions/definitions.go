// Package definitions holds the official FHIR R4 (4.0.1) definitions that drive the rest of
// Concord: the StructureDefinitions of every resource and data type, the SearchParameters and
// the Patient CompartmentDefinition. They are embedded gzipped, parsed once on first use and
// then only read, so a *Registry can be shared by every goroutine.
package definitions

import (
	"bytes"
	"compress/gzip"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
)

//go:embed r4/*.json.gz
var r4Files embed.FS

// FHIRVersion is the version of the embedded definitions.
const FHIRVersion = "4.0.1"

// Registry indexes the definitions. It is immutable after Load.
type Registry struct {
	types         map[string]*Type
	resourceTypes []string
	elements      map[string]*Element   // by full path, e.g. "Observation.value[x]"
	children      map[string][]*Element // parent path -> direct children in definition order
	searchParams  map[string]map[string]*SearchParam
	compartments  map[string]map[string][]string // compartment -> resource type -> param codes
}

// Type is one StructureDefinition (a resource, a complex type or a primitive type).
type Type struct {
	Name     string
	Kind     string // "primitive-type", "complex-type", "resource"
	Base     string // the type it specialises ("" for Element/Resource)
	Abstract bool
	URL      string
	// Raw is the StructureDefinition as published, for validation and for serving.
	Raw json.RawMessage
}

// Element is one ElementDefinition of a type's snapshot.
type Element struct {
	Path       string // full path, e.g. "Observation.value[x]"
	Name       string // last path segment without "[x]"
	Choice     bool   // the element is a choice ("value[x]")
	Types      []TypeRef
	Min        int
	Max        int    // -1 for "*"
	ContentRef string // for elements defined by reference ("Questionnaire.item"), without '#'
	Index      int    // position in the snapshot; children are serialized in this order
	IsModifier bool
	IsSummary  bool
}

// IsArray reports whether the element may repeat (JSON array).
func (e *Element) IsArray() bool { return e.Max != 1 && e.Max != 0 }

// TypeRef is one allowed type of an element.
type TypeRef struct {
	Code           string
	Profiles       []string
	TargetProfiles []string
}

// SearchParam is one SearchParameter applicable to a resource type.
type SearchParam struct {
	URL        string
	Code       string
	Type       string // number, date, string, token, reference, composite, quantity, uri, special
	Expression string // FHIRPath, already narrowed to the resource type it applies to
	Base       []string
	Targets    []string
	Modifiers  []string
	Components []SearchComponent
	MultipleOr bool
	// Comparators lists allowed prefixes; empty means all.
	Comparators []string
}

// SearchComponent is one part of a composite search parameter.
type SearchComponent struct {
	Definition string // canonical URL of the component's SearchParameter
	Expression string // FHIRPath relative to the composite's element
}

var loadR4 = sync.OnceValues(func() (*Registry, error) { return load() })

// R4 returns the registry of the embedded FHIR R4 definitions, loading it on first use.
// It panics if the embedded files are corrupt, which is a build defect, not a runtime one.
func R4() *Registry {
	r, err := loadR4()
	if err != nil {
		panic(err)
	}
	return r
}

// Type returns the definition of a type or resource, or nil.
func (r *Registry) Type(name string) *Type { return r.types[name] }

// IsResource reports whether name is a concrete (non-abstract) resource type.
func (r *Registry) IsResource(name string) bool {
	t := r.types[name]
	return t != nil && t.Kind == "resource" && !t.Abstract
}

// IsPrimitive reports whether name is a FHIR primitive type.
func (r *Registry) IsPrimitive(name string) bool {
	t := r.types[name]
	return t != nil && t.Kind == "primitive-type"
}

// ResourceTypes lists the concrete resource types, sorted.
func (r *Registry) ResourceTypes() []string { return r.resourceTypes }

// Element returns the element definition at a full path, or nil.
func (r *Registry) Element(path string) *Element { return r.elements[path] }

// Children lists the direct child elements of a definition path (a type name or an element
// path such as "Observation.component"), in definition order.
func (r *Registry) Children(path string) []*Element { return r.children[path] }

// Child finds the element that a JSON property name denotes under parentPath. For a choice
// element the property name carries the type ("valueQuantity"), which is returned as typeCode;
// otherwise typeCode is the element's only type (or "" when it has several, which FHIR does not
// allow outside choices).
func (r *Registry) Child(parentPath, jsonName string) (el *Element, typeCode string, ok bool) {
	if e := r.elements[parentPath+"."+jsonName]; e != nil {
		if len(e.Types) == 1 {
			return e, e.Types[0].Code, true
		}
		return e, "", true // contentReference elements take their type from the referenced one
	}
	for _, e := range r.children[parentPath] {
		if !e.Choice || !strings.HasPrefix(jsonName, e.Name) {
			continue
		}
		suffix := jsonName[len(e.Name):]
		for _, t := range e.Types {
			if suffix == upperFirst(t.Code) {
				return e, t.Code, true
			}
		}
	}
	return nil, "", false
}

// ChildPath returns the definition path under which the children of an element of the given
// type are defined: the element's own path for inline backbone elements, the referenced path
// for contentReference elements, otherwise the type name.
func (r *Registry) ChildPath(el *Element, typeCode string) string {
	if el == nil {
		return typeCode
	}
	if el.ContentRef != "" {
		return el.ContentRef
	}
	if typeCode == "BackboneElement" || typeCode == "Element" {
		if len(r.children[el.Path]) > 0 {
			return el.Path
		}
	}
	return typeCode
}

// IsSubtype reports whether typ is base or specialises it (Age is a Quantity; every resource
// is a Resource).
func (r *Registry) IsSubtype(typ, base string) bool {
	for t := typ; t != ""; {
		if t == base {
			return true
		}
		d := r.types[t]
		if d == nil {
			return false
		}
		t = d.Base
	}
	return false
}

// SearchParams returns the search parameters that apply to a resource type, keyed by code,
// including those defined on Resource and DomainResource.
func (r *Registry) SearchParams(resourceType string) map[string]*SearchParam {
	return r.searchParams[resourceType]
}

// SearchParam returns one search parameter of a resource type, or nil.
func (r *Registry) SearchParam(resourceType, code string) *SearchParam {
	return r.searchParams[resourceType][code]
}

// SearchParamByURL finds a search parameter by its canonical URL (used for composite
// components), narrowed to resourceType.
func (r *Registry) SearchParamByURL(resourceType, url string) *SearchParam {
	for _, p := range r.searchParams[resourceType] {
		if p.URL == url {
			return p
		}
	}
	return nil
}

// CompartmentParams returns the search parameters that place a resource of resourceType in the
// named compartment (e.g. "Patient"), or nil when the type is not in it.
func (r *Registry) CompartmentParams(compartment, resourceType string) []string {
	return r.compartments[compartment][resourceType]
}

// CompartmentTypes lists the resource types that can be in a compartment, sorted.
func (r *Registry) CompartmentTypes(compartment string) []string {
	var out []string
	for t := range r.compartments[compartment] {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func readGz(name string) ([]byte, error) {
	f, err := r4Files.Open("r4/" + name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("definitions: %s: %w", name, err)
	}
	return io.ReadAll(zr)
}

// ReadFile returns an embedded definitions file (decompressed), e.g. "valuesets.json.gz".
func ReadFile(name string) ([]byte, error) { return readGz(name) }

type rawBundle struct {
	Entry []struct {
		Resource json.RawMessage `json:"resource"`
	} `json:"entry"`
}

type rawStructureDefinition struct {
	ResourceType   string `json:"resourceType"`
	URL            string `json:"url"`
	Name           string `json:"name"`
	Type           string `json:"type"`
	Kind           string `json:"kind"`
	Abstract       bool   `json:"abstract"`
	Derivation     string `json:"derivation"`
	BaseDefinition string `json:"baseDefinition"`
	Snapshot       struct {
		Element []struct {
			Path string `json:"path"`
			Min  int    `json:"min"`
			Max  string `json:"max"`
			Type []struct {
				Code      string `json:"code"`
				Extension []struct {
					URL      string `json:"url"`
					ValueURL string `json:"valueUrl"`
				} `json:"extension"`
				Profile       []string `json:"profile"`
				TargetProfile []string `json:"targetProfile"`
			} `json:"type"`
			ContentReference string `json:"contentReference"`
			IsModifier       bool   `json:"isModifier"`
			IsSummary        bool   `json:"isSummary"`
		} `json:"element"`
	} `json:"snapshot"`
}

func load() (*Registry, error) {
	r := &Registry{
		types:        map[string]*Type{},
		elements:     map[string]*Element{},
		children:     map[string][]*Element{},
		searchParams: map[string]map[string]*SearchParam{},
		compartments: map[string]map[string][]string{},
	}
	for _, file := range []string{"profiles-types.json.gz", "profiles-resources.json.gz"} {
		data, err := readGz(file)
		if err != nil {
			return nil, err
		}
		var b rawBundle
		if err := json.Unmarshal(data, &b); err != nil {
			return nil, fmt.Errorf("definitions: %s: %w", file, err)
		}
		for _, e := range b.Entry {
			if !bytes.Contains(e.Resource[:min(len(e.Resource), 200)], []byte(`"StructureDefinition"`)) {
				continue // OperationDefinitions and CapabilityStatements share the bundle
			}
			var sd rawStructureDefinition
			if err := json.Unmarshal(e.Resource, &sd); err != nil {
				return nil, fmt.Errorf("definitions: %s: %w", file, err)
			}
			if sd.ResourceType != "StructureDefinition" || sd.Derivation == "constraint" || sd.Kind == "logical" {
				continue
			}
			r.addType(&sd, e.Resource)
		}
	}
	for name, t := range r.types {
		if t.Kind == "resource" && !t.Abstract {
			r.resourceTypes = append(r.resourceTypes, name)
		}
	}
	sort.Strings(r.resourceTypes)
	if err := r.loadSearchParams(); err != nil {
		return nil, err
	}
	if err := r.loadCompartment(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Registry) addType(sd *rawStructureDefinition, raw json.RawMessage) {
	base := ""
	if i := strings.LastIndexByte(sd.BaseDefinition, '/'); i >= 0 {
		base = sd.BaseDefinition[i+1:]
	}
	r.types[sd.Type] = &Type{Name: sd.Type, Kind: sd.Kind, Base: base, Abstract: sd.Abstract, URL: sd.URL, Raw: raw}
	for i, re := range sd.Snapshot.Element {
		if i == 0 {
			continue // the root element describes the type itself
		}
		el := &Element{Path: re.Path, Min: re.Min, Index: i, IsModifier: re.IsModifier, IsSummary: re.IsSummary}
		switch re.Max {
		case "*":
			el.Max = -1
		default:
			fmt.Sscan(re.Max, &el.Max)
		}
		last := re.Path[strings.LastIndexByte(re.Path, '.')+1:]
		if strings.HasSuffix(last, "[x]") {
			el.Choice = true
			last = strings.TrimSuffix(last, "[x]")
		}
		el.Name = last
		el.ContentRef = strings.TrimPrefix(re.ContentReference, "#")
		for _, t := range re.Type {
			code := t.Code
			// Ids and Extension.url are typed with FHIRPath system types plus an extension
			// naming the FHIR type they are serialized as; use the FHIR type.
			for _, x := range t.Extension {
				if x.URL == "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type" && x.ValueURL != "" {
					code = x.ValueURL
				}
			}
			el.Types = append(el.Types, TypeRef{Code: code, Profiles: t.Profile, TargetProfiles: t.TargetProfile})
		}
		parent := re.Path[:strings.LastIndexByte(re.Path, '.')]
		r.elements[el.Path] = el
		if el.Choice {
			// Also index the bare name so that FHIRPath "Observation.value" finds the choice.
			r.elements[parent+"."+el.Name+"[x]"] = el
		}
		r.children[parent] = append(r.children[parent], el)
	}
}

type rawSearchParameter struct {
	ResourceType string   `json:"resourceType"`
	URL          string   `json:"url"`
	Code         string   `json:"code"`
	Base         []string `json:"base"`
	Type         string   `json:"type"`
	Expression   string   `json:"expression"`
	Target       []string `json:"target"`
	MultipleOr   *bool    `json:"multipleOr"`
	Comparator   []string `json:"comparator"`
	Modifier     []string `json:"modifier"`
	Component    []struct {
		Definition string `json:"definition"`
		Expression string `json:"expression"`
	} `json:"component"`
}

func (r *Registry) loadSearchParams() error {
	data, err := readGz("search-parameters.json.gz")
	if err != nil {
		return err
	}
	var b rawBundle
	if err := json.Unmarshal(data, &b); err != nil {
		return fmt.Errorf("definitions: search parameters: %w", err)
	}
	for _, e := range b.Entry {
		var sp rawSearchParameter
		if err := json.Unmarshal(e.Resource, &sp); err != nil {
			return fmt.Errorf("definitions: search parameters: %w", err)
		}
		if sp.ResourceType != "SearchParameter" {
			continue
		}
		r.addSearchParameter(sp.URL, sp.Code, sp.Type, sp.Expression, sp.Base, sp.Target, sp.Modifier, sp.Comparator, sp.MultipleOr == nil || *sp.MultipleOr, sp.Component)
	}
	return nil
}

// addSearchParameter registers a search parameter for each of its base types. Parameters on
// Resource or DomainResource are copied onto every concrete resource type they cover. It is
// used while loading, before the registry is shared.
func (r *Registry) addSearchParameter(url, code, typ, expression string, base, targets, modifiers, comparators []string, multipleOr bool, components []struct {
	Definition string `json:"definition"`
	Expression string `json:"expression"`
}) {
	var comps []SearchComponent
	for _, c := range components {
		comps = append(comps, SearchComponent{Definition: c.Definition, Expression: c.Expression})
	}
	var bases []string
	for _, b := range base {
		if b == "Resource" || b == "DomainResource" {
			for _, rt := range r.resourceTypes {
				if r.IsSubtype(rt, b) {
					bases = append(bases, rt)
				}
			}
			continue
		}
		bases = append(bases, b)
	}
	for _, b := range bases {
		p := &SearchParam{URL: url, Code: code, Type: typ, Base: base, Targets: targets,
			Modifiers: modifiers, Comparators: comparators, MultipleOr: multipleOr, Components: comps,
			Expression: narrowExpression(expression, b)}
		if r.searchParams[b] == nil {
			r.searchParams[b] = map[string]*SearchParam{}
		}
		r.searchParams[b][code] = p
	}
}

// narrowExpression keeps the union branches of a shared expression that apply to one resource
// type: "AllergyIntolerance.code | Condition.code | ..." becomes "Condition.code" for Condition.
// Branches that do not start with a type name (or start with Resource) are kept as they are.
func narrowExpression(expr, resourceType string) string {
	if expr == "" {
		return ""
	}
	parts := splitTopLevelUnion(expr)
	if len(parts) == 1 {
		return expr
	}
	var kept []string
	for _, p := range parts {
		t := strings.TrimSpace(p)
		head := strings.TrimLeft(t, "(")
		name := head
		if i := strings.IndexAny(head, ".( "); i >= 0 {
			name = head[:i]
		}
		if name == resourceType || name == "Resource" || name == "DomainResource" || name == "" || !isUpper(name) {
			kept = append(kept, t)
		}
	}
	if len(kept) == 0 {
		return expr
	}
	return strings.Join(kept, " | ")
}

func isUpper(s string) bool { return s != "" && s[0] >= 'A' && s[0] <= 'Z' }

// splitTopLevelUnion splits a FHIRPath expression on '|' outside parentheses and strings.
func splitTopLevelUnion(expr string) []string {
	var parts []string
	depth, start := 0, 0
	inStr := false
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch {
		case inStr:
			if c == '\\' {
				i++
			} else if c == '\'' {
				inStr = false
			}
		case c == '\'':
			inStr = true
		case c == '(' || c == '[':
			depth++
		case c == ')' || c == ']':
			depth--
		case c == '|' && depth == 0:
			parts = append(parts, expr[start:i])
			start = i + 1
		}
	}
	return append(parts, expr[start:])
}

func (r *Registry) loadCompartment() error {
	data, err := readGz("compartmentdefinition-patient.json.gz")
	if err != nil {
		return err
	}
	var cd struct {
		Code     string `json:"code"`
		Resource []struct {
			Code  string   `json:"code"`
			Param []string `json:"param"`
		} `json:"resource"`
	}
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&cd); err != nil {
		return fmt.Errorf("definitions: compartment: %w", err)
	}
	m := map[string][]string{}
	for _, res := range cd.Resource {
		if len(res.Param) > 0 {
			m[res.Code] = res.Param
		}
	}
	r.compartments[cd.Code] = m
	return nil
}
