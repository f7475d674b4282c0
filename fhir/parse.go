package fhir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

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
//
// Beyond what JSON itself requires, Parse rejects invalid UTF-8, objects nested deeper than
// 100 levels and, as structural problems, repeated keys in one object.
func Parse(data []byte) (*Resource, error) {
	// RFC 8259 lets parsers ignore a byte order mark; some Windows tools write one.
	data = bytes.TrimPrefix(data, utf8BOM)
	w := workspaces.Get().(*workspace)
	defer w.release()
	sc := &w.sc
	if err := sc.scan(data); err != nil {
		return nil, Errorf(400, IssueInvalid, "invalid JSON: %v", err)
	}
	if sc.toks[0].kind != tokObject {
		return nil, Errorf(400, IssueInvalid, "a resource must be a JSON object")
	}
	p := &w.p
	p.tables, p.data, p.toks = tablesFor(), data, sc.toks
	p.arena.b.Grow(sc.valueBytes)
	p.nodes = make([]Node, 0, sc.values)
	p.kids = make([]*Node, 0, sc.values)
	root := p.resource(0, nil)
	if len(p.issues) > 0 {
		return nil, &Error{Status: 400, Issues: p.issues}
	}
	return &Resource{Type: root.Type, ID: root.Text("id"), Root: root}, nil
}

// ParseObject builds a resource from an already decoded JSON object (decoded with
// UseNumber so that decimals keep their precision). It re-encodes the object and parses
// that, so that there is one parser to keep right.
func ParseObject(obj map[string]any) (*Resource, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, Errorf(400, IssueInvalid, "invalid JSON: %v", err)
	}
	return Parse(data)
}

// workspace is the reusable state of one Parse: the token slice and the builder's stacks.
type workspace struct {
	sc scanner
	p  parser
}

var workspaces = sync.Pool{New: func() any { return new(workspace) }}

func (w *workspace) release() {
	if cap(w.sc.toks) > 1<<16 {
		return // one huge document should not pin its buffers for the rest of the process
	}
	p := &w.p
	// The stacks still point into the document and its tree; drop those references.
	clear(p.pending[:cap(p.pending)])
	clear(p.props[:cap(p.props)])
	clear(p.keys[:cap(p.keys)])
	w.sc = scanner{toks: w.sc.toks[:0]}
	w.p = parser{pending: p.pending[:0], props: p.props[:0], keys: p.keys[:0], path: p.path[:0]}
	workspaces.Put(w)
}

// childInfo is what parsing needs to know about one JSON property name under a definition
// path, worked out once per process instead of once per element.
type childInfo struct {
	el         *definitions.Element
	typ        string
	prim       bool
	array      bool
	resType    bool   // typ is a concrete resource type (its objects carry resourceType)
	childPath  string // where the children of a complex value are defined
	resourceID bool   // the element is a resource's logical id, published as string but constrained as id
}

// parseTables caches, per definition path, the childInfo of every JSON name the registry
// resolves there, and the concrete resource type names.
type parseTables struct {
	reg       *definitions.Registry
	resources map[string]string
	// byPath maps a definition path to its names; it is replaced, never modified, so that
	// lookups need no lock.
	byPath atomic.Pointer[map[string]map[string]*childInfo]
	mu     sync.Mutex
}

var tablesFor = sync.OnceValue(func() *parseTables {
	reg := definitions.R4()
	t := &parseTables{reg: reg, resources: map[string]string{}}
	for _, rt := range reg.ResourceTypes() {
		t.resources[rt] = rt
	}
	t.byPath.Store(&map[string]map[string]*childInfo{})
	return t
})

func (t *parseTables) children(defPath string) map[string]*childInfo {
	if m, ok := (*t.byPath.Load())[defPath]; ok {
		return m
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.byPath.Load()
	if m, ok := old[defPath]; ok {
		return m
	}
	m := map[string]*childInfo{}
	for _, e := range t.reg.Children(defPath) {
		names := []string{e.Name}
		if e.Choice {
			names = names[:0]
			for _, ty := range e.Types {
				names = append(names, e.Name+upperFirst(ty.Code))
			}
		}
		for _, name := range names {
			if info := t.resolve(defPath, name); info != nil {
				m[name] = info
			}
		}
	}
	next := make(map[string]map[string]*childInfo, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[defPath] = m
	t.byPath.Store(&next)
	return m
}

// resolve looks a JSON name up in the registry; names the table does not hold (there are
// odd ones, such as "value[x]") go through it directly.
func (t *parseTables) resolve(defPath, name string) *childInfo {
	el, typ, ok := t.reg.Child(defPath, name)
	if !ok {
		return nil
	}
	if typ == "" && el.ContentRef != "" {
		if ref := t.reg.Element(el.ContentRef); ref != nil && len(ref.Types) == 1 {
			typ = ref.Types[0].Code
		}
	}
	info := &childInfo{el: el, typ: typ, prim: isPrimitiveType(typ), array: el.IsArray(), resType: t.reg.IsResource(typ)}
	if !info.prim {
		info.childPath = t.reg.ChildPath(el, typ)
	}
	root, _, _ := strings.Cut(el.Path, ".")
	info.resourceID = el.Path == root+".id" && t.reg.IsResource(root)
	return info
}

// parser builds the Node tree from scanned tokens. Nodes and children slices are carved
// from slabs sized by the token count, and value text lives in one arena, so that a parse
// allocates a handful of blocks instead of several per element; the tree therefore keeps
// the whole document's slabs alive for as long as any of its nodes is referenced.
type parser struct {
	tables *parseTables
	data   []byte
	toks   []token
	issues []Issue

	arena arena
	nodes []Node
	kids  []*Node

	// stacks shared by nested objects: each object uses the tail above its own base
	pending []*Node
	props   []prop
	keys    [][]byte
	// path is the FHIRPath-like location of the value being built, materialized only when
	// something is wrong.
	path []byte
}

func (p *parser) fail(format string, args ...any) {
	p.issues = append(p.issues, Issue{Severity: SeverityError, Code: IssueStructure,
		Diagnostics: fmt.Sprintf(format, args...), Expression: []string{string(p.path)}})
}

func (p *parser) newNode() *Node {
	if len(p.nodes) == cap(p.nodes) {
		p.nodes = make([]Node, 0, 64)
	}
	p.nodes = p.nodes[:len(p.nodes)+1]
	return &p.nodes[len(p.nodes)-1]
}

// children returns the nodes pending above base as a slice of exact capacity, so that a
// later append (addChild) copies instead of overwriting a neighbour's children.
func (p *parser) children(base int) []*Node {
	k := len(p.pending) - base
	if k == 0 {
		return nil
	}
	if cap(p.kids)-len(p.kids) < k {
		p.kids = make([]*Node, 0, max(k, 256))
	}
	off := len(p.kids)
	p.kids = append(p.kids, p.pending[base:]...)
	p.pending = p.pending[:base]
	return p.kids[off : off+k : off+k]
}

func (p *parser) str(i int) string {
	t := &p.toks[i]
	return p.arena.add(p.data[t.beg:t.end], t.esc)
}

// key returns an object key's bytes, decoded if it has escapes.
func (p *parser) key(i int) []byte {
	t := &p.toks[i]
	if t.esc {
		return unquote(nil, p.data[t.beg:t.end])
	}
	return p.data[t.beg:t.end]
}

// resource parses the resource object at token ti; def is the element holding it (nil for
// the root).
func (p *parser) resource(ti int, def *definitions.Element) *Node {
	var rt []byte
	for i, m := ti+1, 0; m < int(p.toks[ti].n); m++ {
		if string(p.key(i)) == "resourceType" {
			rt = nil // the last one counts, as with encoding/json
			if t := &p.toks[i+1]; t.kind == tokString {
				rt = p.data[t.beg:t.end]
				if t.esc {
					rt = unquote(nil, rt)
				}
			}
		}
		i = skip(p.toks, i+1)
	}
	if len(rt) == 0 {
		p.failAt(orRoot, "missing resourceType")
		return &Node{Name: "Resource", Type: "Resource", Def: def}
	}
	name, ok := p.tables.resources[string(rt)]
	if !ok {
		p.failAt(orRoot, "unknown resourceType %q", rt)
		name := string(rt)
		return &Node{Name: name, Type: name, Def: def}
	}
	n := p.newNode()
	*n = Node{Name: name, Type: name, Def: def, defPath: name}
	if def != nil {
		n.Name = def.Name
	}
	if len(p.path) == 0 {
		p.path = append(p.path, name...)
		p.object(n, ti, true)
		p.path = p.path[:0]
	} else {
		p.object(n, ti, true)
	}
	return n
}

const orRoot = "$this"

// failAt reports at the current path, or at alt when there is none yet.
func (p *parser) failAt(alt, format string, args ...any) {
	if len(p.path) == 0 {
		p.path = append(p.path, alt...)
		p.fail(format, args...)
		p.path = p.path[:0]
		return
	}
	p.fail(format, args...)
}

// prop is one element of an object: its plain and "_" companion values (token indexes,
// -1 when absent).
type prop struct {
	name []byte
	info *childInfo
	val  int
	ext  int
}

// object fills n's children from the JSON object at token ti. isResource says that the
// object is a resource, whose resourceType member is not an element.
func (p *parser) object(n *Node, ti int, isResource bool) {
	table := p.tables.children(n.defPath)
	propBase, keyBase := len(p.props), len(p.keys)
	var seen map[string]bool // only for large objects, where comparing every pair is too slow
	if p.toks[ti].n > 16 {
		seen = make(map[string]bool, p.toks[ti].n)
	}
	for i, m := ti+1, 0; m < int(p.toks[ti].n); m++ {
		ki, vi := i, i+1
		i = skip(p.toks, vi)
		k := p.key(ki)
		if seen != nil && seen[string(k)] || seen == nil && p.duplicate(k, keyBase) {
			p.fail("duplicate key %q", k)
			continue
		}
		if seen != nil {
			seen[string(k)] = true
		} else {
			p.keys = append(p.keys, k)
		}
		if isResource && string(k) == "resourceType" {
			continue
		}
		name, isExt := k, false
		if len(k) > 0 && k[0] == '_' {
			name, isExt = k[1:], true
		}
		j := propBase
		for j < len(p.props) && !bytes.Equal(p.props[j].name, name) {
			j++
		}
		if j == len(p.props) {
			info, ok := table[string(name)]
			if !ok {
				info = p.tables.resolve(n.defPath, string(name))
			}
			if info == nil {
				p.fail("unknown element %q", k)
				continue
			}
			p.props = append(p.props, prop{name: name, info: info, val: -1, ext: -1})
		}
		if isExt {
			p.props[j].ext = vi
		} else {
			p.props[j].val = vi
		}
	}
	// Insertion sort: objects are small, and ties (two choices of one element) keep their
	// JSON order.
	props := p.props[propBase:]
	for a := 1; a < len(props); a++ {
		for b := a; b > 0 && props[b].info.el.Index < props[b-1].info.el.Index; b-- {
			props[b], props[b-1] = props[b-1], props[b]
		}
	}
	childBase := len(p.pending)
	for j := propBase; j < len(p.props); j++ {
		pr := p.props[j]
		if j > propBase && p.props[j-1].info.el == pr.info.el {
			p.fail("element %s has more than one choice of type", pr.info.el.Name)
			continue
		}
		mark := len(p.path)
		p.path = append(append(p.path, '.'), pr.name...)
		p.property(pr)
		p.path = p.path[:mark]
	}
	p.props = p.props[:propBase]
	p.keys = p.keys[:keyBase]
	n.Children = p.children(childBase)
}

// duplicate reports whether k is among the keys seen above base.
func (p *parser) duplicate(k []byte, base int) bool {
	for _, seen := range p.keys[base:] {
		if bytes.Equal(seen, k) {
			return true
		}
	}
	return false
}

// present returns the token index of a value, or -1 for an absent value or null.
func (p *parser) present(i int) int {
	if i < 0 || p.toks[i].kind == tokNull {
		return -1
	}
	return i
}

func (p *parser) property(pr prop) {
	info := pr.info
	ext := p.present(pr.ext)
	if ext >= 0 && !info.prim {
		p.fail("%q is not a primitive and cannot have a _%s companion", pr.name, pr.name)
		return
	}
	if info.array {
		nv, ne := 0, 0
		if pr.val >= 0 {
			if p.toks[pr.val].kind != tokArray {
				p.fail("%q must be an array", pr.name)
				return
			}
			nv = int(p.toks[pr.val].n)
		}
		if ext >= 0 {
			if p.toks[ext].kind != tokArray {
				p.fail("%q must be an array", "_"+string(pr.name))
				return
			}
			// A companion array shorter (or longer) than the values leaves the missing
			// positions without metadata (or without a value): writers commonly drop the
			// trailing nulls, and every position must still carry one or the other.
			ne = int(p.toks[ext].n)
		}
		count := max(nv, ne)
		if count == 0 {
			p.fail("%q must not be an empty array", pr.name)
		}
		vi, ei := pr.val+1, ext+1
		mark := len(p.path)
		for i := 0; i < count; i++ {
			v, e := -1, -1
			if i < nv {
				v = p.present(vi)
				vi = skip(p.toks, vi)
			}
			if i < ne {
				e = p.present(ei)
				ei = skip(p.toks, ei)
			}
			p.path = append(strconv.AppendInt(append(p.path, '['), int64(i), 10), ']')
			if v < 0 && e < 0 {
				p.fail("null is not a valid value")
			} else if c := p.value(pr, v, e); c != nil {
				p.pending = append(p.pending, c)
			}
			p.path = p.path[:mark]
		}
		return
	}
	v := -1
	if pr.val >= 0 {
		switch p.toks[pr.val].kind {
		case tokArray:
			p.fail("%q must not be an array", pr.name)
			return
		case tokNull:
			if ext < 0 {
				p.fail("null is not a valid value")
				return
			}
		default:
			v = pr.val
		}
	}
	if c := p.value(pr, v, ext); c != nil {
		p.pending = append(p.pending, c)
	}
}

// value builds the node for one value v and its "_" companion e (token indexes, -1 when
// absent or null).
func (p *parser) value(pr prop, v, e int) *Node {
	info := pr.info
	switch {
	case info.typ == "Resource":
		if v < 0 || p.toks[v].kind != tokObject {
			p.fail("expected a resource object")
			return nil
		}
		return p.resource(v, info.el)
	case info.prim:
		n := p.newNode()
		*n = Node{Name: info.el.Name, Type: info.typ, Def: info.el}
		if v >= 0 {
			typ := info.typ
			if info.resourceID {
				typ = "id"
			}
			n.Value = p.primitive(typ, v)
		}
		if e >= 0 {
			if p.toks[e].kind != tokObject {
				p.fail("_%s must be an object", pr.name)
				return nil
			}
			n.defPath = "Element"
			p.object(n, e, false)
			n.defPath = ""
		}
		return n
	default:
		if v < 0 || p.toks[v].kind != tokObject {
			p.fail("%q must be an object (type %s)", pr.name, info.typ)
			return nil
		}
		if p.toks[v].n == 0 {
			p.fail("%q must not be empty", pr.name)
			return nil
		}
		n := p.newNode()
		*n = Node{Name: info.el.Name, Type: info.typ, Def: info.el, defPath: info.childPath}
		p.object(n, v, info.resType)
		return n
	}
}

var (
	reOID    = regexp.MustCompile(`^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$`)
	reUUID   = regexp.MustCompile(`^urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	reBase64 = regexp.MustCompile(`^[A-Za-z0-9+/=\s]*$`)
)

// primitive checks the JSON value at token i against a primitive type and returns the value
// to store.
func (p *parser) primitive(typ string, i int) any {
	kind := p.toks[i].kind
	switch typ {
	case "boolean":
		if kind != tokTrue && kind != tokFalse {
			p.fail("expected a JSON boolean for %s", typ)
			return nil
		}
		return kind == tokTrue
	case "integer", "positiveInt", "unsignedInt", "decimal":
		if kind != tokNumber {
			p.fail("expected a JSON number for %s, got %s", typ, kindName[kind])
			return nil
		}
		num := json.Number(p.str(i))
		if typ == "decimal" {
			if _, err := strconv.ParseFloat(string(num), 64); err != nil {
				p.fail("invalid decimal %s", num)
			}
			return num
		}
		i, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil || i > math.MaxInt32 || i < math.MinInt32 {
			p.fail("invalid %s %s", typ, num)
			return num
		}
		if typ == "positiveInt" && i < 1 || typ == "unsignedInt" && i < 0 {
			p.fail("invalid %s %s", typ, num)
		}
		return num
	}
	if kind != tokString {
		p.fail("expected a JSON string for %s, got %s", typ, kindName[kind])
		return nil
	}
	s := p.str(i)
	if s == "" {
		p.fail("empty string is not a valid %s (omit the element instead)", typ)
		return s
	}
	valid := true
	switch typ {
	case "date":
		valid = isDate(s)
	case "dateTime":
		valid = isDateTime(s)
	case "instant":
		valid = isInstant(s)
	case "time":
		valid = isTime(s)
	case "id":
		valid = isID(s)
	case "oid":
		valid = reOID.MatchString(s)
	case "uuid":
		valid = reUUID.MatchString(s)
	case "base64Binary":
		valid = reBase64.MatchString(s)
	case "code":
		if strings.TrimSpace(s) != s || strings.Contains(s, "  ") {
			p.fail("invalid code %q (leading, trailing or repeated whitespace)", s)
		}
	case "uri", "url", "canonical":
		if strings.ContainsAny(s, " \t\r\n") {
			p.fail("invalid %s %q (contains whitespace)", typ, s)
		}
		// A urn:uuid: names a UUID, whatever the element's type. (urn:oid: is not held to
		// the oid syntax here: published profiles use it loosely as an opaque name.)
		if strings.HasPrefix(s, "urn:uuid:") && !reUUID.MatchString(s) {
			p.fail("invalid %s %q (not a UUID)", typ, s)
		}
	}
	if !valid {
		p.fail("invalid %s %q", typ, s)
	}
	return s
}
