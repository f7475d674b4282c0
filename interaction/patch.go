package interaction

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/store"
)

// patch applies a JSON Patch (RFC 6902) or a FHIRPath Patch (a Parameters resource) to the
// current version and stores the result as a new version, guarded by the version it read.
func (s *Service) patch(ctx context.Context, req *Request, typ, id string) *Response {
	cur, err := s.store.Read(ctx, typ, id)
	if err != nil {
		return failure(err)
	}
	ifMatch := cur.Version
	if req.IfMatch != "" {
		v, ok := parseETag(req.IfMatch)
		if !ok {
			return failure(fhir.Errorf(400, fhir.IssueInvalid, "invalid If-Match %q", req.IfMatch))
		}
		if v != cur.Version {
			return failure(store.ErrVersionConflict)
		}
	}
	var patched []byte
	ct := strings.ToLower(req.ContentType)
	switch {
	case strings.Contains(ct, "json-patch"):
		patched, err = applyJSONPatch(cur.Body, req.Body)
	case strings.Contains(ct, "fhir+json") || strings.Contains(ct, "application/json"):
		patched, err = applyFHIRPathPatch(cur.Body, req.Body)
	default:
		return failure(fhir.Errorf(415, fhir.IssueNotSupported, "PATCH needs application/json-patch+json or a FHIRPath Patch Parameters resource (application/fhir+json), not %q", req.ContentType))
	}
	if err != nil {
		return failure(err)
	}
	res, err := fhir.Parse(patched)
	if err != nil {
		e := fhir.AsError(err)
		e.Status = 422
		return failure(e)
	}
	if res.Type != typ || res.ID != id {
		return failure(fhir.Errorf(422, fhir.IssueInvalid, "a patch may not change the resource type or id"))
	}
	issues, ferr := s.checkWrite(req, res, "")
	if ferr != nil {
		return failure(ferr)
	}
	ix := s.index.Extract(res)
	return s.written(req, res, s.inTx(ctx, func(tx store.Tx) (*Response, error) {
		rec, err := tx.Put(ctx, &store.Put{Resource: res, Index: ix, IfMatch: ifMatch})
		if err != nil {
			return nil, err
		}
		return writeResponse(req, 200, rec), nil
	}), issues)
}

type jsonPatchOp struct {
	Op    string           `json:"op"`
	Path  *string          `json:"path"`
	From  *string          `json:"from"`
	Value *json.RawMessage `json:"value"`
}

func patchError(format string, args ...any) error {
	return fhir.Errorf(422, fhir.IssueProcessing, "JSON Patch: "+format, args...)
}

// applyJSONPatch applies RFC 6902 operations to doc; the whole patch fails if one does.
func applyJSONPatch(doc, patch []byte) ([]byte, error) {
	var ops []jsonPatchOp
	dec := json.NewDecoder(bytes.NewReader(patch))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ops); err != nil {
		return nil, fhir.Errorf(400, fhir.IssueInvalid, "JSON Patch must be an array of operations: %v", err)
	}
	var root any
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	if err := d.Decode(&root); err != nil {
		return nil, err
	}
	for i, op := range ops {
		if op.Path == nil {
			return nil, fhir.Errorf(400, fhir.IssueInvalid, "JSON Patch operation %d has no path", i)
		}
		var val any
		if op.Value != nil {
			vd := json.NewDecoder(bytes.NewReader(*op.Value))
			vd.UseNumber()
			if err := vd.Decode(&val); err != nil {
				return nil, fhir.Errorf(400, fhir.IssueInvalid, "JSON Patch operation %d: bad value: %v", i, err)
			}
		}
		needValue := op.Op == "add" || op.Op == "replace" || op.Op == "test"
		if needValue && op.Value == nil {
			return nil, fhir.Errorf(400, fhir.IssueInvalid, "JSON Patch operation %d (%s) has no value", i, op.Op)
		}
		var err error
		switch op.Op {
		case "add":
			root, err = pointerSet(root, *op.Path, val, true)
		case "replace":
			if _, err = pointerGet(root, *op.Path); err == nil {
				root, err = pointerSet(root, *op.Path, val, false)
			}
		case "remove":
			root, _, err = pointerRemove(root, *op.Path)
		case "move", "copy":
			if op.From == nil {
				return nil, fhir.Errorf(400, fhir.IssueInvalid, "JSON Patch operation %d (%s) has no from", i, op.Op)
			}
			var v any
			if op.Op == "move" {
				if strings.HasPrefix(*op.Path, *op.From+"/") {
					return nil, patchError("cannot move %s into itself", *op.From)
				}
				root, v, err = pointerRemove(root, *op.From)
			} else {
				v, err = pointerGet(root, *op.From)
				v = deepCopy(v)
			}
			if err == nil {
				root, err = pointerSet(root, *op.Path, v, true)
			}
		case "test":
			var got any
			if got, err = pointerGet(root, *op.Path); err == nil && !jsonEqual(got, val) {
				err = patchError("test failed at %s", *op.Path)
			}
		default:
			return nil, fhir.Errorf(400, fhir.IssueInvalid, "JSON Patch operation %d: unknown op %q", i, op.Op)
		}
		if err != nil {
			return nil, err
		}
	}
	return json.Marshal(root)
}

func splitPointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if p[0] != '/' {
		return nil, patchError("invalid pointer %q", p)
	}
	parts := strings.Split(p[1:], "/")
	for i, s := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	return parts, nil
}

func pointerGet(root any, p string) (any, error) {
	parts, err := splitPointer(p)
	if err != nil {
		return nil, err
	}
	cur := root
	for _, k := range parts {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[k]
			if !ok {
				return nil, patchError("no element at %s", p)
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(c) {
				return nil, patchError("no element at %s", p)
			}
			cur = c[i]
		default:
			return nil, patchError("no element at %s", p)
		}
	}
	return cur, nil
}

// pointerSet sets the value at p (inserting into arrays when insert is true) and returns the
// possibly new root.
func pointerSet(root any, p string, val any, insert bool) (any, error) {
	parts, err := splitPointer(p)
	if err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		return val, nil
	}
	var set func(cur any, parts []string) (any, error)
	set = func(cur any, parts []string) (any, error) {
		k := parts[0]
		last := len(parts) == 1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				c[k] = val
				return c, nil
			}
			child, ok := c[k]
			if !ok {
				return nil, patchError("no element at %s", p)
			}
			nv, err := set(child, parts[1:])
			if err != nil {
				return nil, err
			}
			c[k] = nv
			return c, nil
		case []any:
			if last && insert {
				i := len(c)
				if k != "-" {
					n, err := strconv.Atoi(k)
					if err != nil || n < 0 || n > len(c) {
						return nil, patchError("bad array index at %s", p)
					}
					i = n
				}
				c = append(c, nil)
				copy(c[i+1:], c[i:])
				c[i] = val
				return c, nil
			}
			n, err := strconv.Atoi(k)
			if err != nil || n < 0 || n >= len(c) {
				return nil, patchError("bad array index at %s", p)
			}
			if last {
				c[n] = val
				return c, nil
			}
			nv, err := set(c[n], parts[1:])
			if err != nil {
				return nil, err
			}
			c[n] = nv
			return c, nil
		}
		return nil, patchError("no element at %s", p)
	}
	return set(root, parts)
}

func pointerRemove(root any, p string) (any, any, error) {
	parts, err := splitPointer(p)
	if err != nil {
		return nil, nil, err
	}
	if len(parts) == 0 {
		return nil, nil, patchError("cannot remove the whole resource")
	}
	parentPath := "/" + strings.Join(escapeParts(parts[:len(parts)-1]), "/")
	if len(parts) == 1 {
		parentPath = ""
	}
	parent, err := pointerGet(root, parentPath)
	if err != nil {
		return nil, nil, err
	}
	k := parts[len(parts)-1]
	switch c := parent.(type) {
	case map[string]any:
		v, ok := c[k]
		if !ok {
			return nil, nil, patchError("no element at %s", p)
		}
		delete(c, k)
		return root, v, nil
	case []any:
		n, err := strconv.Atoi(k)
		if err != nil || n < 0 || n >= len(c) {
			return nil, nil, patchError("no element at %s", p)
		}
		v := c[n]
		nc := append(append([]any{}, c[:n]...), c[n+1:]...)
		nr, err := pointerSet(root, parentPath, nc, false)
		return nr, v, err
	}
	return nil, nil, patchError("no element at %s", p)
}

func escapeParts(parts []string) []string {
	out := make([]string, len(parts))
	for i, s := range parts {
		out[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
	}
	return out
}

func deepCopy(v any) any {
	b, _ := json.Marshal(v)
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var out any
	d.Decode(&out)
	return out
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
