package fhir

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/concord-health/concord/fhir/definitions"
)

// Marshal writes a resource as FHIR JSON: resourceType first, then elements in definition
// order, primitives with their "_name" companions where they carry ids or extensions.
func Marshal(n *Node) []byte {
	var b bytes.Buffer
	b.Grow(1024)
	writeObject(&b, n)
	return b.Bytes()
}

// Bytes serializes the resource.
func (r *Resource) Bytes() []byte { return Marshal(r.Root) }

func writeObject(b *bytes.Buffer, n *Node) {
	b.WriteByte('{')
	first := true
	if n.IsResource() {
		b.WriteString(`"resourceType":`)
		writeString(b, n.Type)
		first = false
	}
	for i := 0; i < len(n.Children); {
		j := i + 1
		for j < len(n.Children) && n.Children[j].Def == n.Children[i].Def {
			j++
		}
		group := n.Children[i:j]
		writeProperty(b, group, &first)
		i = j
	}
	b.WriteByte('}')
}

func jsonName(c *Node) string {
	if c.Def != nil && c.Def.Choice {
		return c.Def.Name + upperFirst(c.Type)
	}
	return c.Name
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	if s[0] >= 'a' && s[0] <= 'z' {
		return string(s[0]-'a'+'A') + s[1:]
	}
	return s
}

func writeProperty(b *bytes.Buffer, group []*Node, first *bool) {
	c0 := group[0]
	name := jsonName(c0)
	array := c0.Def == nil || c0.Def.IsArray()
	if !c0.IsPrimitive() || c0.IsResource() {
		sep(b, first)
		writeString(b, name)
		b.WriteByte(':')
		if array {
			b.WriteByte('[')
		}
		for i, c := range group {
			if i > 0 {
				b.WriteByte(',')
			}
			writeObject(b, c)
		}
		if array {
			b.WriteByte(']')
		}
		return
	}
	hasValue, hasExt := false, false
	for _, c := range group {
		hasValue = hasValue || c.Value != nil
		hasExt = hasExt || len(c.Children) > 0
	}
	if hasValue {
		sep(b, first)
		writeString(b, name)
		b.WriteByte(':')
		if array {
			b.WriteByte('[')
		}
		for i, c := range group {
			if i > 0 {
				b.WriteByte(',')
			}
			writePrimitive(b, c.Value)
		}
		if array {
			b.WriteByte(']')
		}
	}
	if hasExt {
		sep(b, first)
		writeString(b, "_"+name)
		b.WriteByte(':')
		if array {
			b.WriteByte('[')
		}
		for i, c := range group {
			if i > 0 {
				b.WriteByte(',')
			}
			if len(c.Children) == 0 {
				b.WriteString("null")
			} else {
				writeObject(b, c)
			}
		}
		if array {
			b.WriteByte(']')
		}
	}
}

func sep(b *bytes.Buffer, first *bool) {
	if !*first {
		b.WriteByte(',')
	}
	*first = false
}

func writePrimitive(b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case json.Number:
		b.WriteString(string(x))
	case string:
		writeString(b, x)
	}
}

const hexDigits = "0123456789abcdef"

// writeString writes a JSON string; like encoding/json but without HTML escaping, which FHIR
// JSON does not need.
func writeString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b.WriteString(s[start:i])
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteString(`\u00`)
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xf])
		}
		start = i + 1
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}

// SetID sets the resource's id.
func (r *Resource) SetID(id string) {
	r.ID = id
	r.Root.setPrimitive("id", id)
}

// SetMeta stamps meta.versionId and meta.lastUpdated, as the server does on every write.
func (r *Resource) SetMeta(versionID string, lastUpdated time.Time) {
	meta := r.Root.First("meta")
	if meta == nil {
		meta = r.Root.addChild("meta")
	}
	meta.setPrimitive("versionId", versionID)
	meta.setPrimitive("lastUpdated", lastUpdated.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
}

// Meta returns meta.versionId and meta.lastUpdated as stored in the tree.
func (r *Resource) Meta() (versionID, lastUpdated string) {
	meta := r.Root.First("meta")
	return meta.Text("versionId"), meta.Text("lastUpdated")
}

// setPrimitive sets (or creates) a single-valued primitive child, keeping any extensions.
func (n *Node) setPrimitive(name string, value string) {
	if c := n.First(name); c != nil {
		c.Value = value
		return
	}
	n.addChild(name).Value = value
}

// addChild inserts an empty child element in definition order and returns it.
func (n *Node) addChild(name string) *Node {
	reg := definitions.R4()
	el, typ, ok := reg.Child(n.defPath, name)
	if !ok {
		panic("fhir: no element " + n.defPath + "." + name)
	}
	c := &Node{Name: el.Name, Type: typ, Def: el}
	if !isPrimitiveType(typ) {
		c.defPath = reg.ChildPath(el, typ)
	}
	i := 0
	for i < len(n.Children) && n.Children[i].Def != nil && n.Children[i].Def.Index <= el.Index {
		i++
	}
	n.Children = append(n.Children, nil)
	copy(n.Children[i+1:], n.Children[i:])
	n.Children[i] = c
	return c
}

// RemoveChildren drops every child with the given element name.
func (n *Node) RemoveChildren(name string) {
	kept := n.Children[:0]
	for _, c := range n.Children {
		if c.Name != name {
			kept = append(kept, c)
		}
	}
	n.Children = kept
}
