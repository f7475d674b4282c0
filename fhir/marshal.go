package fhir

import (
	"bytes"
	"encoding/json"
	"sync"
	"time"

	"github.com/concord-health/concord/fhir/definitions"
)

// Marshal writes a resource as FHIR JSON: resourceType first, then elements in definition
// order, primitives with their "_name" companions where they carry ids or extensions.
func Marshal(n *Node) []byte {
	w := writers.Get().(*writer)
	if w.resources == nil {
		w.resources = tablesFor().resources
	}
	w.buf = w.object(w.buf[:0], n, true)
	out := bytes.Clone(w.buf)
	if cap(w.buf) <= 1<<20 { // do not keep a huge document's buffer for the rest of the process
		writers.Put(w)
	}
	return out
}

// writers recycle the output buffer, which otherwise grows by doubling for every resource.
var writers = sync.Pool{New: func() any { return &writer{buf: make([]byte, 0, 4096)} }}

type writer struct {
	buf       []byte
	resources map[string]string
}

// Bytes serializes the resource.
func (r *Resource) Bytes() []byte { return Marshal(r.Root) }

// object appends n as a JSON object; mayBeResource is false where n cannot be a resource
// (the "_name" companion of a primitive), which saves looking its type up.
func (w *writer) object(b []byte, n *Node, mayBeResource bool) []byte {
	b = append(b, '{')
	first := true
	if mayBeResource {
		if _, ok := w.resources[n.Type]; ok {
			b = append(b, `"resourceType":`...)
			b = appendString(b, n.Type)
			first = false
		}
	}
	for i := 0; i < len(n.Children); {
		j := i + 1
		for j < len(n.Children) && n.Children[j].Def == n.Children[i].Def {
			j++
		}
		b = w.property(b, n.Children[i:j], &first)
		i = j
	}
	return append(b, '}')
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

// appendKey appends the JSON property name of c ("valueQuantity" for a choice, prefixed by
// "_" for a companion) and a colon, without building the name as a string first.
func appendKey(b []byte, c *Node, companion bool, first *bool) []byte {
	if !*first {
		b = append(b, ',')
	}
	*first = false
	b = append(b, '"')
	if companion {
		b = append(b, '_')
	}
	if c.Def != nil && c.Def.Choice {
		b = appendEscaped(b, c.Def.Name)
		if t := c.Type; t != "" && t[0] >= 'a' && t[0] <= 'z' {
			b = append(b, t[0]-'a'+'A')
			b = appendEscaped(b, t[1:])
		} else {
			b = appendEscaped(b, t)
		}
	} else {
		b = appendEscaped(b, c.Name)
	}
	return append(b, '"', ':')
}

func (w *writer) property(b []byte, group []*Node, first *bool) []byte {
	c0 := group[0]
	array := c0.Def == nil || c0.Def.IsArray()
	if !c0.IsPrimitive() {
		b = appendKey(b, c0, false, first)
		if array {
			b = append(b, '[')
		}
		for i, c := range group {
			if i > 0 {
				b = append(b, ',')
			}
			b = w.object(b, c, true)
		}
		if array {
			b = append(b, ']')
		}
		return b
	}
	hasValue, hasExt := false, false
	for _, c := range group {
		hasValue = hasValue || c.Value != nil
		hasExt = hasExt || len(c.Children) > 0
	}
	if hasValue {
		b = appendKey(b, c0, false, first)
		if array {
			b = append(b, '[')
		}
		for i, c := range group {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendPrimitive(b, c.Value)
		}
		if array {
			b = append(b, ']')
		}
	}
	if hasExt {
		b = appendKey(b, c0, true, first)
		if array {
			b = append(b, '[')
		}
		for i, c := range group {
			if i > 0 {
				b = append(b, ',')
			}
			if len(c.Children) == 0 {
				b = append(b, "null"...)
			} else {
				b = w.object(b, c, false)
			}
		}
		if array {
			b = append(b, ']')
		}
	}
	return b
}

func appendPrimitive(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		b = append(b, "null"...)
	case bool:
		if x {
			b = append(b, "true"...)
		} else {
			b = append(b, "false"...)
		}
	case json.Number:
		b = append(b, x...)
	case string:
		b = appendString(b, x)
	}
	return b
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string, escaped as Marshal escapes strings.
func AppendJSONString(b []byte, s string) []byte { return appendString(b, s) }

// appendString appends a JSON string; like encoding/json but without HTML escaping, which
// FHIR JSON does not need.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendEscaped(b, s)
	return append(b, '"')
}

// needsEscape marks the bytes a JSON string cannot hold as they are.
var needsEscape = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

func appendEscaped(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !needsEscape[c] {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"':
			b = append(b, `\"`...)
		case '\\':
			b = append(b, `\\`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		default:
			b = append(b, `\u00`...)
			b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	return append(b, s[start:]...)
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
	// Microseconds: the store orders versions by them, and a client that searches
	// _lastUpdated with the value it was given must find exactly that version.
	meta.setPrimitive("lastUpdated", lastUpdated.UTC().Format("2006-01-02T15:04:05.000000Z07:00"))
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
