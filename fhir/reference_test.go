package fhir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/concord-health/concord/fhir/definitions"
)

// A reference parser and serializer for the differential tests (diff_test.go): encoding/json
// into maps, then a walk over the maps. Slow, but plainly driven by the definitions, so that
// Parse and Marshal can be checked against them on any input.

// refParse reads one resource from JSON and checks it structurally: valid JSON, a known
// resourceType, only elements its StructureDefinition knows, arrays where the definition
// repeats and nowhere else, and primitive values of the right form. All problems are
// reported together as an *Error with issue code "structure" (or "invalid" for bad JSON).
func refParse(data []byte) (*Resource, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, Errorf(400, IssueInvalid, "invalid JSON: %v", err)
	}
	if dec.More() {
		return nil, Errorf(400, IssueInvalid, "invalid JSON: trailing data after the resource")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, Errorf(400, IssueInvalid, "a resource must be a JSON object")
	}
	return refParseObject(obj)
}

// refParseObject builds a resource from an already decoded JSON object (decoded with
// UseNumber so that decimals keep their precision).
func refParseObject(obj map[string]any) (*Resource, error) {
	p := refParser{reg: definitions.R4()}
	root := p.resource(obj, "", nil)
	if len(p.issues) > 0 {
		return nil, &Error{Status: 400, Issues: p.issues}
	}
	return &Resource{Type: root.Type, ID: root.Text("id"), Root: root}, nil
}

type refParser struct {
	reg    *definitions.Registry
	issues []Issue
}

func (p *refParser) fail(path, format string, args ...any) {
	p.issues = append(p.issues, Issue{Severity: SeverityError, Code: IssueStructure,
		Diagnostics: fmt.Sprintf(format, args...), Expression: []string{path}})
}

// resource parses a resource object; path is its location ("" for the root).
func (p *refParser) resource(obj map[string]any, path string, def *definitions.Element) *Node {
	rt, _ := obj["resourceType"].(string)
	if rt == "" {
		p.fail(refOrRoot(path), "missing resourceType")
		return &Node{Name: "Resource", Type: "Resource", Def: def}
	}
	if !p.reg.IsResource(rt) {
		p.fail(refOrRoot(path), "unknown resourceType %q", rt)
		return &Node{Name: rt, Type: rt, Def: def}
	}
	n := &Node{Name: rt, Type: rt, Def: def, defPath: rt}
	if def != nil {
		n.Name = def.Name
	}
	if path == "" {
		path = rt
	}
	p.object(n, obj, path)
	return n
}

func refOrRoot(path string) string {
	if path == "" {
		return "$this"
	}
	return path
}

type refKeyed struct {
	key   string
	el    *definitions.Element
	typ   string
	value any
	ext   any
	has   bool // the plain key is present (not only "_key")
}

// object fills n's children from a JSON object.
func (p *refParser) object(n *Node, obj map[string]any, path string) {
	props := make([]refKeyed, 0, len(obj))
	index := map[string]int{}
	for k, v := range obj {
		if k == "resourceType" && n.IsResource() {
			continue
		}
		name, isExt := k, false
		if strings.HasPrefix(k, "_") {
			name, isExt = k[1:], true
		}
		i, seen := index[name]
		if !seen {
			el, typ, ok := p.reg.Child(n.defPath, name)
			if !ok {
				p.fail(path, "unknown element %q", k)
				continue
			}
			if typ == "" && el.ContentRef != "" {
				if ref := p.reg.Element(el.ContentRef); ref != nil && len(ref.Types) == 1 {
					typ = ref.Types[0].Code
				}
			}
			i = len(props)
			index[name] = i
			props = append(props, refKeyed{key: name, el: el, typ: typ})
		}
		if isExt {
			props[i].ext = v
		} else {
			props[i].value, props[i].has = v, true
		}
	}
	sort.Slice(props, func(a, b int) bool { return props[a].el.Index < props[b].el.Index })
	for i, pr := range props {
		if i > 0 && props[i-1].el == pr.el {
			p.fail(path, "element %s has more than one choice of type", pr.el.Name)
			continue
		}
		p.property(n, pr, path+"."+pr.key)
	}
}

func (p *refParser) property(n *Node, pr refKeyed, path string) {
	prim := isPrimitiveType(pr.typ)
	if pr.ext != nil && !prim {
		p.fail(path, "%q is not a primitive and cannot have a _%s companion", pr.key, pr.key)
		return
	}
	if pr.el.IsArray() {
		var vals, exts []any
		if pr.has {
			a, ok := pr.value.([]any)
			if !ok {
				p.fail(path, "%q must be an array", pr.key)
				return
			}
			vals = a
		}
		if pr.ext != nil {
			a, ok := pr.ext.([]any)
			if !ok {
				p.fail(path, "%q must be an array", "_"+pr.key)
				return
			}
			exts = a
		}
		count := max(len(vals), len(exts))
		if count == 0 {
			p.fail(path, "%q must not be an empty array", pr.key)
		}
		for i := 0; i < count; i++ {
			var v, e any
			if i < len(vals) {
				v = vals[i]
			}
			if i < len(exts) {
				e = exts[i]
			}
			if v == nil && e == nil {
				p.fail(fmt.Sprintf("%s[%d]", path, i), "null is not a valid value")
				continue
			}
			if c := p.value(pr, v, e, fmt.Sprintf("%s[%d]", path, i)); c != nil {
				n.Children = append(n.Children, c)
			}
		}
		return
	}
	if _, isArr := pr.value.([]any); isArr {
		p.fail(path, "%q must not be an array", pr.key)
		return
	}
	if pr.has && pr.value == nil && pr.ext == nil {
		p.fail(path, "null is not a valid value")
		return
	}
	if c := p.value(pr, pr.value, pr.ext, path); c != nil {
		n.Children = append(n.Children, c)
	}
}

func (p *refParser) value(pr refKeyed, v, ext any, path string) *Node {
	switch {
	case pr.typ == "Resource":
		obj, ok := v.(map[string]any)
		if !ok {
			p.fail(path, "expected a resource object")
			return nil
		}
		return p.resource(obj, path, pr.el)
	case isPrimitiveType(pr.typ):
		n := &Node{Name: pr.el.Name, Type: pr.typ, Def: pr.el}
		if v != nil {
			typ := pr.typ
			if root, _, _ := strings.Cut(pr.el.Path, "."); pr.el.Path == root+".id" && p.reg.IsResource(root) {
				typ = "id" // a resource's logical id, published as string but constrained as id
			}
			n.Value = p.primitive(typ, v, path)
		}
		if ext != nil {
			eo, ok := ext.(map[string]any)
			if !ok {
				p.fail(path, "_%s must be an object", pr.key)
				return nil
			}
			n.defPath = "Element"
			p.object(n, eo, path)
			n.defPath = ""
		}
		return n
	default:
		obj, ok := v.(map[string]any)
		if !ok {
			p.fail(path, "%q must be an object (type %s)", pr.key, pr.typ)
			return nil
		}
		if len(obj) == 0 {
			p.fail(path, "%q must not be empty", pr.key)
			return nil
		}
		n := &Node{Name: pr.el.Name, Type: pr.typ, Def: pr.el, defPath: p.reg.ChildPath(pr.el, pr.typ)}
		p.object(n, obj, path)
		return n
	}
}

var (
	refReDate     = regexp.MustCompile(`^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?$`)
	refReDateTime = regexp.MustCompile(`^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?$`)
	refReInstant  = regexp.MustCompile(`^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))$`)
	refReTime     = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?$`)
	refReID       = regexp.MustCompile(`^[A-Za-z0-9\-\.]{1,64}$`)
	refReOID      = regexp.MustCompile(`^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$`)
	refReUUID     = regexp.MustCompile(`^urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	refReBase64   = regexp.MustCompile(`^[A-Za-z0-9+/=\s]*$`)
)

// primitive checks a JSON value against a primitive type and returns the value to store.
func (p *refParser) primitive(typ string, v any, path string) any {
	switch typ {
	case "boolean":
		b, ok := v.(bool)
		if !ok {
			p.fail(path, "expected a JSON boolean for %s", typ)
			return nil
		}
		return b
	case "integer", "positiveInt", "unsignedInt", "decimal":
		num, ok := v.(json.Number)
		if !ok {
			p.fail(path, "expected a JSON number for %s, got %s", typ, refJSONKind(v))
			return nil
		}
		if typ == "decimal" {
			if _, err := strconv.ParseFloat(string(num), 64); err != nil {
				p.fail(path, "invalid decimal %s", num)
			}
			return num
		}
		i, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil || i > math.MaxInt32 || i < math.MinInt32 {
			p.fail(path, "invalid %s %s", typ, num)
			return num
		}
		if typ == "positiveInt" && i < 1 || typ == "unsignedInt" && i < 0 {
			p.fail(path, "invalid %s %s", typ, num)
		}
		return num
	}
	s, ok := v.(string)
	if !ok {
		p.fail(path, "expected a JSON string for %s, got %s", typ, refJSONKind(v))
		return nil
	}
	if s == "" {
		p.fail(path, "empty string is not a valid %s (omit the element instead)", typ)
		return s
	}
	var re *regexp.Regexp
	switch typ {
	case "date":
		re = refReDate
	case "dateTime":
		re = refReDateTime
	case "instant":
		re = refReInstant
	case "time":
		re = refReTime
	case "id":
		re = refReID
	case "oid":
		re = refReOID
	case "uuid":
		re = refReUUID
	case "base64Binary":
		re = refReBase64
	case "code":
		if strings.TrimSpace(s) != s || strings.Contains(s, "  ") {
			p.fail(path, "invalid code %q (leading, trailing or repeated whitespace)", s)
		}
	case "uri", "url", "canonical":
		if strings.ContainsAny(s, " \t\r\n") {
			p.fail(path, "invalid %s %q (contains whitespace)", typ, s)
		}
	}
	if re != nil && !re.MatchString(s) {
		p.fail(path, "invalid %s %q", typ, s)
	}
	return s
}

func refJSONKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// refMarshal is the plain bytes.Buffer serializer that Marshal must match byte for byte.
func refMarshal(n *Node) []byte {
	var b bytes.Buffer
	b.Grow(1024)
	refWriteObject(&b, n)
	return b.Bytes()
}

func refWriteObject(b *bytes.Buffer, n *Node) {
	b.WriteByte('{')
	first := true
	if n.IsResource() {
		b.WriteString(`"resourceType":`)
		refWriteString(b, n.Type)
		first = false
	}
	for i := 0; i < len(n.Children); {
		j := i + 1
		for j < len(n.Children) && n.Children[j].Def == n.Children[i].Def {
			j++
		}
		group := n.Children[i:j]
		refWriteProperty(b, group, &first)
		i = j
	}
	b.WriteByte('}')
}

func refJsonName(c *Node) string {
	if c.Def != nil && c.Def.Choice {
		return c.Def.Name + upperFirst(c.Type)
	}
	return c.Name
}

func refWriteProperty(b *bytes.Buffer, group []*Node, first *bool) {
	c0 := group[0]
	name := refJsonName(c0)
	array := c0.Def == nil || c0.Def.IsArray()
	if !c0.IsPrimitive() || c0.IsResource() {
		refSep(b, first)
		refWriteString(b, name)
		b.WriteByte(':')
		if array {
			b.WriteByte('[')
		}
		for i, c := range group {
			if i > 0 {
				b.WriteByte(',')
			}
			refWriteObject(b, c)
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
		refSep(b, first)
		refWriteString(b, name)
		b.WriteByte(':')
		if array {
			b.WriteByte('[')
		}
		for i, c := range group {
			if i > 0 {
				b.WriteByte(',')
			}
			refWritePrimitive(b, c.Value)
		}
		if array {
			b.WriteByte(']')
		}
	}
	if hasExt {
		refSep(b, first)
		refWriteString(b, "_"+name)
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
				refWriteObject(b, c)
			}
		}
		if array {
			b.WriteByte(']')
		}
	}
}

func refSep(b *bytes.Buffer, first *bool) {
	if !*first {
		b.WriteByte(',')
	}
	*first = false
}

func refWritePrimitive(b *bytes.Buffer, v any) {
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
		refWriteString(b, x)
	}
}

// refWriteString writes a JSON string; like encoding/json but without HTML escaping, which FHIR
// JSON does not need.
func refWriteString(b *bytes.Buffer, s string) {
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
