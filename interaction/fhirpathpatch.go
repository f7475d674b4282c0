package interaction

import (
	"strconv"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/fhir/fhirpath"
)

// applyFHIRPathPatch applies a FHIRPath Patch (http://hl7.org/fhir/R4/fhirpatch.html): a
// Parameters resource whose "operation" parameters add, insert, delete, replace or move
// elements located by FHIRPath. The patched tree is re-serialised and re-parsed by the
// caller, so a patch can never store a structurally invalid resource.
func applyFHIRPathPatch(body, patch []byte) ([]byte, error) {
	params, err := fhir.Parse(patch)
	if err != nil {
		return nil, err
	}
	if params.Type != "Parameters" {
		return nil, fhir.Errorf(400, fhir.IssueInvalid, "a FHIRPath Patch is a Parameters resource, not %s", params.Type)
	}
	res, err := fhir.Parse(body)
	if err != nil {
		return nil, err
	}
	root := res.Root
	for i, op := range params.Root.Child("parameter") {
		if op.Text("name") != "operation" {
			return nil, fhir.Errorf(400, fhir.IssueInvalid, "FHIRPath Patch parameter %d is %q, not operation", i, op.Text("name"))
		}
		if err := applyPatchOperation(root, op, i); err != nil {
			return nil, err
		}
	}
	return fhir.Marshal(root), nil
}

type patchOp struct {
	typ, path, name string
	value           *fhir.Node
	index           int
	source, dest    int
	hasIndex        bool
}

func readPatchOp(op *fhir.Node, i int) (*patchOp, error) {
	p := &patchOp{index: -1, source: -1, dest: -1}
	for _, part := range op.Child("part") {
		name := part.Text("name")
		v := part.First("value")
		switch name {
		case "type":
			p.typ = v.String()
		case "path":
			p.path = v.String()
		case "name":
			p.name = v.String()
		case "value":
			if v == nil {
				return nil, fhir.Errorf(422, fhir.IssueNotSupported, "FHIRPath Patch operation %d: values given as parts (backbone elements) are not supported; give value[x]", i)
			}
			p.value = v
		case "index", "source", "destination":
			n, err := strconv.Atoi(v.String())
			if err != nil || n < 0 {
				return nil, fhir.Errorf(400, fhir.IssueInvalid, "FHIRPath Patch operation %d: invalid %s", i, name)
			}
			switch name {
			case "index":
				p.index, p.hasIndex = n, true
			case "source":
				p.source = n
			case "destination":
				p.dest = n
			}
		default:
			return nil, fhir.Errorf(400, fhir.IssueInvalid, "FHIRPath Patch operation %d: unknown part %q", i, name)
		}
	}
	if p.path == "" {
		return nil, fhir.Errorf(400, fhir.IssueRequired, "FHIRPath Patch operation %d has no path", i)
	}
	return p, nil
}

func applyPatchOperation(root, op *fhir.Node, i int) error {
	p, err := readPatchOp(op, i)
	if err != nil {
		return err
	}
	fail := func(format string, args ...any) error {
		return fhir.Errorf(422, fhir.IssueProcessing, "FHIRPath Patch operation %d (%s %s): "+format, append([]any{i, p.typ, p.path}, args...)...)
	}
	expr, err := fhirpath.Compile(p.path)
	if err != nil {
		return fhir.Errorf(400, fhir.IssueInvalid, "FHIRPath Patch operation %d: invalid path: %v", i, err)
	}
	targets, err := expr.Evaluate(root)
	if err != nil {
		return fail("%v", err)
	}
	parents := map[*fhir.Node]*fhir.Node{}
	root.Walk(func(n *fhir.Node) bool {
		for _, c := range n.Children {
			parents[c] = n
		}
		return true
	})
	switch p.typ {
	case "delete":
		if len(targets) > 1 {
			return fail("the path matches %d elements; delete needs at most one", len(targets))
		}
		if len(targets) == 1 {
			removeChild(parents[targets[0]], targets[0])
		}
	case "replace":
		if len(targets) != 1 {
			return fail("the path matches %d elements; replace needs exactly one", len(targets))
		}
		if p.value == nil {
			return fail("no value")
		}
		t := targets[0]
		nv, err := retype(p.value, t.Name, t.Def)
		if err != nil {
			return fail("%v", err)
		}
		parent := parents[t]
		if parent == nil {
			return fail("cannot replace the resource itself")
		}
		for j, c := range parent.Children {
			if c == t {
				parent.Children[j] = nv
			}
		}
	case "add":
		if len(targets) != 1 {
			return fail("the path matches %d elements; add needs exactly one", len(targets))
		}
		if p.name == "" || p.value == nil {
			return fail("add needs a name and a value")
		}
		parent := targets[0]
		el, _, ok := definitions.R4().Child(parent.DefPath(), p.name)
		if !ok {
			// choice elements are named by their JSON form (valueString) in Child lookups
			el, _, ok = definitions.R4().Child(parent.DefPath(), p.name+upper(p.value.Type))
		}
		if !ok {
			return fail("%s has no element %q", parent.Type, p.name)
		}
		if !el.IsArray() && parent.First(el.Name) != nil {
			return fail("%s.%s already has a value", parent.Type, p.name)
		}
		nv, err := retype(p.value, el.Name, el)
		if err != nil {
			return fail("%v", err)
		}
		// After the last existing sibling of the same element, in definition order.
		idx := 0
		for idx < len(parent.Children) && parent.Children[idx].Def != nil && parent.Children[idx].Def.Index <= el.Index {
			idx++
		}
		parent.Children = append(parent.Children[:idx], append([]*fhir.Node{nv}, parent.Children[idx:]...)...)
	case "insert", "move":
		if len(targets) == 0 {
			return fail("the path matches no list")
		}
		parent := parents[targets[0]]
		for _, t := range targets {
			if parents[t] != parent || t.Def != targets[0].Def {
				return fail("the path does not denote one list")
			}
		}
		list := targets
		var item *fhir.Node
		dest := p.index
		if p.typ == "insert" {
			if p.value == nil || !p.hasIndex {
				return fail("insert needs a value and an index")
			}
			if dest > len(list) {
				return fail("index %d is beyond the list (%d)", dest, len(list))
			}
			nv, err := retype(p.value, list[0].Name, list[0].Def)
			if err != nil {
				return fail("%v", err)
			}
			item = nv
		} else {
			if p.source < 0 || p.source >= len(list) || p.dest < 0 || p.dest >= len(list) {
				return fail("source and destination must be within the list (%d)", len(list))
			}
			item = list[p.source]
			list = append(append([]*fhir.Node{}, list[:p.source]...), list[p.source+1:]...)
			dest = p.dest
		}
		newList := append(append(append([]*fhir.Node{}, list[:dest]...), item), list[dest:]...)
		// Splice the reordered list back where the old one was.
		var kids []*fhir.Node
		placed := false
		for _, c := range parent.Children {
			if c.Def == targets[0].Def {
				if !placed {
					kids = append(kids, newList...)
					placed = true
				}
				continue
			}
			kids = append(kids, c)
		}
		parent.Children = kids
	default:
		return fail("unknown operation type %q", p.typ)
	}
	return nil
}

func removeChild(parent, c *fhir.Node) {
	if parent == nil {
		return
	}
	kept := parent.Children[:0]
	for _, x := range parent.Children {
		if x != c {
			kept = append(kept, x)
		}
	}
	parent.Children = kept
}

// retype places a Parameters value node at another element: same content, new name and
// definition. The value's own type must be one the element allows.
func retype(v *fhir.Node, name string, el *definitions.Element) (*fhir.Node, error) {
	if el != nil {
		ok := false
		for _, t := range el.Types {
			if t.Code == v.Type || definitions.R4().IsSubtype(v.Type, t.Code) {
				ok = true
			}
		}
		if !ok && len(el.Types) > 0 {
			return nil, fhir.Errorf(422, fhir.IssueInvalid, "a %s value cannot go in %s", v.Type, el.Path)
		}
	}
	n := *v
	n.Name, n.Def = name, el
	return &n, nil
}

func upper(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
