package interaction

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/search"
	"github.com/concord-health/concord/store"
)

func (s *Service) read(ctx context.Context, req *Request, typ, id string) *Response {
	rec, err := s.store.Read(ctx, typ, id)
	return s.readResponse(req, rec, err)
}

func (s *Service) vread(ctx context.Context, req *Request, typ, id string, v int64) *Response {
	rec, err := s.store.VRead(ctx, typ, id, v)
	return s.readResponse(req, rec, err)
}

func (s *Service) readResponse(req *Request, rec *store.Record, err error) *Response {
	if errors.Is(err, store.ErrGone) {
		r := failure(fhir.Errorf(410, fhir.IssueDeleted, "%s/%s was deleted (version %d)", rec.Type, rec.ID, rec.Version))
		r.Version, r.LastModified = rec.Version, rec.LastUpdated
		return r
	}
	if err != nil {
		return failure(err)
	}
	resp := &Response{Status: 200, Body: rec.Body, Version: rec.Version, LastModified: rec.LastUpdated}
	if req.IfNoneMatch != "" {
		if v, ok := parseETag(req.IfNoneMatch); (ok && v == rec.Version) || strings.TrimSpace(req.IfNoneMatch) == "*" {
			return &Response{Status: 304, Version: rec.Version, LastModified: rec.LastUpdated}
		}
	}
	if !req.IfModifiedSince.IsZero() && !rec.LastUpdated.Truncate(time.Second).After(req.IfModifiedSince) {
		return &Response{Status: 304, Version: rec.Version, LastModified: rec.LastUpdated}
	}
	if sum, elems := req.Query.Get("_summary"), req.Query.Get("_elements"); sum != "" || elems != "" {
		body, err := project(rec.Body, sum, splitList(elems))
		if err != nil {
			return failure(err)
		}
		resp.Body = body
	}
	return resp
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// sinceFilter parses a _since/_at value (any FHIR date, dateTime or instant) as the search
// filter _lastUpdated=ge<value>, so both share one date grammar.
func (s *Service) sinceFilter(name, v string) (*search.Filter, *fhir.Error) {
	q, _, err := search.Parse(s.reg, "", url.Values{"_lastUpdated": {"ge" + v}}, true)
	if err != nil || len(q.Filters) != 1 || len(q.Filters[0].Values) != 1 {
		return nil, fhir.Errorf(400, fhir.IssueInvalid, "invalid %s %q", name, v)
	}
	return q.Filters[0], nil
}

// parseInstant reads a _since/_at value as the start of the range it denotes.
func (s *Service) parseInstant(name, v string) (time.Time, *fhir.Error) {
	f, e := s.sinceFilter(name, v)
	if e != nil {
		return time.Time{}, e
	}
	return time.UnixMicro(f.Values[0].DateLo).UTC(), nil
}

func (s *Service) history(ctx context.Context, req *Request, typ, id string) *Response {
	hr := store.HistoryRequest{Type: typ, ID: id, Cursor: req.Query.Get("_page")}
	for k := range req.Query {
		switch k {
		case "_since", "_at", "_count", "_page", "_format", "_pretty", "_summary", "_elements":
		default:
			if req.Prefer.Handling == "strict" {
				return failure(fhir.Errorf(400, fhir.IssueNotSupported, "unknown history parameter %s", k))
			}
		}
	}
	if v := req.Query.Get("_since"); v != "" {
		t, e := s.parseInstant("_since", v)
		if e != nil {
			return failure(e)
		}
		hr.Since = t
	}
	if v := req.Query.Get("_at"); v != "" {
		t, e := s.parseInstant("_at", v)
		if e != nil {
			return failure(e)
		}
		hr.At = t
	}
	if v := req.Query.Get("_count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return failure(fhir.Errorf(400, fhir.IssueInvalid, "invalid _count %q", v))
		}
		hr.Count = min(n, MaxCount)
	}
	if id != "" {
		if _, err := s.store.Read(ctx, typ, id); errors.Is(err, store.ErrNotFound) {
			return failure(err)
		}
	}
	page, err := s.store.History(ctx, hr)
	if err != nil {
		return failure(err)
	}
	b := newBundle("history", req.Base)
	b.total(page.Total)
	self := strings.TrimSuffix(req.Path, "/")
	b.link("self", req.Base, self, req.Query)
	if page.Next != "" {
		q := cloneQuery(req.Query)
		q.Set("_page", page.Next)
		b.link("next", req.Base, self, q)
	}
	b.startEntries()
	for _, r := range page.Records {
		method, status := "PUT", "200 OK"
		switch {
		case r.Deleted:
			method, status = "DELETE", "204 No Content"
		case r.Version == 1:
			method, status = "POST", "201 Created"
		}
		b.historyEntry(r, method, status)
	}
	return &Response{Status: 200, Body: b.finish()}
}

// MaxCount caps _count so one request cannot ask for an unbounded page.
const MaxCount = 1000

func cloneQuery(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

func (s *Service) search(ctx context.Context, req *Request, typ string, comp *search.Compartment) *Response {
	params := req.Query
	if req.Method == "POST" && len(req.Body) > 0 {
		// POST _search: parameters come form-encoded in the body as well as in the URL.
		if !strings.HasPrefix(strings.ToLower(req.ContentType), "application/x-www-form-urlencoded") {
			return failure(fhir.Errorf(415, fhir.IssueNotSupported, "POST _search needs application/x-www-form-urlencoded, not %q", req.ContentType))
		}
		form, err := url.ParseQuery(string(req.Body))
		if err != nil {
			return failure(fhir.Errorf(400, fhir.IssueInvalid, "invalid form body: %v", err))
		}
		params = cloneQuery(params)
		for k, v := range form {
			params[k] = append(params[k], v...)
		}
	}
	q, warnings, err := search.Parse(s.reg, typ, params, req.Prefer.Handling == "strict")
	if err == nil {
		err = s.resolveCodes(ctx, q)
	}
	if err != nil {
		return failure(err)
	}
	if comp != nil {
		q.Compartment = comp
		if typ == "*" {
			q.Type = ""
		}
	}
	res, err := s.store.Search(ctx, q)
	if err != nil {
		return failure(err)
	}
	self := strings.TrimSuffix(req.Path, "/_search")
	return &Response{Status: 200, Body: searchBundle(req.Base, self, params, q, res, warnings)}
}

// searchBundle renders a searchset Bundle.
func searchBundle(base, path string, params url.Values, q *search.Query, res *store.Result, warnings []fhir.Issue) []byte {
	size := 0
	for _, r := range res.Matches {
		size += len(r.Body) + len(base) + len(r.Type) + len(r.ID) + 64
	}
	for _, r := range res.Included {
		size += len(r.Body) + len(base) + len(r.Type) + len(r.ID) + 64
	}
	b := newBundle("searchset", base)
	b.buf.Grow(size) // one allocation for the whole Bundle rather than a doubling series
	if res.Total >= 0 {
		b.total(res.Total)
	}
	selfQ := cloneQuery(params)
	selfQ.Del("_page")
	b.link("self", base, path, selfQ)
	if res.Next != "" {
		nq := cloneQuery(selfQ)
		nq.Set("_page", res.Next)
		b.link("next", base, path, nq)
	}
	if res.Prev != "" {
		pq := cloneQuery(selfQ)
		pq.Set("_page", res.Prev)
		b.link("previous", base, path, pq)
	}
	b.startEntries()
	for _, r := range res.Matches {
		b.searchEntry(r, "match", projectOrKeep(r.Body, q))
	}
	for _, r := range res.Included {
		b.searchEntry(r, "include", projectOrKeep(r.Body, q))
	}
	if len(warnings) > 0 {
		b.outcomeEntry(fhir.OperationOutcome(warnings...))
	}
	return b.finish()
}

func projectOrKeep(body []byte, q *search.Query) []byte {
	if q.Summary == "" && len(q.Elements) == 0 {
		return body
	}
	out, err := project(body, q.Summary, q.Elements)
	if err != nil {
		return body
	}
	return out
}

// everything is Patient/$everything: the patient, every resource in its compartment and the
// resources those reference (practitioners, organisations, medications…), paged.
func (s *Service) everything(ctx context.Context, req *Request, id string) *Response {
	if _, err := s.store.Read(ctx, "Patient", id); err != nil {
		return s.readResponse(req, nil, err)
	}
	q := &search.Query{Compartment: &search.Compartment{Type: "Patient", ID: id}, Count: EverythingCount,
		Cursor: req.Query.Get("_page"), Total: "accurate",
		Includes: []search.Include{{SourceType: "*", Param: "*"}}}
	for k, vs := range req.Query {
		switch k {
		case "_count":
			n, err := strconv.Atoi(vs[0])
			if err != nil || n < 1 {
				return failure(fhir.Errorf(400, fhir.IssueInvalid, "invalid _count %q", vs[0]))
			}
			q.Count = min(n, MaxEverythingCount)
		case "_type":
			for _, t := range splitList(strings.Join(vs, ",")) {
				if !s.reg.IsResource(t) {
					return failure(fhir.Errorf(400, fhir.IssueInvalid, "unknown resource type %q in _type", t))
				}
				q.Types = append(q.Types, t)
			}
		case "_since":
			f, e := s.sinceFilter("_since", vs[0])
			if e != nil {
				return failure(e)
			}
			q.Filters = append(q.Filters, f)
		case "_page", "_format", "_pretty":
		default:
			if req.Prefer.Handling == "strict" {
				return failure(fhir.Errorf(400, fhir.IssueNotSupported, "unknown $everything parameter %s", k))
			}
		}
	}
	res, err := s.store.Search(ctx, q)
	if err != nil {
		return failure(err)
	}
	return &Response{Status: 200, Body: searchBundle(req.Base, "Patient/"+id+"/$everything", req.Query, q, res, nil)}
}

// EverythingCount is $everything's default page size: a whole record in one response for
// typical patients; MaxEverythingCount caps what a client may ask for.
const (
	EverythingCount    = 1000
	MaxEverythingCount = 5000
)

// bundleWriter renders a Bundle straight into bytes, embedding stored resource bodies as they
// are rather than re-serialising them.
type bundleWriter struct {
	buf         bytes.Buffer
	base        string
	baseEscaped string // base as it appears inside a JSON string
	links       int
	entries     int
}

func newBundle(typ, base string) *bundleWriter {
	q := fhir.AppendJSONString(nil, base)
	b := &bundleWriter{base: base, baseEscaped: string(q[1 : len(q)-1])}
	b.buf.Grow(4096)
	b.buf.WriteString(`{"resourceType":"Bundle","id":"`)
	b.buf.WriteString(NewID())
	b.buf.WriteString(`","meta":{"lastUpdated":"`)
	b.buf.WriteString(time.Now().UTC().Format("2006-01-02T15:04:05.000Z"))
	b.buf.WriteString(`"},"type":"`)
	b.buf.WriteString(typ)
	b.buf.WriteString(`"`)
	return b
}

func (b *bundleWriter) total(n int) {
	b.buf.WriteString(`,"total":`)
	b.buf.WriteString(strconv.Itoa(n))
}

func (b *bundleWriter) link(rel, base, path string, q url.Values) {
	if b.links == 0 {
		b.buf.WriteString(`,"link":[`)
	} else {
		b.buf.WriteByte(',')
	}
	b.links++
	u := base + "/" + path
	if enc := q.Encode(); enc != "" {
		u += "?" + enc
	}
	b.buf.WriteString(`{"relation":`)
	writeJSONString(&b.buf, rel)
	b.buf.WriteString(`,"url":`)
	writeJSONString(&b.buf, u)
	b.buf.WriteString(`}`)
}

func (b *bundleWriter) startEntries() {
	if b.links > 0 {
		b.buf.WriteByte(']')
	}
}

func (b *bundleWriter) entry() {
	if b.entries == 0 {
		b.buf.WriteString(`,"entry":[`)
	} else {
		b.buf.WriteByte(',')
	}
	b.entries++
}

func (b *bundleWriter) fullURL(typ, id string) {
	b.buf.WriteString(`"fullUrl":"`)
	// Types are names and ids [A-Za-z0-9\-\.]{1,64}: only the base may need escaping,
	// and it is escaped once per Bundle.
	b.buf.WriteString(b.baseEscaped)
	b.buf.WriteByte('/')
	b.buf.WriteString(typ)
	b.buf.WriteByte('/')
	b.buf.WriteString(id)
	b.buf.WriteByte('"')
}

func (b *bundleWriter) searchEntry(r *store.Record, mode string, body []byte) {
	b.entry()
	b.buf.WriteByte('{')
	b.fullURL(r.Type, r.ID)
	b.buf.WriteString(`,"resource":`)
	b.buf.Write(body)
	b.buf.WriteString(`,"search":{"mode":"`)
	b.buf.WriteString(mode)
	b.buf.WriteString(`"}}`)
}

func (b *bundleWriter) outcomeEntry(body []byte) {
	b.entry()
	b.buf.WriteString(`{"resource":`)
	b.buf.Write(body)
	b.buf.WriteString(`,"search":{"mode":"outcome"}}`)
}

func (b *bundleWriter) historyEntry(r *store.Record, method, status string) {
	b.entry()
	b.buf.WriteByte('{')
	b.fullURL(r.Type, r.ID)
	if !r.Deleted {
		b.buf.WriteString(`,"resource":`)
		b.buf.Write(r.Body)
	}
	url := r.Type + "/" + r.ID
	if method == "POST" {
		url = r.Type
	}
	b.buf.WriteString(`,"request":{"method":"` + method + `","url":`)
	writeJSONString(&b.buf, url)
	b.buf.WriteString(`},"response":{"status":"` + status + `","etag":"W/\"` + strconv.FormatInt(r.Version, 10) + `\"","lastModified":"`)
	b.buf.WriteString(r.LastUpdated.UTC().Format(time.RFC3339Nano))
	b.buf.WriteString(`"}}`)
}

// responseEntry writes a batch/transaction-response entry.
func (b *bundleWriter) responseEntry(fullURL string, resp *Response) {
	b.entry()
	b.buf.WriteByte('{')
	if fullURL != "" {
		b.buf.WriteString(`"fullUrl":`)
		writeJSONString(&b.buf, fullURL)
		b.buf.WriteByte(',')
	}
	if len(resp.Body) > 0 && resp.Err == nil {
		b.buf.WriteString(`"resource":`)
		b.buf.Write(resp.Body)
		b.buf.WriteByte(',')
	}
	b.buf.WriteString(`"response":{"status":`)
	writeJSONString(&b.buf, strconv.Itoa(resp.Status)+" "+statusText(resp.Status))
	if resp.Location != "" {
		b.buf.WriteString(`,"location":`)
		writeJSONString(&b.buf, resp.Location)
	}
	if et := resp.ETag(); et != "" {
		b.buf.WriteString(`,"etag":`)
		writeJSONString(&b.buf, et)
	}
	if !resp.LastModified.IsZero() {
		b.buf.WriteString(`,"lastModified":"` + resp.LastModified.UTC().Format(time.RFC3339Nano) + `"`)
	}
	switch {
	case resp.Err != nil:
		b.buf.WriteString(`,"outcome":`)
		b.buf.Write(resp.Body)
	case len(resp.Issues) > 0:
		b.buf.WriteString(`,"outcome":`)
		b.buf.Write(fhir.OperationOutcome(resp.Issues...))
	}
	b.buf.WriteString(`}}`)
}

func (b *bundleWriter) finish() []byte {
	if b.entries > 0 {
		b.buf.WriteByte(']')
	}
	b.buf.WriteByte('}')
	return b.buf.Bytes()
}

func writeJSONString(b *bytes.Buffer, s string) {
	b.Write(fhir.AppendJSONString(b.AvailableBuffer(), s))
}
