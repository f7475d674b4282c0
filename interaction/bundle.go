package interaction

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/search"
	"github.com/concord-health/concord/store"
)

// entry is one Bundle entry being processed.
type entry struct {
	index   int
	fullURL string
	method  string
	url     string
	path    []string
	query   url.Values
	res     *fhir.Resource
	ix      *search.Index

	ifMatch, ifNoneExist, ifNoneMatch string
	ifModifiedSince                   time.Time

	resp *Response
	// issues are the validation issues of a resource accepted in warn mode.
	issues []fhir.Issue
}

func (e *entry) where() string { return fmt.Sprintf("Bundle.entry[%d]", e.index) }

func (e *entry) fail(status int, code, format string, args ...any) *fhir.Error {
	err := fhir.Errorf(status, code, format, args...)
	err.Issues[0].Expression = []string{e.where()}
	return err
}

// bundle processes a batch or transaction Bundle posted to the base.
func (s *Service) bundle(ctx context.Context, req *Request) *Response {
	res := req.Resource
	if res == nil {
		if len(req.Body) == 0 {
			return failure(fhir.Errorf(400, fhir.IssueRequired, "POST to the base needs a batch or transaction Bundle"))
		}
		r, err := fhir.Parse(req.Body)
		if err != nil {
			return failure(err)
		}
		res = r
	}
	if res.Type != "Bundle" {
		return failure(fhir.Errorf(400, fhir.IssueInvalid, "POST to the base needs a Bundle, not %s", res.Type))
	}
	typ := res.Root.Text("type")
	if typ != "batch" && typ != "transaction" {
		return failure(fhir.Errorf(400, fhir.IssueInvalid, "Bundle.type must be batch or transaction, not %q", typ))
	}
	entries, ferr := s.readEntries(res.Root, typ == "transaction")
	if ferr != nil {
		return failure(ferr)
	}
	if typ == "batch" {
		return s.batch(ctx, req, entries)
	}
	return s.transaction(ctx, req, entries)
}

func (s *Service) readEntries(root *fhir.Node, transaction bool) ([]*entry, *fhir.Error) {
	nodes := root.Child("entry")
	if len(nodes) > s.MaxBundleEntries {
		return nil, fhir.Errorf(413, fhir.IssueTooCostly, "the Bundle has %d entries; at most %d are accepted", len(nodes), s.MaxBundleEntries)
	}
	var entries []*entry
	for i, n := range nodes {
		e := &entry{index: i, fullURL: n.Text("fullUrl")}
		if r := n.First("resource"); r != nil {
			r.Name, r.Def = r.Type, nil
			e.res = &fhir.Resource{Type: r.Type, ID: r.Text("id"), Root: r}
		}
		rq := n.First("request")
		if rq == nil {
			return nil, e.fail(400, fhir.IssueRequired, "entry has no request")
		}
		e.method = strings.ToUpper(rq.Text("method"))
		e.url = rq.Text("url")
		e.ifMatch, e.ifNoneExist, e.ifNoneMatch = rq.Text("ifMatch"), rq.Text("ifNoneExist"), rq.Text("ifNoneMatch")
		if v := rq.Text("ifModifiedSince"); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return nil, e.fail(400, fhir.IssueInvalid, "invalid ifModifiedSince %q", v)
			}
			e.ifModifiedSince = t
		}
		if e.url == "" {
			return nil, e.fail(400, fhir.IssueRequired, "entry.request.url is missing")
		}
		p, rawQ, _ := strings.Cut(e.url, "?")
		q, err := url.ParseQuery(rawQ)
		if err != nil {
			return nil, e.fail(400, fhir.IssueInvalid, "invalid entry.request.url %q", e.url)
		}
		e.path, e.query = splitPath(p), q
		switch e.method {
		case "GET", "HEAD":
		case "POST":
			if len(e.path) != 1 {
				return nil, e.fail(400, fhir.IssueInvalid, "POST url must be a resource type, not %q", e.url)
			}
		case "PUT", "PATCH":
			if len(e.path) != 2 && !(len(e.path) == 1 && len(q) > 0) {
				return nil, e.fail(400, fhir.IssueInvalid, "%s url must be Type/id or Type?search, not %q", e.method, e.url)
			}
		case "DELETE":
			if len(e.path) != 2 && !(len(e.path) == 1 && len(q) > 0) {
				return nil, e.fail(400, fhir.IssueInvalid, "DELETE url must be Type/id or Type?search, not %q", e.url)
			}
		default:
			return nil, e.fail(400, fhir.IssueInvalid, "unknown request method %q", e.method)
		}
		if e.method != "GET" && e.method != "HEAD" {
			if !s.reg.IsResource(e.path[0]) {
				return nil, e.fail(404, fhir.IssueNotSupported, "unknown resource type %q", e.path[0])
			}
			if len(e.path) == 2 && !validID(e.path[1]) {
				return nil, e.fail(400, fhir.IssueInvalid, "invalid resource id %q", e.path[1])
			}
		}
		if e.method == "POST" || e.method == "PUT" {
			if e.res == nil {
				return nil, e.fail(400, fhir.IssueRequired, "%s entry has no resource", e.method)
			}
			if e.res.Type != e.path[0] {
				return nil, e.fail(400, fhir.IssueInvalid, "resource type %s does not match url %q", e.res.Type, e.url)
			}
			if e.method == "PUT" && len(e.path) == 2 {
				if e.res.ID == "" {
					if transaction {
						e.res.SetID(e.path[1])
					} else {
						return nil, e.fail(400, fhir.IssueRequired, "PUT resource has no id")
					}
				}
				if e.res.ID != e.path[1] {
					return nil, e.fail(400, fhir.IssueInvalid, "resource id %q does not match url %q", e.res.ID, e.url)
				}
			}
		}
		if e.method == "PATCH" && e.res == nil {
			return nil, e.fail(400, fhir.IssueRequired, "PATCH entry needs a Binary (JSON Patch) or Parameters (FHIRPath Patch) resource")
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// batch runs each entry on its own; one failing does not affect the others.
func (s *Service) batch(ctx context.Context, req *Request, entries []*entry) *Response {
	b := newBundle("batch-response", req.Base)
	b.startEntries()
	for _, e := range entries {
		sub := &Request{Method: e.method, Path: strings.Join(e.path, "/"), Query: e.query, Resource: e.res,
			IfMatch: e.ifMatch, IfNoneExist: e.ifNoneExist, IfNoneMatch: e.ifNoneMatch, IfModifiedSince: e.ifModifiedSince,
			Prefer: bundlePrefer(req.Prefer), Base: req.Base, Source: req.Source}
		if e.method == "PATCH" {
			if ferr := patchRequest(e, sub); ferr != nil {
				e.resp = failure(ferr)
				b.responseEntry("", e.resp)
				continue
			}
		}
		if e.method == "HEAD" {
			sub.Method = "GET"
		}
		if e.method == "POST" && len(e.path) == 1 && e.path[0] != "" && e.res != nil && e.res.Type == "Bundle" {
			// A nested Bundle POSTed to the base would recurse; as a Bundle resource it is a create.
			sub.Path = "Bundle"
		}
		e.resp = s.Do(ctx, sub)
		b.responseEntry("", e.resp)
	}
	return &Response{Status: 200, Body: b.finish()}
}

// Entries inside bundles default to a minimal response: the client has the content it sent.
func bundlePrefer(p Prefer) Prefer {
	if p.Return == "" {
		p.Return = "minimal"
	}
	return p
}

// patchRequest turns a PATCH entry's resource into the request body: a Binary carries a JSON
// Patch, a Parameters resource is a FHIRPath Patch.
func patchRequest(e *entry, sub *Request) *fhir.Error {
	switch e.res.Type {
	case "Binary":
		data, err := base64.StdEncoding.DecodeString(e.res.Root.Text("data"))
		if err != nil {
			return e.fail(400, fhir.IssueInvalid, "Binary.data is not base64")
		}
		sub.Body, sub.ContentType = data, "application/json-patch+json"
	case "Parameters":
		sub.Body, sub.ContentType = e.res.Bytes(), "application/fhir+json"
	default:
		return e.fail(400, fhir.IssueInvalid, "PATCH entry resource must be Binary or Parameters, not %s", e.res.Type)
	}
	sub.Resource = nil
	return nil
}

// processing order for transactions (FHIR R4 http.html#trules): DELETE, POST, PUT/PATCH, GET.
func methodRank(m string) int {
	switch m {
	case "DELETE":
		return 0
	case "POST":
		return 1
	case "PUT", "PATCH":
		return 2
	}
	return 3
}

// transaction runs every entry in one store transaction: all succeed or nothing is written.
func (s *Service) transaction(ctx context.Context, req *Request, entries []*entry) *Response {
	if err := s.runTransaction(ctx, req, entries); err != nil {
		return failure(err)
	}
	b := newBundle("transaction-response", req.Base)
	b.startEntries()
	for _, e := range entries {
		b.responseEntry(e.fullURL, e.resp)
	}
	return &Response{Status: 200, Body: b.finish()}
}

// runTransaction performs the entries atomically, leaving each entry's response in e.resp.
func (s *Service) runTransaction(ctx context.Context, req *Request, entries []*entry) error {
	if err := s.checkEntries(req, entries); err != nil {
		return err
	}
	order := append([]*entry(nil), entries...)
	sort.SliceStable(order, func(i, j int) bool { return methodRank(order[i].method) < methodRank(order[j].method) })

	// refs maps each entry's fullUrl to the Type/id it will have.
	refs := map[string]string{}
	targets := map[string]int{}
	deferred := false // whether references can only be resolved inside the transaction
	for _, e := range order {
		switch e.method {
		case "POST":
			if e.ifNoneExist != "" {
				deferred = true
				continue
			}
			e.res.SetID(NewID())
			if e.fullURL != "" {
				refs[e.fullURL] = e.res.Type + "/" + e.res.ID
			}
		case "PUT":
			if len(e.path) == 1 {
				deferred = true
				continue
			}
			if e.fullURL != "" {
				refs[e.fullURL] = e.path[0] + "/" + e.path[1]
			}
		}
		if (e.method == "PUT" || e.method == "DELETE" || e.method == "PATCH") && len(e.path) == 2 {
			key := e.path[0] + "/" + e.path[1]
			if prev, dup := targets[key]; dup {
				return e.fail(400, fhir.IssueDuplicate, "%s is the target of entries %d and %d", key, prev, e.index)
			}
			targets[key] = e.index
		}
	}
	if !deferred {
		for _, e := range order {
			if e.res != nil && hasConditionalRef(e.res.Root) {
				deferred = true
				break
			}
		}
	}
	if !deferred {
		// The common case (urn:uuid references only): rewrite and index outside the write lock.
		for _, e := range order {
			switch {
			case e.res != nil && (e.method == "POST" || e.method == "PUT"):
				rewriteRefs(e.res.Root, refs, nil)
				e.ix = s.index.Extract(e.res)
			case e.res != nil && e.method == "PATCH":
				if err := rewritePatchRefs(e, refs); err != nil {
					return err
				}
			}
		}
	}
	prefer := bundlePrefer(req.Prefer)
	err := s.store.Update(ctx, func(tx store.Tx) error {
		if deferred {
			if err := s.resolveInTx(ctx, tx, order, refs); err != nil {
				return err
			}
		}
		for _, e := range order {
			if e.method == "GET" || e.method == "HEAD" {
				continue
			}
			sub := &Request{Method: e.method, Prefer: prefer, Base: req.Base, IfMatch: e.ifMatch, Source: req.Source, createFirst: req.createFirst}
			r, err := s.entryTx(ctx, tx, e, sub)
			if err != nil {
				if fe := asError(err); fe != nil {
					fe.Issues[0].Expression = append(fe.Issues[0].Expression, e.where())
					return fe
				}
				return err
			}
			e.resp = withIssues(sub, r, e.issues)
		}
		if req.InTransaction != nil {
			return req.InTransaction(ctx, tx)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range order {
		if (e.method == "POST" || e.method == "PUT") && stored(e.res, e.resp) {
			s.committed(e.res)
		}
	}
	for _, e := range order {
		if e.method == "GET" || e.method == "HEAD" {
			e.resp = s.Do(ctx, &Request{Method: "GET", Path: strings.Join(e.path, "/"), Query: e.query,
				IfNoneMatch: e.ifNoneMatch, IfModifiedSince: e.ifModifiedSince, Base: req.Base})
		}
	}
	return nil
}

// resolveInTx settles what depends on the database: conditional creates and updates, and
// conditional references, then rewrites and indexes every resource.
func (s *Service) resolveInTx(ctx context.Context, tx store.Tx, order []*entry, refs map[string]string) error {
	// creating maps a condition (type and normalised query) that matched nothing to the id
	// the first entry with it creates: later entries and conditional references with the
	// same condition mean that resource, not another one.
	creating := map[string]string{}
	conditionKey := func(typ, rawQ string) string {
		vals, err := url.ParseQuery(strings.TrimPrefix(rawQ, "?"))
		if err != nil {
			return typ + "?" + rawQ
		}
		return typ + "?" + vals.Encode()
	}
	for _, e := range order {
		switch {
		case e.method == "POST" && e.ifNoneExist != "":
			q, ferr := s.conditionQuery(ctx, e.res.Type, e.ifNoneExist)
			if ferr != nil {
				return ferr
			}
			ids, err := tx.Match(ctx, q, 2)
			if err != nil {
				return err
			}
			key := conditionKey(e.res.Type, e.ifNoneExist)
			if id, ok := creating[key]; ok && len(ids) == 0 {
				ids = []string{id}
			}
			switch len(ids) {
			case 0:
				e.res.SetID(NewID())
				creating[key] = e.res.ID
			case 1:
				e.res.SetID(ids[0])
				e.resp = &Response{Status: 200} // found: nothing to write
			default:
				return e.fail(412, fhir.IssueMultiple, "ifNoneExist %q matches more than one %s", e.ifNoneExist, e.res.Type)
			}
			if e.fullURL != "" {
				refs[e.fullURL] = e.res.Type + "/" + e.res.ID
			}
		case e.method == "PUT" && len(e.path) == 1:
			q, ferr := s.conditionQuery(ctx, e.path[0], e.query.Encode())
			if ferr != nil {
				return ferr
			}
			ids, err := tx.Match(ctx, q, 2)
			if err != nil {
				return err
			}
			key := conditionKey(e.path[0], e.query.Encode())
			if id, ok := creating[key]; ok && len(ids) == 0 {
				ids = []string{id}
			}
			switch len(ids) {
			case 0:
				if e.res.ID == "" {
					e.res.SetID(NewID())
				}
				creating[key] = e.res.ID
			case 1:
				if e.res.ID != "" && e.res.ID != ids[0] {
					return e.fail(400, fhir.IssueInvalid, "resource id %q differs from the matching %s/%s", e.res.ID, e.res.Type, ids[0])
				}
				e.res.SetID(ids[0])
			default:
				return e.fail(412, fhir.IssueMultiple, "conditional update %q matches more than one resource", e.url)
			}
			e.path = []string{e.path[0], e.res.ID}
			if e.fullURL != "" {
				refs[e.fullURL] = e.res.Type + "/" + e.res.ID
			}
		}
	}
	resolve := func(ref string) (string, error) {
		typ, rawQ, _ := strings.Cut(ref, "?")
		if !s.reg.IsResource(typ) {
			return "", fhir.Errorf(400, fhir.IssueInvalid, "conditional reference %q names no resource type", ref)
		}
		q, ferr := s.conditionQuery(ctx, typ, rawQ)
		if ferr != nil {
			return "", ferr
		}
		ids, err := tx.Match(ctx, q, 2)
		if err != nil {
			return "", err
		}
		if id, ok := creating[conditionKey(typ, rawQ)]; ok && len(ids) == 0 {
			ids = []string{id} // created by an entry of this Bundle
		}
		if len(ids) != 1 {
			return "", fhir.Errorf(412, fhir.IssueMultiple, "conditional reference %q matches %d resources; it must match exactly one", ref, len(ids))
		}
		return typ + "/" + ids[0], nil
	}
	for _, e := range order {
		if e.res != nil && e.method == "PATCH" {
			if err := rewritePatchRefs(e, refs); err != nil {
				return err
			}
		}
		if e.res != nil && (e.method == "POST" || e.method == "PUT") && e.resp == nil {
			if err := rewriteRefs(e.res.Root, refs, resolve); err != nil {
				if fe := fhir.AsError(err); fe != nil {
					fe.Issues[0].Expression = []string{e.where()}
				}
				return err
			}
			e.ix = s.index.Extract(e.res)
		}
	}
	return nil
}

// rewritePatchRefs points the references of a PATCH entry's patch at what the Bundle's
// urn:uuid fullUrls stand for: the Reference values of a FHIRPath Patch (Parameters), or
// the string values of a JSON Patch (Binary) that name a fullUrl.
func rewritePatchRefs(e *entry, refs map[string]string) error {
	switch e.res.Type {
	case "Parameters":
		return rewriteRefs(e.res.Root, refs, nil)
	case "Binary":
		data := e.res.Root.First("data")
		raw, err := base64.StdEncoding.DecodeString(e.res.Root.Text("data"))
		if data == nil || err != nil {
			return nil // patchRequest reports it
		}
		var doc any
		if json.Unmarshal(raw, &doc) != nil {
			return nil // the patch itself reports it
		}
		changed := false
		var walk func(v any) any
		walk = func(v any) any {
			switch v := v.(type) {
			case string:
				if to, ok := refs[v]; ok {
					changed = true
					return to
				}
			case []any:
				for i := range v {
					v[i] = walk(v[i])
				}
			case map[string]any:
				for k := range v {
					v[k] = walk(v[k])
				}
			}
			return v
		}
		doc = walk(doc)
		if changed {
			out, err := json.Marshal(doc)
			if err != nil {
				return err
			}
			data.Value = base64.StdEncoding.EncodeToString(out)
		}
	}
	return nil
}

// entryTx performs one write entry inside the transaction.
func (s *Service) entryTx(ctx context.Context, tx store.Tx, e *entry, sub *Request) (*Response, error) {
	switch e.method {
	case "POST":
		if e.resp != nil { // conditional create that matched
			rec, err := tx.Current(ctx, e.res.Type, e.res.ID)
			if err != nil {
				return nil, err
			}
			return writeResponse(sub, 200, rec), nil
		}
		return s.createTx(ctx, tx, sub, e.res, e.ix, nil)
	case "PUT":
		ifMatch, ferr := ifMatchVersion(e.ifMatch)
		if ferr != nil {
			ferr.Issues[0].Expression = []string{e.where()}
			return nil, ferr
		}
		return s.updateTx(ctx, tx, sub, e.res, e.ix, ifMatch)
	case "DELETE":
		if len(e.path) == 1 {
			q, ferr := s.conditionQuery(ctx, e.path[0], e.query.Encode())
			if ferr != nil {
				return nil, ferr
			}
			ids, err := tx.Match(ctx, q, 2)
			if err != nil {
				return nil, err
			}
			switch len(ids) {
			case 0:
				return &Response{Status: 204}, nil
			case 1:
				return s.deleteTx(ctx, tx, e.path[0], ids[0], 0)
			}
			return nil, e.fail(412, fhir.IssueMultiple, "conditional delete %q matches more than one resource", e.url)
		}
		ifMatch, ferr := ifMatchVersion(e.ifMatch)
		if ferr != nil {
			ferr.Issues[0].Expression = []string{e.where()}
			return nil, ferr
		}
		r, err := s.deleteTx(ctx, tx, e.path[0], e.path[1], ifMatch)
		if errors.Is(err, store.ErrNotFound) {
			// Deleting what does not exist leaves the system as asked.
			return &Response{Status: 204}, nil
		}
		return r, err
	case "PATCH":
		if err := patchRequest(e, sub); err != nil {
			return nil, err
		}
		typ, id := e.path[0], ""
		if len(e.path) == 2 {
			id = e.path[1]
		} else {
			q, ferr := s.conditionQuery(ctx, typ, e.query.Encode())
			if ferr != nil {
				return nil, ferr
			}
			ids, err := tx.Match(ctx, q, 2)
			if err != nil {
				return nil, err
			}
			switch len(ids) {
			case 0:
				return nil, e.fail(404, fhir.IssueNotFound, "conditional patch %q matches no resource", e.url)
			case 1:
			default:
				return nil, e.fail(412, fhir.IssueMultiple, "conditional patch %q matches %d resources", e.url, len(ids))
			}
			id = ids[0]
		}
		cur, err := tx.Current(ctx, typ, id)
		if err != nil {
			return nil, err
		}
		if cur.Deleted {
			return nil, store.ErrGone
		}
		if e.ifMatch != "" {
			if v, ok := parseETag(e.ifMatch); !ok || v != cur.Version {
				return nil, store.ErrVersionConflict
			}
		}
		res, err := applyPatch(cur.Body, sub)
		if err != nil {
			return nil, err
		}
		if res.Type != typ || res.ID != id {
			return nil, e.fail(422, fhir.IssueInvalid, "a patch may not change the resource type or id")
		}
		issues, ferr := s.checkWrite(sub, res, e.where()+".resource")
		if ferr != nil {
			return nil, ferr
		}
		e.issues = issues
		rec, err := tx.Put(ctx, &store.Put{Resource: res, Index: s.index.Extract(res), IfMatch: cur.Version})
		if err != nil {
			return nil, err
		}
		return writeResponse(sub, 200, rec), nil
	}
	return nil, e.fail(400, fhir.IssueInvalid, "unsupported method %s", e.method)
}

// hasConditionalRef reports whether any Reference.reference is a search (Type?params).
func hasConditionalRef(root *fhir.Node) bool {
	found := false
	root.Walk(func(n *fhir.Node) bool {
		if found {
			return false
		}
		if n.Type == "Reference" {
			if v, ok := stringValue(n.First("reference")); ok && isConditionalRef(v) {
				found = true
			}
		}
		return true
	})
	return found
}

// isConditionalRef reports whether v has the form Type?search.
func isConditionalRef(v string) bool {
	typ, _, ok := strings.Cut(v, "?")
	return ok && typ != "" && !strings.ContainsAny(typ, "/:#") && typ[0] >= 'A' && typ[0] <= 'Z'
}

// rewriteRefs replaces references to fullUrls of the Bundle by the Type/id they were given,
// and conditional references through resolve (nil: leave them).
func rewriteRefs(root *fhir.Node, refs map[string]string, resolve func(string) (string, error)) error {
	var err error
	root.Walk(func(n *fhir.Node) bool {
		if err != nil {
			return false
		}
		if n.Type != "Reference" {
			return true
		}
		rn := n.First("reference")
		v, ok := stringValue(rn)
		if !ok {
			return true
		}
		if to, ok := refs[v]; ok {
			rn.Value = to
		} else if resolve != nil && isConditionalRef(v) {
			to, e := resolve(v)
			if e != nil {
				err = e
				return false
			}
			rn.Value = to
		}
		return true
	})
	return err
}

// applyPatch applies the patch document of sub to a stored body.
func applyPatch(body []byte, sub *Request) (*fhir.Resource, error) {
	var patched []byte
	var err error
	if strings.Contains(sub.ContentType, "json-patch") {
		patched, err = applyJSONPatch(body, sub.Body)
	} else {
		patched, err = applyFHIRPathPatch(body, sub.Body)
	}
	if err != nil {
		return nil, err
	}
	res, err := fhir.Parse(patched)
	if err != nil {
		e := fhir.AsError(err)
		e.Status = 422
		return nil, e
	}
	return res, nil
}

// stringValue returns a primitive node's string value.
func stringValue(n *fhir.Node) (string, bool) {
	if n == nil {
		return "", false
	}
	v, ok := n.Value.(string)
	return v, ok
}
