package fhir

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strings"
	"sync"
	"unicode/utf8"
)

// MarshalXML writes a resource in the FHIR XML format: the resource type as the root element
// in the FHIR namespace, elements in definition order, primitive values in value attributes,
// element ids and extension urls as attributes, nested resources inside the element that
// holds them, and the narrative div as XHTML. Decimals keep their text as parsed.
//
// What XML cannot hold is adapted: characters XML 1.0 forbids become U+FFFD, and a narrative
// that is not a well-formed XHTML div is written as the text of one. Extensions on an element
// id or an extension url, and on the div, have no place in XML and are left out, as are
// primitives with neither a value nor extensions.
func MarshalXML(n *Node) []byte {
	w := xmlWriters.Get().(*xmlWriter)
	if w.resources == nil {
		w.resources = tablesFor().resources
	}
	if _, ok := w.resources[n.Type]; ok {
		w.buf = w.resource(w.buf[:0], n, true)
	} else {
		w.buf = w.element(w.buf[:0], n, true)
	}
	out := bytes.Clone(w.buf)
	if cap(w.buf) <= 1<<20 { // do not keep a huge document's buffer for the rest of the process
		xmlWriters.Put(w)
	}
	return out
}

// XML serializes the resource in the FHIR XML format.
func (r *Resource) XML() []byte { return MarshalXML(r.Root) }

var xmlWriters = sync.Pool{New: func() any { return &xmlWriter{buf: make([]byte, 0, 4096)} }}

type xmlWriter struct {
	buf       []byte
	resources map[string]string
}

// isResource reports whether n is a resource; primitive types, the most common, are told
// apart by their lower-case initial without a lookup.
func (w *xmlWriter) isResource(n *Node) bool {
	if n.Type == "" || n.Type[0] >= 'a' && n.Type[0] <= 'z' {
		return false
	}
	_, ok := w.resources[n.Type]
	return ok
}

// resource writes <Type>…</Type>, declaring the FHIR namespace on the root.
func (w *xmlWriter) resource(b []byte, n *Node, root bool) []byte {
	b = append(append(b, '<'), n.Type...)
	if root {
		b = append(b, ` xmlns="`+NamespaceFHIR+`"`...)
	}
	b = append(b, '>')
	b = w.children(b, n, true)
	return append(append(append(b, "</"...), n.Type...), '>')
}

// isAttribute reports whether a child is written as an attribute of its parent: an element's
// id (a resource's id is an element) and an extension's url.
func isAttribute(c *Node, inResource bool) bool {
	return c.Name == "id" && !inResource || c.Def != nil && c.Def.Path == "Extension.url"
}

func (w *xmlWriter) children(b []byte, n *Node, inResource bool) []byte {
	for _, c := range n.Children {
		if !isAttribute(c, inResource) && !w.nothingToWrite(c) {
			b = w.element(b, c, false)
		}
	}
	return b
}

// nothingToWrite reports an element with nothing XML can carry: a primitive with neither a
// value nor extensions (JSON can say "_given":[{}]), or a complex element holding only such.
// As an empty element it would not be FHIR. The first child with content ends the search, so
// this costs little on real resources.
func (w *xmlWriter) nothingToWrite(c *Node) bool {
	if c.Value != nil {
		return false
	}
	if c.IsPrimitive() {
		return len(c.Children) == 0 || c.Type == "xhtml"
	}
	if w.isResource(c) {
		return false
	}
	for _, g := range c.Children {
		if isAttribute(g, false) && g.Value != nil || !isAttribute(g, false) && !w.nothingToWrite(g) {
			return false
		}
	}
	return true
}

// element writes one element; ns declares the FHIR namespace on it.
func (w *xmlWriter) element(b []byte, n *Node, ns bool) []byte {
	if n.Type == "xhtml" {
		return appendDiv(b, n.String())
	}
	start := len(b)
	b = append(b, '<')
	b = appendXMLName(b, n)
	// The name's bytes stay valid when b grows: growing copies, it never rewrites them.
	name := b[start+1:]
	if w.isResource(n) {
		b = append(b, '>')
		b = w.resource(b, n, false)
		return append(append(append(b, "</"...), name...), '>')
	}
	if ns {
		b = append(b, ` xmlns="`+NamespaceFHIR+`"`...)
	}
	content := false
	for _, c := range n.Children {
		if !isAttribute(c, false) {
			content = content || !w.nothingToWrite(c)
			continue
		}
		if c.Value == nil {
			continue // extensions of an id or url: an attribute has no room for them
		}
		b = append(append(append(b, ' '), c.Name...), `="`...)
		b = append(appendXMLAttr(b, c.String()), '"')
	}
	if n.Value != nil {
		b = append(b, ` value="`...)
		switch v := n.Value.(type) {
		case string:
			b = appendXMLAttr(b, v)
		case json.Number:
			b = appendXMLAttr(b, string(v))
		default:
			b = appendXMLAttr(b, n.String())
		}
		b = append(b, '"')
	}
	if !content {
		return append(b, "/>"...)
	}
	b = append(b, '>')
	b = w.children(b, n, false)
	return append(append(append(b, "</"...), name...), '>')
}

// appendXMLName appends an element's XML name: a choice element carries its type
// (valueQuantity).
func appendXMLName(b []byte, n *Node) []byte {
	if n.Def == nil || !n.Def.Choice {
		return append(b, n.Name...)
	}
	b = append(b, n.Def.Name...)
	if t := n.Type; t != "" && t[0] >= 'a' && t[0] <= 'z' {
		return append(append(b, t[0]-'a'+'A'), t[1:]...)
	}
	return append(b, n.Type...)
}

// xmlAttrEscape gives the replacement of each ASCII byte an attribute value cannot hold as it
// is. Tabs and line breaks are written as references, which keep them through attribute-value
// normalization; other control characters are not allowed in XML 1.0 at all.
var xmlAttrEscape = func() (t [utf8.RuneSelf]string) {
	for c := 0; c < 0x20; c++ {
		t[c] = "\uFFFD"
	}
	t['\t'], t['\n'], t['\r'] = "&#x9;", "&#xA;", "&#xD;"
	t['&'], t['<'], t['>'], t['"'] = "&amp;", "&lt;", "&gt;", "&quot;"
	return t
}()

func appendXMLAttr(b []byte, s string) []byte { return appendXMLEscaped(b, s, &xmlAttrEscape) }

var xmlTextEscape = func() (t [utf8.RuneSelf]string) {
	t = xmlAttrEscape
	t['\t'], t['\n'], t['"'] = "", "", ""
	return t
}()

func appendXMLText(b []byte, s string) []byte { return appendXMLEscaped(b, s, &xmlTextEscape) }

// xmlPlain marks the ASCII bytes that no escaping touches.
var xmlPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	t['&'], t['<'], t['>'], t['"'] = false, false, false, false
	return t
}()

func appendXMLEscaped(b []byte, s string, esc *[utf8.RuneSelf]string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if xmlPlain[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			if r := esc[c]; r != "" {
				b = append(append(b, s[start:i]...), r...)
				start = i + 1
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == 0xFFFE || r == 0xFFFF {
			b = append(append(b, s[start:i]...), "\uFFFD"...)
			start = i + size
		}
		i += size
	}
	return append(b, s[start:]...)
}

// appendDiv writes a narrative div. A well-formed XHTML div goes out as it is (with the
// XHTML namespace declared if the text lacks it), so that reading it back gives the same
// text; anything else is kept as the text of a div, so that the document stays well-formed.
func appendDiv(b []byte, s string) []byte {
	if end, insert, ok := checkDiv(s); ok {
		if insert {
			b = append(append(b, "<div"...), ` xmlns="`+NamespaceXHTML+`"`...)
			return append(b, s[len("<div"):end]...)
		}
		return append(b, s[:end]...)
	}
	b = append(b, `<div xmlns="`+NamespaceXHTML+`">`...)
	b = appendXMLText(b, s)
	return append(b, "</div>"...)
}

// checkDiv reports whether s is one well-formed div element in the XHTML namespace (or in
// none, when insert says that the declaration must be added), followed by nothing but
// whitespace, which ends at end.
func checkDiv(s string) (end int, insert, ok bool) {
	if !strings.HasPrefix(s, "<div") || len(s) < 5 || !strings.ContainsRune(" \t\r\n/>", rune(s[4])) {
		return 0, false, false
	}
	d := xml.NewDecoder(strings.NewReader(s))
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			return 0, false, false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				switch t.Name.Space {
				case NamespaceXHTML:
				case "":
					insert = true
					for _, a := range t.Attr {
						if a.Name.Space == "" && a.Name.Local == "xmlns" {
							return 0, false, false // xmlns="": no room for the declaration
						}
					}
				default:
					return 0, false, false
				}
			}
			// encoding/xml leaves an undeclared prefix in place of the namespace name.
			if undeclaredPrefix(t.Name.Space) {
				return 0, false, false
			}
			for _, a := range t.Attr {
				if !isNamespaceDecl(a) && undeclaredPrefix(a.Name.Space) {
					return 0, false, false
				}
			}
			if depth++; depth > maxXMLDepth {
				return 0, false, false
			}
		case xml.EndElement:
			if depth--; depth == 0 {
				end = int(d.InputOffset())
				if strings.TrimLeft(s[end:], " \t\r\n") != "" {
					return 0, false, false
				}
				return end, insert, true
			}
		case xml.Directive:
			return 0, false, false
		case xml.ProcInst:
			if t.Target == "xml" {
				return 0, false, false
			}
		}
	}
}

// undeclaredPrefix reports whether a namespace as encoding/xml reports it is a prefix that was
// never bound: namespace names are URIs, which have a colon.
func undeclaredPrefix(space string) bool {
	return space != "" && !strings.Contains(space, ":")
}
