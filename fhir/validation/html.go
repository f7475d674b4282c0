package validation

import (
	"encoding/xml"
	"io"
	"strings"

	"github.com/concord-health/concord/fhir"
)

// nativeChecks implement published constraints whose expression calls a function FHIRPath
// engines provide only inside a validator (R4's htmlChecks()). They follow the constraint's
// published XPath.
var nativeChecks = map[string]func(*fhir.Node) bool{
	"Narrative|txt-1": func(n *fhir.Node) bool { ok, _ := xhtmlCheck(n.String()); return ok },
	"Narrative|txt-2": func(n *fhir.Node) bool { _, content := xhtmlCheck(n.String()); return content },
}

const xhtmlNS = "http://www.w3.org/1999/xhtml"

var (
	xhtmlElements = setOf("a", "abbr", "acronym", "b", "big", "blockquote", "br", "caption", "cite",
		"code", "col", "colgroup", "dd", "dfn", "div", "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5",
		"h6", "hr", "i", "img", "li", "ol", "p", "pre", "q", "samp", "small", "span", "strong", "sub",
		"sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "ul", "var")
	xhtmlAttributes = setOf("abbr", "accesskey", "align", "alt", "axis", "bgcolor", "border",
		"cellhalign", "cellpadding", "cellspacing", "cellvalign", "char", "charoff", "charset", "cite",
		"class", "colspan", "compact", "coords", "dir", "frame", "headers", "height", "href",
		"hreflang", "hspace", "id", "lang", "longdesc", "name", "nowrap", "rel", "rev", "rowspan",
		"rules", "scope", "shape", "span", "src", "start", "style", "summary", "tabindex", "title",
		"type", "valign", "value", "vspace", "width")
)

func setOf(s ...string) map[string]bool {
	m := make(map[string]bool, len(s))
	for _, x := range s {
		m[x] = true
	}
	return m
}

// xhtmlCheck reports whether a narrative div uses only the allowed XHTML elements and
// attributes (txt-1) and whether it has content: non-whitespace text or an image (txt-2).
// Markup that is not well-formed XML fails txt-1.
func xhtmlCheck(s string) (allowed, content bool) {
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = true
	d.Entity = xml.HTMLEntity
	allowed = true
	depth := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return false, content
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 && (t.Name.Local != "div" || t.Name.Space != xhtmlNS) {
				allowed = false
			}
			depth++
			if t.Name.Space != xhtmlNS || !xhtmlElements[t.Name.Local] {
				allowed = false
			}
			for _, a := range t.Attr {
				switch {
				case a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns":
				case a.Name.Space == "xml" || a.Name.Space == "http://www.w3.org/XML/1998/namespace":
				case a.Name.Space == "" && xhtmlAttributes[a.Name.Local]:
				default:
					allowed = false
				}
			}
			if t.Name.Local == "img" {
				for _, a := range t.Attr {
					if a.Name.Local == "src" {
						content = true
					}
				}
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth > 0 && strings.TrimSpace(string(t)) != "" {
				content = true
			}
		}
	}
	return allowed, content
}
