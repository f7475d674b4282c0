package validation

import (
	"encoding/xml"
	"slices"
	"sort"
	"strings"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/fhirpath"
	"github.com/concord-health/concord/fhir/profiles"
)

// nativeChecks implement published constraints in Go. R4 publishes txt-1 and txt-2 both
// as "htmlChecks()", a function that says only whether the markup is allowed; their
// XPath says what each really checks, so each gets its own half of the check.
var nativeChecks = map[string]func(*fhir.Node) bool{
	"Narrative|txt-1": func(n *fhir.Node) bool { ok, _ := fhirpath.XHTMLCheck(n.String()); return ok },
	"Narrative|txt-2": func(n *fhir.Node) bool { _, content := fhirpath.XHTMLCheck(n.String()); return content },
}

// hyperlinkSchemes are the URL schemes a narrative link may use: a reader's browser must be
// able to follow it, which rules out names such as urn:uuid: that only identify.
var hyperlinkSchemes = map[string]bool{"http": true, "https": true, "ftp": true, "ftps": true,
	"mailto": true, "tel": true, "sms": true, "fax": true, "data": true}

// xmlEntities are the only named entities XHTML without a DTD may use.
var xmlEntities = map[string]bool{"lt": true, "gt": true, "amp": true, "quot": true, "apos": true}

// narrative reports what the narrative div holds that a reader cannot use: named entities
// XML does not define (a div written into JSON as HTML) and links whose scheme is not
// hyperlinkable. Markup that does not parse is txt-1's to report.
func (p *pwalk) narrative(n *fhir.Node, path string) {
	s, _ := n.Value.(string)
	for _, e := range badEntities(s) {
		p.add(fhir.SeverityError, fhir.IssueInvalid, path, "Invalid entity in the XHTML ('&%s;')", e)
	}
	if !strings.Contains(s, "href") {
		return
	}
	links := hyperlinks(s)
	for i, l := range links {
		if slices.Contains(links[:i], l) {
			continue // the same link in the same place says nothing new
		}
		switch {
		case l.scheme != "" && !hyperlinkSchemes[strings.ToLower(l.scheme)]:
			p.add(fhir.SeverityError, fhir.IssueInvalid, path,
				"Hyperlink scheme '%s' in '%s' at '%s' for '%s' is not a valid hyperlinkable scheme", l.scheme, l.href, l.at, l.text)
		case len(l.href) > 1 && l.href[0] == '#' && !p.anchor(l.href[1:]):
			p.add(fhir.SeverityError, fhir.IssueInvalid, path, "Hyperlink '%s' at '%s' for '%s' does not resolve", l.href, l.at, l.text)
		}
	}
}

// anchor reports whether a narrative of the resource being validated (its own, those of
// the resources it contains or, for a Bundle, of its entries) has an element with the id or
// name given, or a contained resource has that id: where a "#" link in a narrative may lead.
func (p *pwalk) anchor(name string) bool {
	if p.top == nil {
		return true // not judged outside a whole resource's walk
	}
	if p.anchors == nil {
		p.anchors = map[string]bool{}
		var walk func(n *fhir.Node)
		walk = func(n *fhir.Node) {
			if n.Type == "xhtml" {
				s, _ := n.Value.(string)
				for _, a := range anchors(s) {
					p.anchors[a] = true
				}
				return
			}
			if n.Name == "contained" {
				p.anchors[n.Text("id")] = true
			}
			for _, c := range n.Children {
				walk(c)
			}
		}
		walk(p.top)
	}
	return p.anchors[name]
}

// anchors returns the values of the id and name attributes in the XHTML s.
func anchors(s string) []string {
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = false
	d.Entity = xml.HTMLEntity
	var out []string
	for {
		tok, err := d.Token()
		if err != nil {
			return out
		}
		if t, ok := tok.(xml.StartElement); ok {
			for _, a := range t.Attr {
				if a.Name.Local == "id" || a.Name.Local == "name" {
					out = append(out, a.Value)
				}
			}
		}
	}
}

// badEntities returns the names of the named entities in s other than XML's own.
func badEntities(s string) []string {
	var out []string
	for i := strings.IndexByte(s, '&'); i >= 0; {
		rest := s[i+1:]
		end := strings.IndexByte(rest, ';')
		if end > 0 && rest[0] != '#' && isName(rest[:end]) && !xmlEntities[rest[:end]] {
			out = append(out, rest[:end])
		}
		j := strings.IndexByte(rest, '&')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return out
}

func isName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// hyperlink is an <a href> of a narrative: its URL, the scheme that URL names, where it is
// (element names from the div, joined by '/') and its text.
type hyperlink struct {
	href, scheme, at, text string
}

// hyperlinks returns the links (<a href>) of the XHTML s, with their schemes.
func hyperlinks(s string) []hyperlink {
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = false
	d.Entity = xml.HTMLEntity
	var stack []string
	var out []hyperlink
	open := -1 // index in out of the link whose text is being read
	depthA := 0
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			stack = append(stack, t.Name.Local)
			if open >= 0 {
				depthA++
			}
			if t.Name.Local != "a" || open >= 0 {
				continue
			}
			for _, a := range t.Attr {
				if a.Name.Local == "href" {
					out = append(out, hyperlink{href: a.Value, scheme: urlScheme(a.Value), at: strings.Join(stack, "/")})
					open, depthA = len(out)-1, 0
				}
			}
		case xml.EndElement:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			if open >= 0 {
				if depthA == 0 {
					out[open].text = normalSpace(out[open].text)
					open = -1
				} else {
					depthA--
				}
			}
		case xml.CharData:
			if open >= 0 {
				out[open].text += string(t)
			}
		}
	}
	return out
}

// urlScheme returns the scheme of an absolute URL (RFC 3986 section 3.1), or "".
func urlScheme(u string) string {
	for i := 0; i < len(u); i++ {
		c := u[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return u[:i]
		default:
			return ""
		}
	}
	return ""
}

// Extensions on a profile's Narrative element that control the narrative's shape.
const (
	narrativeLanguageControl = "http://hl7.org/fhir/StructureDefinition/narrative-language-control"
	narrativeSourceControl   = "http://hl7.org/fhir/StructureDefinition/narrative-source-control"
)

// narrativeControl applies what profile element ed, through the narrative control
// extensions, asks of Narrative n: language sections (top-level divs with a lang) that are
// required, prohibited, or must include the resource's language; and a class naming the
// source (boilerplate, generated, original) on every top-level part.
func (p *pwalk) narrativeControl(ps *prepared, ed *profiles.ElementDefinition, n *fhir.Node, path string, res *fhir.Node) {
	var lang, source string
	for _, x := range ed.Node.Child("extension") {
		switch x.Text("url") {
		case narrativeLanguageControl:
			lang = x.First("value").String()
		case narrativeSourceControl:
			source = x.First("value").String()
		}
	}
	if lang == "" && source == "" {
		return
	}
	div := n.First("div")
	if div == nil {
		return
	}
	s, _ := div.Value.(string)
	sections, unsourced := divParts(s)
	profile := "StructureDefinition[" + ps.sd.URL + "]"
	switch lang {
	case "":
	case "_no":
		if len(sections) > 0 {
			p.add(fhir.SeverityError, fhir.IssueBusinessRule, path, "The xhtml has some language sections (%s), but language sections are prohibited in this context by the profile %s",
				strings.Join(sections, ", "), profile)
		}
	case "_yes":
		if len(sections) == 0 {
			p.add(fhir.SeverityError, fhir.IssueBusinessRule, path, "The xhtml has no language sections, but language sections are required in this context by the profile %s", profile)
		}
	default:
		want := lang
		if lang == "_resource" {
			if want = res.Text("language"); want == "" {
				break
			}
		}
		if !slices.ContainsFunc(sections, func(l string) bool { return sameLanguage(l, want) }) {
			what := "the resource language"
			if lang != "_resource" {
				what = "the language"
			}
			p.add(fhir.SeverityError, fhir.IssueBusinessRule, path, "The profile %s requires a section in the narrative for %s (%s), but it was not found (found %s)",
				profile, what, want, strings.Join(sections, ", "))
		}
	}
	if source != "" && source != "ignore" {
		for _, u := range unsourced {
			p.add(fhir.SeverityError, fhir.IssueBusinessRule, path, "The xhtml node at '%s' does not have a class attribute to indicate its source (boilerplate, generated, or original) and this is required by the profile %s",
				u, profile)
		}
	}
}

// narrativeSources are the classes that say where a part of a narrative comes from.
var narrativeSources = []string{"boilerplate", "generated", "original"}

// divParts reads the top level of a narrative div: the languages of its language sections
// (child elements with a lang), sorted, and the text of each part (a child element or a
// run of text) that has no class naming its source.
func divParts(s string) (sections, unsourced []string) {
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = false
	d.Entity = xml.HTMLEntity
	depth := 0
	var text strings.Builder // the text of the current top-level element without a source
	open := false
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth != 2 {
				continue
			}
			sourced := false
			for _, a := range t.Attr {
				switch a.Name.Local {
				case "lang":
					if !slices.Contains(sections, a.Value) {
						sections = append(sections, a.Value)
					}
				case "class":
					for _, c := range strings.Fields(a.Value) {
						sourced = sourced || slices.Contains(narrativeSources, c)
					}
				}
			}
			open = !sourced
			text.Reset()
		case xml.EndElement:
			if depth == 2 && open {
				unsourced = append(unsourced, normalSpace(text.String()))
				open = false
			}
			depth--
		case xml.CharData:
			switch {
			case depth == 1 && strings.TrimSpace(string(t)) != "":
				unsourced = append(unsourced, normalSpace(string(t)))
			case depth >= 2 && open:
				text.Write(t)
			}
		}
	}
	sort.Strings(sections)
	return sections, unsourced
}
