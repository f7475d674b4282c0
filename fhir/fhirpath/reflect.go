package fhirpath

import (
	"github.com/concord-health/concord/fhir"
)

func init() {
	// type() (FHIRPath §10 "Types and Reflection"): one System.SimpleTypeInfo or
	// System.ClassInfo per item, built as ordinary nodes so that namespace, name, baseType
	// and element are reached by path navigation.
	def("type", 0, 0, func(ev *evaluator, _ *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
		var out []*fhir.Node
		for _, v := range in {
			if t := ev.typeInfo(v); t != nil {
				out = append(out, t)
			}
		}
		return out, nil
	})
}

// typeInfo describes a node's type; nil for untyped nodes, which have no type to report.
func (ev *evaluator) typeInfo(v *fhir.Node) *fhir.Node {
	str := func(name, s string) *fhir.Node { return &fhir.Node{Name: name, Type: typeString, Value: s} }
	if isSystem(v) {
		return &fhir.Node{Type: "System.SimpleTypeInfo", Children: []*fhir.Node{
			str("namespace", "System"), str("name", v.Type[len("System."):]), str("baseType", "System.Any"),
		}}
	}
	if v.Type == "" {
		return nil
	}
	base := ""
	d := ev.reg.Type(v.Type)
	if d != nil && d.Base != "" {
		base = "FHIR." + d.Base
	}
	children := []*fhir.Node{str("namespace", "FHIR"), str("name", v.Type)}
	if base != "" {
		children = append(children, str("baseType", base))
	}
	if d == nil || d.Kind == "primitive-type" {
		return &fhir.Node{Type: "System.SimpleTypeInfo", Children: children}
	}
	// a class lists its own elements: name, type and whether it is one-based (never, in FHIR)
	for _, el := range ev.reg.Children(v.Type) {
		e := &fhir.Node{Name: "element", Type: "System.ClassInfoElement"}
		e.Children = append(e.Children, str("name", el.Name))
		if len(el.Types) == 1 {
			e.Children = append(e.Children, str("type", "FHIR."+el.Types[0].Code))
		}
		e.Children = append(e.Children, &fhir.Node{Name: "isOneBased", Type: typeBoolean, Value: false})
		children = append(children, e)
	}
	return &fhir.Node{Type: "System.ClassInfo", Children: children}
}
