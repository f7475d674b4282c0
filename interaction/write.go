package interaction

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/search"
	"github.com/concord-health/concord/store"
)

// resourceFromRequest returns the request's resource, checking it is of type typ.
func resourceFromRequest(req *Request, typ string) (*fhir.Resource, *fhir.Error) {
	res := req.Resource
	if res == nil {
		if len(req.Body) == 0 {
			return nil, fhir.Errorf(400, fhir.IssueRequired, "the request has no resource")
		}
		r, err := fhir.Parse(req.Body)
		if err != nil {
			return nil, fhir.AsError(err)
		}
		res = r
	}
	if res.Type != typ {
		return nil, fhir.Errorf(400, fhir.IssueInvalid, "resourceType %s does not match the URL's type %s", res.Type, typ)
	}
	return res, nil
}

// parseETag reads an If-Match value: W/"3", "3" or 3.
func parseETag(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "W/")
	s = strings.Trim(s, `"`)
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil && v > 0
}

// ifMatchVersion reads an If-Match value (0 when absent), as a 400 when malformed.
func ifMatchVersion(h string) (int64, *fhir.Error) {
	if h == "" {
		return 0, nil
	}
	v, ok := parseETag(h)
	if !ok {
		return 0, fhir.Errorf(400, fhir.IssueInvalid, "invalid If-Match %q", h)
	}
	return v, nil
}

// conditionQuery parses the search of a conditional interaction (If-None-Exist or a
// conditional URL). Unknown parameters are an error: guessing could update the wrong record.
func (s *Service) conditionQuery(ctx context.Context, typ, raw string) (*search.Query, *fhir.Error) {
	vals, err := url.ParseQuery(strings.TrimPrefix(raw, "?"))
	if err != nil {
		return nil, fhir.Errorf(400, fhir.IssueInvalid, "invalid condition %q: %v", raw, err)
	}
	if len(vals) == 0 {
		return nil, fhir.Errorf(400, fhir.IssueInvalid, "empty search condition")
	}
	q, _, err := search.Parse(s.reg, typ, vals, true)
	if err == nil {
		err = s.resolveCodes(ctx, q)
	}
	if err != nil {
		return nil, fhir.AsError(err)
	}
	return q, nil
}

// writeResponse shapes a successful write according to Prefer: return=.
func writeResponse(req *Request, status int, rec *store.Record) *Response {
	r := &Response{Status: status, Version: rec.Version, LastModified: rec.LastUpdated,
		Location: rec.Type + "/" + rec.ID + "/_history/" + strconv.FormatInt(rec.Version, 10)}
	switch req.Prefer.Return {
	case "minimal":
	case "OperationOutcome":
		r.Body = fhir.OperationOutcome(okIssue(r.Location))
	default:
		r.Body = rec.Body
	}
	return r
}

func okIssue(location string) fhir.Issue {
	return fhir.Issue{Severity: fhir.SeverityInformation, Code: fhir.IssueInformation, Diagnostics: "ok: " + location}
}

// written finishes a single-resource write: it tells the commit hooks and attaches the
// validation issues of a write accepted in warn mode to the response.
func (s *Service) written(req *Request, res *fhir.Resource, r *Response, issues []fhir.Issue) *Response {
	if stored(res, r) {
		s.committed(res)
	}
	return withIssues(req, r, issues)
}

// stored reports whether a write's response says res itself was stored as a new version (a
// conditional create that matched, or an update without changes, stored nothing).
func stored(res *fhir.Resource, r *Response) bool {
	return r != nil && r.Err == nil && !r.unchanged && res != nil &&
		strings.HasPrefix(r.Location, res.Type+"/"+res.ID+"/_history/")
}

// withIssues attaches the validation issues of a write accepted in warn mode to its
// response.
func withIssues(req *Request, r *Response, issues []fhir.Issue) *Response {
	if len(issues) == 0 || r.Err != nil {
		return r
	}
	r.Issues = issues
	if req.Prefer.Return == "OperationOutcome" {
		r.Body = fhir.OperationOutcome(append([]fhir.Issue{okIssue(r.Location)}, issues...)...)
	}
	return r
}

// inTx runs fn in one write transaction and turns its error into a response.
func (s *Service) inTx(ctx context.Context, fn func(tx store.Tx) (*Response, error)) *Response {
	var resp *Response
	err := s.store.Update(ctx, func(tx store.Tx) error {
		r, err := fn(tx)
		resp = r
		return err
	})
	if err != nil {
		return failure(err)
	}
	return resp
}

func (s *Service) create(ctx context.Context, req *Request, typ string) *Response {
	res, ferr := resourceFromRequest(req, typ)
	if ferr != nil {
		return failure(ferr)
	}
	var cond *search.Query
	if req.IfNoneExist != "" {
		if cond, ferr = s.conditionQuery(ctx, typ, req.IfNoneExist); ferr != nil {
			return failure(ferr)
		}
	}
	// The server owns ids on create: a client id in the body is replaced.
	res.SetID(NewID())
	issues, ferr := s.checkWrite(req, res, "")
	if ferr != nil {
		return failure(ferr)
	}
	ix := s.index.Extract(res)
	return s.written(req, res, s.inTx(ctx, func(tx store.Tx) (*Response, error) {
		return s.createTx(ctx, tx, req, res, ix, cond)
	}), issues)
}

func (s *Service) createTx(ctx context.Context, tx store.Tx, req *Request, res *fhir.Resource, ix *search.Index, cond *search.Query) (*Response, error) {
	if cond != nil {
		ids, err := tx.Match(ctx, cond, 2)
		if err != nil {
			return nil, err
		}
		switch len(ids) {
		case 0:
		case 1:
			rec, err := tx.Current(ctx, res.Type, ids[0])
			if err != nil {
				return nil, err
			}
			return writeResponse(req, 200, rec), nil
		default:
			return nil, fhir.Errorf(412, fhir.IssueMultiple, "If-None-Exist matches more than one %s", res.Type)
		}
	}
	rec, err := tx.Put(ctx, &store.Put{Resource: res, Index: ix, CreateOnly: true})
	if err != nil {
		return nil, err
	}
	return writeResponse(req, 201, rec), nil
}

func (s *Service) update(ctx context.Context, req *Request, typ, id string) *Response {
	res, ferr := resourceFromRequest(req, typ)
	if ferr != nil {
		return failure(ferr)
	}
	if res.ID == "" {
		return failure(fhir.Errorf(400, fhir.IssueRequired, "an update must carry the resource id (%s)", id))
	}
	if res.ID != id {
		return failure(fhir.Errorf(400, fhir.IssueInvalid, "the resource id %q does not match the URL's id %q", res.ID, id))
	}
	ifMatch, ferr := ifMatchVersion(req.IfMatch)
	if ferr != nil {
		return failure(ferr)
	}
	issues, ferr := s.checkWrite(req, res, "")
	if ferr != nil {
		return failure(ferr)
	}
	ix := s.index.Extract(res)
	return s.written(req, res, s.inTx(ctx, func(tx store.Tx) (*Response, error) {
		return s.updateTx(ctx, tx, req, res, ix, ifMatch)
	}), issues)
}

func (s *Service) updateTx(ctx context.Context, tx store.Tx, req *Request, res *fhir.Resource, ix *search.Index, ifMatch int64) (*Response, error) {
	if req.createFirst && ifMatch == 0 {
		rec, err := tx.Put(ctx, &store.Put{Resource: res, Index: ix, CreateOnly: true})
		if err == nil {
			return writeResponse(req, 201, rec), nil
		}
		if !errors.Is(err, store.ErrExists) {
			return nil, err
		}
	}
	cur, err := tx.Current(ctx, res.Type, res.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if ifMatch != 0 && (cur == nil || cur.Deleted) {
		return nil, fhir.Errorf(412, fhir.IssueConflict, "If-Match version %d: %s/%s does not exist", ifMatch, res.Type, res.ID)
	}
	if cur != nil && !cur.Deleted && ifMatch == 0 || cur != nil && !cur.Deleted && ifMatch == cur.Version {
		// An update that changes nothing keeps the current version: repeated loads and
		// retried requests must not grow the history.
		if same, err := sameContent(res, cur); err != nil {
			return nil, err
		} else if same {
			r := writeResponse(req, 200, cur)
			r.unchanged = true
			return r, nil
		}
	}
	rec, err := tx.Put(ctx, &store.Put{Resource: res, Index: ix, IfMatch: ifMatch})
	if err != nil {
		return nil, err
	}
	status := 200
	if cur == nil || cur.Deleted {
		status = 201
	}
	return writeResponse(req, status, rec), nil
}

func (s *Service) delete(ctx context.Context, req *Request, typ, id string) *Response {
	ifMatch, ferr := ifMatchVersion(req.IfMatch)
	if ferr != nil {
		return failure(ferr)
	}
	return s.inTx(ctx, func(tx store.Tx) (*Response, error) {
		return s.deleteTx(ctx, tx, typ, id, ifMatch)
	})
}

func (s *Service) deleteTx(ctx context.Context, tx store.Tx, typ, id string, ifMatch int64) (*Response, error) {
	rec, err := tx.Delete(ctx, typ, id, ifMatch)
	switch {
	case errors.Is(err, store.ErrGone):
		// Deleting what is already deleted changes nothing and succeeds (idempotent).
		return &Response{Status: 200, Version: rec.Version, Body: fhir.OperationOutcome(fhir.Issue{
			Severity: fhir.SeverityInformation, Code: fhir.IssueInformation, Diagnostics: typ + "/" + id + " was already deleted"})}, nil
	case err != nil:
		return nil, err
	}
	return &Response{Status: 200, Version: rec.Version, LastModified: rec.LastUpdated, Body: fhir.OperationOutcome(fhir.Issue{
		Severity: fhir.SeverityInformation, Code: fhir.IssueInformation, Diagnostics: "deleted " + typ + "/" + id + " (version " + strconv.FormatInt(rec.Version, 10) + ")"})}, nil
}

// conditional handles PUT, DELETE and PATCH on Type?search.
func (s *Service) conditional(ctx context.Context, req *Request, typ string) *Response {
	if len(req.Query) == 0 {
		if req.Method == "PUT" || req.Method == "PATCH" {
			return failure(fhir.Errorf(400, fhir.IssueRequired, "%s needs a resource id or a search condition", req.Method))
		}
		return failure(fhir.Errorf(405, fhir.IssueNotSupported, "DELETE on a whole type needs a search condition"))
	}
	cond, ferr := s.conditionQuery(ctx, typ, req.Query.Encode())
	if ferr != nil {
		return failure(ferr)
	}
	switch req.Method {
	case "DELETE":
		return s.inTx(ctx, func(tx store.Tx) (*Response, error) {
			ids, err := tx.Match(ctx, cond, 2)
			if err != nil {
				return nil, err
			}
			switch len(ids) {
			case 0:
				return &Response{Status: 204}, nil
			case 1:
				return s.deleteTx(ctx, tx, typ, ids[0], 0)
			}
			return nil, fhir.Errorf(412, fhir.IssueMultiple, "the condition matches more than one %s", typ)
		})
	case "PATCH":
		var id string
		err := s.store.Update(ctx, func(tx store.Tx) error {
			ids, err := tx.Match(ctx, cond, 2)
			if err != nil {
				return err
			}
			switch len(ids) {
			case 0:
				return fhir.Errorf(404, fhir.IssueNotFound, "the condition matches no %s", typ)
			case 1:
			default:
				return fhir.Errorf(412, fhir.IssueMultiple, "the condition matches %d %s resources; a conditional patch needs exactly one", len(ids), typ)
			}
			id = ids[0]
			return nil
		})
		if err != nil {
			return failure(err)
		}
		return s.patch(ctx, req, typ, id)
	}
	res, ferr := resourceFromRequest(req, typ)
	if ferr != nil {
		return failure(ferr)
	}
	issues, ferr := s.checkWrite(req, res, "")
	if ferr != nil {
		return failure(ferr)
	}
	return s.written(req, res, s.inTx(ctx, func(tx store.Tx) (*Response, error) {
		return s.conditionalUpdateTx(ctx, tx, req, res, cond)
	}), issues)
}

func (s *Service) conditionalUpdateTx(ctx context.Context, tx store.Tx, req *Request, res *fhir.Resource, cond *search.Query) (*Response, error) {
	ids, err := tx.Match(ctx, cond, 2)
	if err != nil {
		return nil, err
	}
	switch len(ids) {
	case 0:
		if res.ID == "" {
			res.SetID(NewID())
		}
	case 1:
		if res.ID != "" && res.ID != ids[0] {
			return nil, fhir.Errorf(400, fhir.IssueInvalid, "the resource id %q differs from the matching resource %s/%s", res.ID, res.Type, ids[0])
		}
		res.SetID(ids[0])
	default:
		return nil, fhir.Errorf(412, fhir.IssueMultiple, "the condition matches more than one %s", res.Type)
	}
	return s.updateTx(ctx, tx, req, res, s.index.Extract(res), 0)
}

// sameContent reports whether res, stamped with cur's meta, serialises to cur's body.
func sameContent(res *fhir.Resource, cur *store.Record) (bool, error) {
	res.SetMeta(strconv.FormatInt(cur.Version, 10), cur.LastUpdated)
	return bytes.Equal(res.Bytes(), cur.Body), nil
}
