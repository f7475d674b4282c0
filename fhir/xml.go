package fhir

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/concord-health/concord/fhir/definitions"
)

// XML namespaces of FHIR resources and of their narrative.
const (
	NamespaceFHIR  = "http://hl7.org/fhir"
	NamespaceXHTML = "http://www.w3.org/1999/xhtml"
	namespaceXSI   = "http://www.w3.org/2001/XMLSchema-instance"
	namespaceXML   = "http://www.w3.org/XML/1998/namespace"
)

// maxXMLDepth bounds element nesting anywhere in a document, narrative included, so that a
// hostile document cannot grow the decoder's element stack without limit. FHIR elements are
// also held to the JSON nesting limit (maxDepth), which is reached first.
const maxXMLDepth = 1000

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// errStop unwinds the conversion after a problem that makes the rest of the document
// meaningless (not well-formed, a DOCTYPE, nesting too deep); the issue is already recorded.
var errStop = errors.New("xml: stop")

// ParseXML reads one resource in the FHIR XML format and checks it as Parse does. The XML is
// converted, in one streaming pass guided by the definitions, into the equivalent JSON, which
// Parse then checks: there is one structural checker for both formats.
//
// Beyond Parse's checks, the conversion rejects: XML that is not well-formed, or not UTF-8
// (issue code "invalid"); and, as structural problems, a DOCTYPE (entity expansion is a known
// attack), elements outside the FHIR namespace (the narrative div outside XHTML's), unknown
// elements and attributes, text where FHIR allows none, repeats of a single-valued element,
// repeats of one element that are not adjacent, and elements with neither a value nor
// content. Other elements out of definition order are read, as JSON has no order to keep.
// A leading byte order mark, the XML declaration, comments and processing instructions are
// accepted; xsi:schemaLocation on a resource is ignored.
func ParseXML(data []byte) (*Resource, error) {
	c := xmlConvs.Get().(*xmlConv)
	defer c.release()
	js, err := c.convert(data)
	if err != nil {
		return nil, err
	}
	return Parse(js)
}

// xmlConv is the reusable state of one XML-to-JSON conversion.
type xmlConv struct {
	dec    *xml.Decoder
	rd     bytes.Reader
	data   []byte
	tables *parseTables
	issues []Issue
	// path is the location of the element being read, in Parse's notation.
	path []byte
	// start is the input offset at which the last token began; with the decoder's offset
	// after it, it delimits the token's source text.
	start int64
	// tag is the source text of the start tag being read.
	tag      []byte
	line     int // the line on which the last token began
	xmlDepth int // open XML elements
	depth    int // open JSON objects and arrays, bounded like Parse's

	out      []byte
	free     [][]byte // scratch buffers for primitive groups
	div      []byte
	divStack []divOpen
	seen     []seenElement // runs of elements per open object, innermost last
}

var xmlConvs = sync.Pool{New: func() any { return new(xmlConv) }}

func (c *xmlConv) release() {
	if cap(c.out) > 1<<20 || cap(c.div) > 1<<20 {
		return // one huge document should not pin its buffers for the rest of the process
	}
	// The issues went to the caller's error; everything else is scratch.
	clear(c.divStack[:cap(c.divStack)])
	clear(c.seen[:cap(c.seen)])
	*c = xmlConv{out: c.out[:0], free: c.free, div: c.div[:0], divStack: c.divStack[:0], path: c.path[:0], seen: c.seen[:0]}
	xmlConvs.Put(c)
}

// convert returns the JSON form of an XML resource, or an *Error.
func (c *xmlConv) convert(data []byte) ([]byte, error) {
	data = bytes.TrimPrefix(data, utf8BOM)
	c.data, c.tables = data, tablesFor()
	c.rd.Reset(data)
	c.dec = xml.NewDecoder(&c.rd)
	b, root := c.out[:0], false
	for {
		tok, err := c.next()
		if err != nil {
			if err == io.EOF && !root {
				c.malformed("no root element")
			}
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root {
				c.malformed("content after the root element")
				err = errStop
				break
			}
			root = true
			c.tag = c.data[c.start:c.dec.InputOffset()]
			b, err = c.resource(b, t, "")
		case xml.CharData:
			if !isXMLSpace(t) {
				c.malformed("text outside the root element")
				err = errStop
			}
		}
		if err != nil {
			break
		}
	}
	c.out = b
	if len(c.issues) > 0 {
		return nil, &Error{Status: 400, Issues: c.issues}
	}
	return b, nil
}

// next reads one token, recording where it began, and turns every way the document can fail
// as XML into an issue and errStop. io.EOF is returned as it is, after the root element only.
func (c *xmlConv) next() (xml.Token, error) {
	c.start = c.dec.InputOffset()
	c.line, _ = c.dec.InputPos()
	tok, err := c.dec.Token()
	if err != nil {
		if err == io.EOF && c.xmlDepth == 0 {
			return nil, io.EOF
		}
		var se *xml.SyntaxError
		if errors.As(err, &se) {
			c.malformed(fmt.Sprintf("line %d: %s", se.Line, se.Msg))
		} else {
			c.malformed(err.Error())
		}
		return nil, errStop
	}
	switch t := tok.(type) {
	case xml.StartElement:
		c.xmlDepth++
		if c.xmlDepth > maxXMLDepth {
			c.fail("elements nested deeper than %d levels", maxXMLDepth)
			return nil, errStop
		}
		// encoding/xml does not enforce that attributes are unique.
		for i := 1; i < len(t.Attr); i++ {
			for _, a := range t.Attr[:i] {
				if a.Name == t.Attr[i].Name {
					c.malformed(fmt.Sprintf("line %d: attribute %s repeated", c.line, attrName(a)))
					return nil, errStop
				}
			}
		}
	case xml.ProcInst:
		// Nor that the XML declaration comes first.
		if strings.EqualFold(t.Target, "xml") && c.start != 0 {
			c.malformed(fmt.Sprintf("line %d: the XML declaration must be at the start of the document", c.line))
			return nil, errStop
		}
	case xml.EndElement:
		c.xmlDepth--
	case xml.Directive:
		// A DOCTYPE could declare entities (billion laughs, external entities); FHIR XML
		// has no use for one.
		c.fail("DOCTYPE and other markup declarations are not allowed")
		return nil, errStop
	}
	return tok, nil
}

func (c *xmlConv) malformed(msg string) {
	c.issues = append(c.issues, Issue{Severity: SeverityError, Code: IssueInvalid, Diagnostics: "invalid XML: " + msg})
}

// fail records a structural problem at the current path, with the line it was found on.
func (c *xmlConv) fail(format string, args ...any) {
	is := Issue{Severity: SeverityError, Code: IssueStructure,
		Diagnostics: fmt.Sprintf(format, args...) + fmt.Sprintf(" (line %d)", c.line)}
	if len(c.path) > 0 {
		is.Expression = []string{string(c.path)}
	}
	c.issues = append(c.issues, is)
}

// failText reports text where FHIR has none: values belong in value attributes.
func (c *xmlConv) failText(text []byte) {
	t := string(bytes.TrimSpace(text))
	for i := range t {
		if i >= 40 {
			t = t[:i] + "…"
			break
		}
	}
	c.fail("text %q is not allowed here (FHIR elements hold values in value attributes)", t)
}

// open counts a JSON object or array about to be written against the nesting Parse allows,
// so that a deep document is refused here, in terms of its elements.
func (c *xmlConv) open() error {
	c.depth++
	if c.depth > maxDepth {
		c.fail("elements nested deeper than %d levels", maxDepth)
		return errStop
	}
	return nil
}

// skip reads past the rest of the element whose start tag was just read.
func (c *xmlConv) skip() error {
	for d := 0; ; {
		tok, err := c.next()
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			d++
		case xml.EndElement:
			if d == 0 {
				return nil
			}
			d--
		}
	}
}

func isXMLSpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// isNamespaceDecl reports whether a is an xmlns or xmlns:prefix declaration.
func isNamespaceDecl(a xml.Attr) bool {
	return a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns"
}

func attrName(a xml.Attr) string {
	if a.Name.Space == "" {
		return a.Name.Local
	}
	return "{" + a.Name.Space + "}" + a.Name.Local
}

// attr returns the value of an unprefixed attribute of the current start tag. encoding/xml
// keeps tabs and line breaks written literally in attribute values; XML turns each into a
// space (only character references keep them), so such tags are read again from the source.
func (c *xmlConv) attr(a xml.Attr) string {
	if bytes.IndexAny(c.tag, "\t\n\r") < 0 {
		return a.Value
	}
	if v, ok := rawAttr(c.tag, a.Name.Local); ok {
		return v
	}
	return a.Value
}

// rawAttr finds an unprefixed attribute in the source text of a well-formed start tag and
// returns its normalized value.
func rawAttr(tag []byte, name string) (string, bool) {
	i := 1
	for i < len(tag) && !isSpaceByte(tag[i]) && tag[i] != '>' && tag[i] != '/' {
		i++
	}
	for {
		for i < len(tag) && isSpaceByte(tag[i]) {
			i++
		}
		if i >= len(tag) || tag[i] == '>' || tag[i] == '/' {
			return "", false
		}
		start := i
		for i < len(tag) && tag[i] != '=' && !isSpaceByte(tag[i]) {
			i++
		}
		an := tag[start:i]
		for i < len(tag) && tag[i] != '"' && tag[i] != '\'' {
			i++
		}
		if i >= len(tag) {
			return "", false
		}
		q := tag[i]
		i++
		vs := i
		for i < len(tag) && tag[i] != q {
			i++
		}
		if string(an) == name {
			return normalizeAttr(tag[vs:min(i, len(tag))]), true
		}
		i++
	}
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// normalizeAttr applies XML attribute-value normalization to source text: line ends and
// other literal whitespace become single spaces, then references are replaced.
func normalizeAttr(v []byte) string {
	var sb strings.Builder
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\r':
			if i+1 < len(v) && v[i+1] == '\n' {
				i++
			}
			sb.WriteByte(' ')
		case '\n', '\t':
			sb.WriteByte(' ')
		case '&':
			j := bytes.IndexByte(v[i:], ';')
			if j < 0 {
				sb.WriteByte(c)
				continue
			}
			if r, ok := xmlReference(string(v[i+1 : i+j])); ok {
				sb.WriteString(r)
				i += j
			} else {
				sb.WriteByte(c)
			}
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

// xmlReference resolves the text between & and ; of a predefined entity or a character
// reference.
func xmlReference(ref string) (string, bool) {
	switch ref {
	case "lt":
		return "<", true
	case "gt":
		return ">", true
	case "amp":
		return "&", true
	case "apos":
		return "'", true
	case "quot":
		return `"`, true
	}
	if len(ref) < 2 || ref[0] != '#' {
		return "", false
	}
	base, digits := 10, ref[1:]
	if digits[0] == 'x' {
		base, digits = 16, digits[1:]
	}
	var r rune
	for _, d := range []byte(digits) {
		var v rune
		switch {
		case d >= '0' && d <= '9':
			v = rune(d - '0')
		case base == 16 && d >= 'a' && d <= 'f':
			v = rune(d-'a') + 10
		case base == 16 && d >= 'A' && d <= 'F':
			v = rune(d-'A') + 10
		default:
			return "", false
		}
		r = r*rune(base) + v
		if r > 0x10FFFF {
			return "", false
		}
	}
	if digits == "" {
		return "", false
	}
	return string(r), true
}

// resource converts a resource element, whose start tag t was just read, into a JSON object.
// want is the resource type the element must have ("" for any).
func (c *xmlConv) resource(b []byte, t xml.StartElement, want string) ([]byte, error) {
	if t.Name.Space != NamespaceFHIR {
		c.fail("element %s is not in the FHIR namespace %s", t.Name.Local, NamespaceFHIR)
		return b, c.skip()
	}
	rt, ok := c.tables.resources[t.Name.Local]
	if !ok {
		c.fail("unknown resource type %q", t.Name.Local)
		return b, c.skip()
	}
	if want != "" && rt != want {
		c.fail("expected a resource of type %s, found %s", want, rt)
		return b, c.skip()
	}
	root := len(c.path) == 0
	if root {
		c.path = append(c.path, rt...)
	}
	for _, a := range t.Attr {
		if isNamespaceDecl(a) || a.Name.Space == namespaceXSI && (a.Name.Local == "schemaLocation" || a.Name.Local == "noNamespaceSchemaLocation") {
			continue
		}
		c.fail("unknown attribute %s on %s", attrName(a), rt)
	}
	if err := c.open(); err != nil {
		return b, err
	}
	b = append(b, `{"resourceType":"`...)
	b = append(b, rt...)
	b = append(b, '"')
	b, err := c.members(b, rt, true, true)
	c.depth--
	if root {
		c.path = c.path[:0]
	}
	return append(b, '}'), err
}

// xmlGroup is a run of sibling elements with one name: one JSON property. Complex values are
// written to the object as they are read; primitive values and their "_name" companions are
// collected apart, since JSON holds them in two properties.
type xmlGroup struct {
	info       *childInfo
	name       string
	n          int
	vals, exts []byte
	hasVal     bool
	hasExt     bool
}

// members converts the child elements of the element whose start tag was just read, up to
// its end tag, into members of the JSON object being written to b. defPath locates their
// definitions; resource says that the element is a resource, whose id is an element rather
// than an attribute; more says whether b already holds members.
func (c *xmlConv) members(b []byte, defPath string, resource, more bool) ([]byte, error) {
	table := c.tables.children(defPath)
	var g xmlGroup
	seen := len(c.seen)
	defer func() { c.seen = c.seen[:seen] }()
	for {
		tok, err := c.next()
		if err != nil {
			return b, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return c.flush(b, &g, &more), nil
		case xml.CharData:
			if !isXMLSpace(t) {
				c.failText(t)
			}
			continue
		case xml.StartElement:
			c.tag = c.data[c.start:c.dec.InputOffset()]
			name := t.Name.Local
			info, ok := table[name]
			if !ok {
				info = c.tables.resolve(defPath, name)
			}
			if info == nil {
				c.fail("unknown element %q", name)
				if err := c.skip(); err != nil {
					return b, err
				}
				continue
			}
			if ns := t.Name.Space; info.typ == "xhtml" && ns != NamespaceXHTML || info.typ != "xhtml" && ns != NamespaceFHIR {
				want := NamespaceFHIR
				if info.typ == "xhtml" {
					want = NamespaceXHTML
				}
				c.fail("element %s is in namespace %q, not %s", name, ns, want)
				if err := c.skip(); err != nil {
					return b, err
				}
				continue
			}
			if name == "id" && !resource || info.el.Path == "Extension.url" {
				c.fail("%s must be an attribute, not an element", name)
				if err := c.skip(); err != nil {
					return b, err
				}
				continue
			}
			if g.info != nil && info.el == g.info.el && name == g.name {
				if !info.array {
					c.fail("element %s must not repeat", name)
					if err := c.skip(); err != nil {
						return b, err
					}
					continue
				}
				g.n++
			} else {
				if problem := c.seenBefore(seen, info.el, name); problem != "" {
					c.fail("%s", problem)
					if err := c.skip(); err != nil {
						return b, err
					}
					continue
				}
				b = c.flush(b, &g, &more)
				if b, err = c.startGroup(b, &g, info, name, &more); err != nil {
					return b, err
				}
				c.seen = append(c.seen, seenElement{info.el, name})
			}
			mark := len(c.path)
			c.path = append(append(c.path, '.'), name...)
			if info.array {
				c.path = append(strconv.AppendInt(append(c.path, '['), int64(g.n-1), 10), ']')
			}
			if !info.prim && g.n > 1 {
				b = append(b, ',')
			}
			switch {
			case info.typ == "Resource" || info.resType:
				b, err = c.contained(b, t, info)
			case info.typ == "xhtml":
				err = c.narrative(&g, t)
			case info.prim:
				err = c.primitive(&g, t, info)
			default:
				b, err = c.complex(b, t, info)
			}
			c.path = c.path[:mark]
			if err != nil {
				return b, err
			}
		}
	}
}

// seenElement is an element already converted in the object being read.
type seenElement struct {
	el   *definitions.Element
	name string
}

// seenBefore describes what is wrong with an element that starts a new run of elements in
// an object whose runs so far are c.seen[base:], or returns "". Elements out of definition
// order are read (JSON has no order, and the official FHIRPath test data depends on it), but
// one element in two places has no single order to keep.
func (c *xmlConv) seenBefore(base int, el *definitions.Element, name string) string {
	for _, s := range c.seen[base:] {
		if s.el != el {
			continue
		}
		if s.name != name {
			return "element " + el.Name + " has more than one choice of type"
		}
		return "element " + name + " appears again after other elements; repeats must be adjacent"
	}
	return ""
}

// startGroup begins the property of a new run of elements; complex values open it in b
// at once, primitives get scratch buffers.
func (c *xmlConv) startGroup(b []byte, g *xmlGroup, info *childInfo, name string, more *bool) ([]byte, error) {
	*g = xmlGroup{info: info, name: name, n: 1}
	if info.array {
		if err := c.open(); err != nil {
			return b, err
		}
	}
	if info.prim {
		g.vals, g.exts = c.buf(), c.buf()
		return b, nil
	}
	b = appendMemberKey(b, name, false, more)
	if info.array {
		b = append(b, '[')
	}
	return b, nil
}

// flush ends the property of the current run of elements.
func (c *xmlConv) flush(b []byte, g *xmlGroup, more *bool) []byte {
	info := g.info
	if info == nil {
		return b
	}
	if info.array {
		c.depth--
	}
	if !info.prim {
		if info.array {
			b = append(b, ']')
		}
		g.info = nil
		return b
	}
	for _, part := range [2]struct {
		has       bool
		data      []byte
		companion bool
	}{{g.hasVal, g.vals, false}, {g.hasExt, g.exts, true}} {
		if !part.has {
			continue
		}
		b = appendMemberKey(b, g.name, part.companion, more)
		if info.array {
			b = append(b, '[')
		}
		b = append(b, part.data...)
		if info.array {
			b = append(b, ']')
		}
	}
	c.free = append(c.free, g.vals, g.exts)
	g.info = nil
	return b
}

func (c *xmlConv) buf() []byte {
	if n := len(c.free); n > 0 {
		b := c.free[n-1]
		c.free = c.free[:n-1]
		return b[:0]
	}
	return make([]byte, 0, 128)
}

func appendMemberKey(b []byte, name string, companion bool, more *bool) []byte {
	if *more {
		b = append(b, ',')
	}
	*more = true
	b = append(b, '"')
	if companion {
		b = append(b, '_')
	}
	b = append(b, name...)
	return append(b, '"', ':')
}

// complex converts an element of a complex type: its id (and an extension's url) from
// attributes, the rest from child elements.
func (c *xmlConv) complex(b []byte, t xml.StartElement, info *childInfo) ([]byte, error) {
	if err := c.open(); err != nil {
		return b, err
	}
	b = append(b, '{')
	more := false
	for _, a := range t.Attr {
		switch {
		case isNamespaceDecl(a):
		case a.Name.Space == "" && (a.Name.Local == "id" || a.Name.Local == "url" && info.childPath == "Extension"):
			b = appendMemberKey(b, a.Name.Local, false, &more)
			b = appendString(b, c.attr(a))
		default:
			c.fail("unknown attribute %s", attrName(a))
		}
	}
	b, err := c.members(b, info.childPath, false, more)
	c.depth--
	return append(b, '}'), err
}

// primitive converts an element of a primitive type: the value attribute into the JSON value
// and the id attribute and extension children into the "_name" companion, with null where
// one or the other is absent.
func (c *xmlConv) primitive(g *xmlGroup, t xml.StartElement, info *childInfo) error {
	var value, id string
	hasValue, hasID := false, false
	for _, a := range t.Attr {
		switch {
		case isNamespaceDecl(a):
		case a.Name.Space == "" && a.Name.Local == "value":
			value, hasValue = c.attr(a), true
		case a.Name.Space == "" && a.Name.Local == "id":
			id, hasID = c.attr(a), true
		default:
			c.fail("unknown attribute %s", attrName(a))
		}
	}
	if g.n > 1 {
		g.vals = append(g.vals, ',')
		g.exts = append(g.exts, ',')
	}
	if hasValue {
		g.vals = c.appendValue(g.vals, info.typ, value)
		g.hasVal = true
	} else {
		g.vals = append(g.vals, "null"...)
	}
	// The companion object counts towards the nesting only if it is written.
	c.depth++
	mark := len(g.exts)
	g.exts = append(g.exts, '{')
	more := false
	if hasID {
		g.exts = appendMemberKey(g.exts, "id", false, &more)
		g.exts = appendString(g.exts, id)
	}
	var err error
	g.exts, err = c.members(g.exts, "Element", false, more)
	if len(g.exts) == mark+1 {
		g.exts = append(g.exts[:mark], "null"...)
		if !hasValue && err == nil {
			c.fail("element has neither a value nor extensions")
		}
	} else {
		g.exts = append(g.exts, '}')
		g.hasExt = true
		if err == nil && c.depth > maxDepth {
			c.fail("elements nested deeper than %d levels", maxDepth)
			err = errStop
		}
	}
	c.depth--
	return err
}

// appendValue appends a value attribute as the JSON value of its type: booleans and numbers
// bare (numbers as written, so that decimals keep their precision), everything else a string.
func (c *xmlConv) appendValue(b []byte, typ, v string) []byte {
	switch typ {
	case "boolean":
		if v == "true" || v == "false" {
			return append(b, v...)
		}
		c.fail("invalid boolean %q", v)
		return append(b, "null"...)
	case "integer", "positiveInt", "unsignedInt", "decimal":
		if isJSONNumber(v) {
			return append(b, v...)
		}
		c.fail("invalid %s %q", typ, v)
		return append(b, "null"...)
	}
	return appendString(b, v)
}

// isJSONNumber reports whether s is a number as JSON writes it, which is also the form FHIR
// gives integers and decimals.
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	return i == len(s)
}

// contained converts an element that holds a resource (contained, Bundle.entry.resource,
// Bundle.entry.response.outcome…): the one child element is the resource.
func (c *xmlConv) contained(b []byte, t xml.StartElement, info *childInfo) ([]byte, error) {
	for _, a := range t.Attr {
		if !isNamespaceDecl(a) {
			c.fail("unknown attribute %s", attrName(a))
		}
	}
	want := ""
	if info.resType {
		want = info.typ
	}
	found := false
	for {
		tok, err := c.next()
		if err != nil {
			return b, err
		}
		switch tt := tok.(type) {
		case xml.EndElement:
			if !found {
				c.fail("element %s must hold a resource", t.Name.Local)
			}
			return b, nil
		case xml.CharData:
			if !isXMLSpace(tt) {
				c.failText(tt)
			}
		case xml.StartElement:
			if found {
				c.fail("element %s holds more than one resource", t.Name.Local)
				err = c.skip()
			} else {
				found = true
				c.tag = c.data[c.start:c.dec.InputOffset()]
				b, err = c.resource(b, tt, want)
			}
			if err != nil {
				return b, err
			}
		}
	}
}

// narrative converts Narrative.div, whose value in JSON is the XHTML as text.
func (c *xmlConv) narrative(g *xmlGroup, t xml.StartElement) error {
	s, err := c.xhtml(t)
	g.vals = appendString(g.vals, s)
	g.exts = append(g.exts, "null"...)
	g.hasVal = true
	return err
}

// divOpen is an open element of a narrative being copied.
type divOpen struct {
	space     string // its namespace, the default for unprefixed children in the copy
	local     string
	rewritten bool // its start tag was rewritten, so its end tag must be too
	empty     bool // written as <x/>
}

// xhtml returns the narrative div whose start tag t was just read as text. The source is
// copied token by token, so that the narrative keeps its exact form (entity references,
// quotes, <br/>); only a tag whose namespace the copy alone would not carry (the div without
// its xmlns declaration, prefixed names declared outside the div) is rewritten with explicit
// declarations.
func (c *xmlConv) xhtml(t xml.StartElement) (string, error) {
	out := c.div[:0]
	stack := c.divStack[:0]
	var tok xml.Token = t
	for {
		raw := c.data[c.start:c.dec.InputOffset()]
		switch tt := tok.(type) {
		case xml.StartElement:
			parent := ""
			if len(stack) > 0 {
				parent = stack[len(stack)-1].space
			}
			o := divOpen{space: tt.Name.Space, local: tt.Name.Local}
			if copyable(tt, raw, parent) {
				out = append(out, raw...)
			} else {
				o.rewritten, o.empty = true, bytes.HasSuffix(raw, []byte("/>"))
				out = rewriteTag(out, tt, raw, parent)
			}
			stack = append(stack, o)
		case xml.EndElement:
			o := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			switch {
			case !o.rewritten:
				out = append(out, raw...)
			case !o.empty:
				out = append(append(append(out, "</"...), o.local...), '>')
			}
		default:
			out = append(out, raw...)
		}
		if len(stack) == 0 {
			break
		}
		var err error
		if tok, err = c.next(); err != nil {
			c.div, c.divStack = out, stack
			return "", err
		}
	}
	c.div, c.divStack = out, stack
	if bytes.IndexByte(out, '\r') >= 0 {
		// XML reads every line break as \n; so does the text of the narrative.
		out = bytes.ReplaceAll(out, []byte("\r\n"), []byte("\n"))
		out = bytes.ReplaceAll(out, []byte("\r"), []byte("\n"))
	}
	return string(out), nil
}

// copyable reports whether a start tag means the same copied on its own: its names are
// unprefixed (or xml:, which is predefined) and its namespace is the default in the copy, or
// declared by the tag itself.
func copyable(t xml.StartElement, raw []byte, parent string) bool {
	end := bytes.IndexAny(raw, " \t\r\n/>")
	if end < 0 || bytes.IndexByte(raw[:end], ':') >= 0 {
		return false
	}
	declares := false
	for _, a := range t.Attr {
		switch {
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			declares = true
		case a.Name.Space == "", a.Name.Space == "xmlns", a.Name.Space == namespaceXML:
		default:
			return false
		}
	}
	return declares || t.Name.Space == parent
}

// rewriteTag writes a start tag with its namespace declared explicitly and its attributes'
// namespaces bound to fresh prefixes.
func rewriteTag(out []byte, t xml.StartElement, raw []byte, parent string) []byte {
	out = append(append(out, '<'), t.Name.Local...)
	if t.Name.Space != parent {
		out = append(out, ` xmlns="`...)
		out = appendXMLAttr(out, t.Name.Space)
		out = append(out, '"')
	}
	k := 0
	for _, a := range t.Attr {
		v := a.Value
		switch {
		case isNamespaceDecl(a):
			continue
		case a.Name.Space == "":
			if nv, ok := rawAttr(raw, a.Name.Local); ok {
				v = nv
			}
			out = append(append(append(out, ' '), a.Name.Local...), `="`...)
		case a.Name.Space == namespaceXML:
			out = append(append(append(out, " xml:"...), a.Name.Local...), `="`...)
		default:
			out = fmt.Appendf(out, ` xmlns:n%d="`, k)
			out = appendXMLAttr(out, a.Name.Space)
			out = fmt.Appendf(out, `" n%d:%s="`, k, a.Name.Local)
			k++
		}
		out = append(appendXMLAttr(out, v), '"')
	}
	if bytes.HasSuffix(raw, []byte("/>")) {
		return append(out, "/>"...)
	}
	return append(out, '>')
}
