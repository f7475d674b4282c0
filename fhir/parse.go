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

// Resource is a parsed resource: its type, id and element tree.
type Resource struct {
	Type string
	ID   string
	Root *Node
}

// Parse reads one resource from JSON and checks it structurally: valid JSON, a known
// resourceType, only elements its StructureDefinition knows, arrays where the definition
// repeats and nowhere else, and primitive values of the right form. All problems are
// reported together as an *Error with issue code "structure" (or "invalid" for bad JSON).
func Parse(data []byte) (*Resource, error) {
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
	return ParseObject(obj)
}

// ParseObject builds a resource from an already decoded JSON object (decoded with
// UseNumber so that decimals keep their precision).
func ParseObject(obj map[string]any) (*Resource, error) {
	p := parser{reg: definitions.R4()}
	root := p.resource(obj, "", nil)
	if len(p.issues) > 0 {
		return nil, &Error{Status: 400, Issues: p.issues}
	}
	return &Resource{Type: root.Type, ID: root.Text("id"), Root: root}, nil
}

type parser struct {
	reg    *definitions.Registry
	issues []Issue
}

func (p *parser) fail(path, format string, args ...any) {
	p.issues = append(p.issues, Issue{Severity: SeverityError, Code: IssueStructure,
		Diagnostics: fmt.Sprintf(format, args...), Expression: []string{path}})
}

// resource parses a resource object; path is its location ("" for the root).
func (p *parser) resource(obj map[string]any, path string, def *definitions.Element) *Node {
	rt, _ := obj["resourceType"].(string)
	if rt == "" {
		p.fail(orRoot(path), "missing resourceType")
		return &Node{Name: "Resource", Type: "Resource", Def: def}
	}
	if !p.reg.IsResource(rt) {
		p.fail(orRoot(path), "unknown resourceType %q", rt)
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

func orRoot(path string) string {
	if path == "" {
		return "$this"
	}
	return path
}

type keyed struct {
	key   string
	el    *definitions.Element
	typ   string
	value any
	ext   any
	has   bool // the plain key is present (not only "_key")
}

// object fills n's children from a JSON object.
func (p *parser) object(n *Node, obj map[string]any, path string) {
	props := make([]keyed, 0, len(obj))
	index := map[string]int{}
	for k, v := range obj {
		if k == "resourceType" && n.IsResource() || k == "fhir_comments" {
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
			props = append(props, keyed{key: name, el: el, typ: typ})
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

func (p *parser) property(n *Node, pr keyed, path string) {
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
			if pr.has && len(exts) != len(vals) {
				p.fail(path, "%q and %q must have the same length", pr.key, "_"+pr.key)
				return
			}
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

func (p *parser) value(pr keyed, v, ext any, path string) *Node {
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
	reDate     = regexp.MustCompile(`^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?$`)
	reDateTime = regexp.MustCompile(`^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?$`)
	reInstant  = regexp.MustCompile(`^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))$`)
	reTime     = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?$`)
	reID       = regexp.MustCompile(`^[A-Za-z0-9\-\.]{1,64}$`)
	reOID      = regexp.MustCompile(`^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$`)
	reUUID     = regexp.MustCompile(`^urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	reBase64   = regexp.MustCompile(`^[A-Za-z0-9+/=\s]*$`)
)

// primitive checks a JSON value against a primitive type and returns the value to store.
func (p *parser) primitive(typ string, v any, path string) any {
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
			p.fail(path, "expected a JSON number for %s, got %s", typ, jsonKind(v))
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
		p.fail(path, "expected a JSON string for %s, got %s", typ, jsonKind(v))
		return nil
	}
	if s == "" {
		p.fail(path, "empty string is not a valid %s (omit the element instead)", typ)
		return s
	}
	var re *regexp.Regexp
	switch typ {
	case "date":
		re = reDate
	case "dateTime":
		re = reDateTime
	case "instant":
		re = reInstant
	case "time":
		re = reTime
	case "id":
		re = reID
	case "oid":
		re = reOID
	case "uuid":
		re = reUUID
	case "base64Binary":
		re = reBase64
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

func jsonKind(v any) string {
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
