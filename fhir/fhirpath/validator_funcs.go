package fhirpath

import (
	"encoding/xml"
	"io"
	"strings"

	"github.com/concord-health/concord/fhir"
)

// The FHIR functions that need a validator or a terminology service behind the engine
// (FHIR R4 fhirpath.html §2.1.9): memberOf() and conformsTo() ask the Env's callbacks;
// htmlChecks() is built in.

func init() {
	def("memberOf", 1, 1, func(ev *evaluator, n *ast, in, this []*fhir.Node) ([]*fhir.Node, error) {
		vs, ok, err := ev.strArg(n, 0, this)
		if err != nil || !ok || len(in) == 0 {
			return nil, err
		}
		if len(in) > 1 {
			return nil, errf("memberOf() expects a single item, got %d", len(in))
		}
		if ev.env == nil || ev.env.MemberOf == nil {
			return nil, nil // no terminology: no answer
		}
		member, known := ev.env.MemberOf(in[0], vs)
		if !known {
			return nil, nil
		}
		return boolColl(member), nil
	})
	def("conformsTo", 1, 1, func(ev *evaluator, n *ast, in, this []*fhir.Node) ([]*fhir.Node, error) {
		profile, ok, err := ev.strArg(n, 0, this)
		if err != nil || !ok || len(in) == 0 {
			return nil, err
		}
		if len(in) > 1 {
			return nil, errf("conformsTo() expects a single item, got %d", len(in))
		}
		if ev.env != nil && ev.env.ConformsTo != nil {
			conforms, known := ev.env.ConformsTo(in[0], profile)
			if !known {
				return nil, errf("conformsTo(): unknown profile %q", profile)
			}
			return boolColl(conforms), nil
		}
		// Without a validator, the core definitions of types are answered from the type
		// hierarchy: a resource conforms to its own type's definition and its ancestors'.
		typ, isCore := strings.CutPrefix(profile, "http://hl7.org/fhir/StructureDefinition/")
		if !isCore || ev.reg.Type(typ) == nil {
			return nil, errf("conformsTo(): unknown profile %q", profile)
		}
		return boolColl(in[0].Type == typ || ev.reg.IsSubtype(in[0].Type, typ)), nil
	})
	def("htmlChecks", 0, 0, func(_ *evaluator, _ *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
		if len(in) != 1 {
			return nil, nil
		}
		allowed, _ := XHTMLCheck(in[0].String())
		return boolColl(allowed), nil
	})
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

// XHTMLCheck reports whether a narrative div uses only the XHTML elements and attributes
// FHIR allows (what htmlChecks() and txt-1 ask) and whether it has content: non-whitespace
// text or an image (txt-2). Markup that is not well-formed XML is not allowed.
func XHTMLCheck(s string) (allowed, content bool) {
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
