// Package fhir is Concord's element model: a resource parsed once into a type-aware tree,
// driven by the official StructureDefinitions, plus the few typed helpers the rest of the
// system needs (ids, references, Bundle, OperationOutcome).
//
// A Node is one element. Complex elements have Children in definition order (repeated
// elements adjacent, in array order); primitive elements carry Value and, when the JSON had a
// "_name" companion, Children for their id and extensions. Resources are Nodes whose Type is
// the resource type.
package fhir

import (
	"encoding/json"

	"github.com/concord-health/concord/fhir/definitions"
)

// Node is one element of a resource tree.
type Node struct {
	// Name is the element name as FHIRPath sees it: "value" for valueQuantity, the resource
	// type for a resource root.
	Name string
	// Type is the FHIR type code: "Quantity", "dateTime", "Patient", "BackboneElement"…
	Type string
	// Def is the element's definition (nil for a resource root).
	Def *definitions.Element
	// Value holds a primitive's value: bool, string, or json.Number for integer and decimal
	// (kept as text so that precision survives). It is nil for complex elements and for
	// primitives that carry only extensions.
	Value any
	// Children are the child elements in definition order.
	Children []*Node
	// path under which the children's definitions are found ("Observation.component",
	// "Quantity"); empty for primitives.
	defPath string
}

// IsPrimitive reports whether the node is a FHIR primitive.
func (n *Node) IsPrimitive() bool { return isPrimitiveType(n.Type) }

// IsResource reports whether the node is a resource (the root, a contained resource, or a
// Bundle entry's resource).
func (n *Node) IsResource() bool { return definitions.R4().IsResource(n.Type) }

// DefPath returns the definition path under which this node's children are defined.
func (n *Node) DefPath() string { return n.defPath }

// Child returns the children with the given element name (choice elements by their bare name,
// "value"), in order.
func (n *Node) Child(name string) []*Node {
	var out []*Node
	for _, c := range n.Children {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

// First returns the first child with the given name, or nil.
func (n *Node) First(name string) *Node {
	for _, c := range n.Children {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// String returns a primitive's value as text ("" for complex nodes or missing values).
func (n *Node) String() string {
	if n == nil {
		return ""
	}
	switch v := n.Value.(type) {
	case string:
		return v
	case json.Number:
		return string(v)
	case bool:
		if v {
			return "true"
		}
		return "false"
	}
	return ""
}

// Text returns the string value of the first child with the given name ("" if absent).
func (n *Node) Text(name string) string {
	if n == nil {
		return ""
	}
	return n.First(name).String()
}

// Walk calls fn for n and every descendant, depth first; fn returning false skips the
// node's children.
func (n *Node) Walk(fn func(*Node) bool) {
	if !fn(n) {
		return
	}
	for _, c := range n.Children {
		c.Walk(fn)
	}
}

var primitiveTypes = map[string]bool{
	"boolean": true, "integer": true, "string": true, "decimal": true, "uri": true, "url": true,
	"canonical": true, "base64Binary": true, "instant": true, "date": true, "dateTime": true,
	"time": true, "code": true, "oid": true, "id": true, "markdown": true, "unsignedInt": true,
	"positiveInt": true, "uuid": true, "xhtml": true,
}

func isPrimitiveType(t string) bool { return primitiveTypes[t] }
