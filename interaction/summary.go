package interaction

import (
	"slices"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
)

// project applies _summary and _elements to a stored resource. The result carries the
// SUBSETTED tag so that no client mistakes it for the whole resource.
func project(body []byte, summary string, elements []string) ([]byte, error) {
	if (summary == "" || summary == "false") && len(elements) == 0 {
		return body, nil
	}
	res, err := fhir.Parse(body)
	if err != nil {
		return nil, err
	}
	root := res.Root
	keep := func(c *fhir.Node) bool {
		if c.Name == "id" || c.Name == "meta" {
			return true
		}
		switch summary {
		case "true":
			return c.Def != nil && c.Def.IsSummary
		case "text":
			return c.Name == "text" || (c.Def != nil && c.Def.Min > 0)
		case "data":
			return c.Name != "text"
		}
		return slices.Contains(elements, c.Name) || (c.Def != nil && c.Def.Min > 0)
	}
	kept := root.Children[:0]
	for _, c := range root.Children {
		if keep(c) {
			kept = append(kept, c)
		}
	}
	root.Children = kept
	addSubsettedTag(root)
	return fhir.Marshal(root), nil
}

// addSubsettedTag adds meta.tag SUBSETTED (http://terminology.hl7.org/CodeSystem/v3-ObservationValue).
func addSubsettedTag(root *fhir.Node) {
	reg := definitions.R4()
	meta := root.First("meta")
	if meta == nil {
		el, typ, ok := reg.Child(root.Type, "meta")
		if !ok {
			return
		}
		meta = &fhir.Node{Name: "meta", Type: typ, Def: el}
		insertChild(root, meta)
	}
	tagEl, _, _ := reg.Child("Meta", "tag")
	sysEl, _, _ := reg.Child("Coding", "system")
	codeEl, _, _ := reg.Child("Coding", "code")
	if tagEl == nil || sysEl == nil || codeEl == nil {
		return
	}
	tag := &fhir.Node{Name: "tag", Type: "Coding", Def: tagEl, Children: []*fhir.Node{
		{Name: "system", Type: "uri", Def: sysEl, Value: "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"},
		{Name: "code", Type: "code", Def: codeEl, Value: "SUBSETTED"},
	}}
	insertChild(meta, tag)
}

// insertChild adds c after its last sibling of lower or equal definition order.
func insertChild(n, c *fhir.Node) {
	i := 0
	for i < len(n.Children) && n.Children[i].Def != nil && n.Children[i].Def.Index <= c.Def.Index {
		i++
	}
	n.Children = slices.Insert(n.Children, i, c)
}
