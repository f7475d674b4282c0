package release

import (
	"fmt"
	"strings"

	"github.com/concord-health/concord/fhir"
)

// CodeSystem is a FHIR CodeSystem being built from a release. Resource writes it as JSON
// and parses that, so what comes out has passed the same checks as any CodeSystem given to
// the server.
type CodeSystem struct {
	ID, URL, Version, Name, Title, Publisher, Description, Copyright string
	// Date is when the release was published or took effect (a FHIR dateTime: "2016-04-01",
	// "2022-11").
	Date string
	// HierarchyMeaning is "is-a", "part-of", "grouped-by" or "classified-with".
	HierarchyMeaning string
	// Properties declares the concept properties used.
	Properties []PropertyDef
	// Concepts are the top-level concepts; the hierarchy is given by nesting.
	Concepts []*Concept
}

// PropertyDef declares a concept property (CodeSystem.property).
type PropertyDef struct {
	Code, URI, Description string
	Type                   string // code, string, integer, boolean, Coding, dateTime, decimal
}

// Concept is one concept and the concepts nested under it.
type Concept struct {
	Code, Display, Definition string
	Designations              []Designation
	Properties                []Property
	Children                  []*Concept
}

// Designation is an additional representation of a concept.
type Designation struct {
	Language string
	// Use is a SNOMED CT designation use (900000000000013009 synonym, …), or empty.
	Use, UseDisplay string
	Value           string
}

// Property is one property value of a concept; its type is the one declared.
type Property struct {
	Code, Value string
}

// Add appends a property value to the concept.
func (c *Concept) Add(code, value string) { c.Properties = append(c.Properties, Property{code, value}) }

// Designation use codes (SNOMED CT, as the FHIR designation-use value set).
const (
	UseSynonym = "900000000000013009"
	UseFSN     = "900000000000003001"
)

// Count returns the number of concepts, nested ones included.
func (cs *CodeSystem) Count() int {
	n := 0
	var walk func([]*Concept)
	walk = func(list []*Concept) {
		for _, c := range list {
			n++
			walk(c.Children)
		}
	}
	walk(cs.Concepts)
	return n
}

// JSON writes the CodeSystem resource as JSON (status active, content complete).
func (cs *CodeSystem) JSON() ([]byte, error) {
	types := map[string]string{}
	for _, p := range cs.Properties {
		types[p.Code] = p.Type
	}
	w := &jsonWriter{b: make([]byte, 0, 256*cs.Count()+4096), types: types}
	w.raw(`{"resourceType":"CodeSystem"`)
	w.field("id", cs.ID)
	w.field("url", cs.URL)
	w.field("version", cs.Version)
	w.field("name", cs.Name)
	w.field("title", cs.Title)
	w.raw(`,"status":"active","experimental":false`)
	w.field("date", cs.Date)
	w.field("publisher", cs.Publisher)
	w.field("description", cs.Description)
	w.field("copyright", cs.Copyright)
	w.raw(`,"caseSensitive":true`)
	w.field("hierarchyMeaning", cs.HierarchyMeaning)
	w.raw(`,"content":"complete"`)
	w.raw(fmt.Sprintf(`,"count":%d`, cs.Count()))
	if len(cs.Properties) > 0 {
		w.raw(`,"property":[`)
		for i, p := range cs.Properties {
			if i > 0 {
				w.raw(",")
			}
			w.raw(`{"code":`)
			w.str(p.Code)
			w.field("uri", p.URI)
			w.field("description", p.Description)
			w.field("type", p.Type)
			w.raw("}")
		}
		w.raw("]")
	}
	w.concepts(cs.Concepts)
	w.raw("}")
	return w.b, w.err
}

// Resource builds the CodeSystem as a parsed FHIR resource.
func (cs *CodeSystem) Resource() (*fhir.Resource, error) {
	b, err := cs.JSON()
	if err != nil {
		return nil, err
	}
	res, err := fhir.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("code system %s: %w", cs.URL, err)
	}
	return res, nil
}

type jsonWriter struct {
	b     []byte
	types map[string]string
	err   error
}

func (w *jsonWriter) raw(s string) { w.b = append(w.b, s...) }
func (w *jsonWriter) str(s string) { w.b = fhir.AppendJSONString(w.b, s) }

// field writes ,"name":"value" unless value is empty.
func (w *jsonWriter) field(name, value string) {
	if value == "" {
		return
	}
	w.b = append(w.b, ',', '"')
	w.b = append(w.b, name...)
	w.b = append(w.b, '"', ':')
	w.str(value)
}

func (w *jsonWriter) concepts(list []*Concept) {
	if len(list) == 0 {
		return
	}
	w.raw(`,"concept":[`)
	for i, c := range list {
		if i > 0 {
			w.raw(",")
		}
		w.raw(`{"code":`)
		w.str(c.Code)
		w.field("display", c.Display)
		w.field("definition", c.Definition)
		if len(c.Designations) > 0 {
			w.raw(`,"designation":[`)
			for j, d := range c.Designations {
				if j > 0 {
					w.raw(",")
				}
				w.raw("{")
				first := true
				if d.Language != "" {
					w.raw(`"language":`)
					w.str(d.Language)
					first = false
				}
				if d.Use != "" {
					if !first {
						w.raw(",")
					}
					w.raw(`"use":{"system":"http://snomed.info/sct","code":`)
					w.str(d.Use)
					w.field("display", d.UseDisplay)
					w.raw("}")
					first = false
				}
				if !first {
					w.raw(",")
				}
				w.raw(`"value":`)
				w.str(d.Value)
				w.raw("}")
			}
			w.raw("]")
		}
		if len(c.Properties) > 0 {
			w.raw(`,"property":[`)
			for j, p := range c.Properties {
				if j > 0 {
					w.raw(",")
				}
				w.property(c.Code, p)
			}
			w.raw("]")
		}
		w.concepts(c.Children)
		w.raw("}")
	}
	w.raw("]")
}

func (w *jsonWriter) property(code string, p Property) {
	typ, ok := w.types[p.Code]
	if !ok {
		if w.err == nil {
			w.err = fmt.Errorf("concept %s: property %q is not declared", code, p.Code)
		}
		return
	}
	w.raw(`{"code":`)
	w.str(p.Code)
	switch typ {
	case "integer", "boolean", "decimal":
		// Written bare: the values are checked by fhir.Parse.
		w.raw(`,"value` + upperFirst(typ) + `":`)
		w.raw(p.Value)
	case "Coding":
		system, c, _ := strings.Cut(p.Value, "|")
		w.raw(`,"valueCoding":{"system":`)
		w.str(system)
		w.raw(`,"code":`)
		w.str(c)
		w.raw("}")
	default:
		w.raw(`,"value` + upperFirst(typ) + `":`)
		w.str(p.Value)
	}
	w.raw("}")
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
