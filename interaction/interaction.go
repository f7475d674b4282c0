// Package interaction carries out FHIR RESTful interactions — read, vread, create, update,
// patch, delete (each also conditional), history, search, compartments, $everything,
// $validate, the terminology operations, batch and transaction — over a store.Store,
// independent of HTTP. The HTTP server, the import command and the integration engine all
// write through it, so that every write gets the same checks, validation, versioning and
// index.
package interaction

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/fhir/validation"
	"github.com/concord-health/concord/search"
	"github.com/concord-health/concord/store"
	"github.com/concord-health/concord/terminology"
)

// Indexer extracts a resource's search index rows (search.Extractor).
type Indexer interface {
	Extract(res *fhir.Resource) *search.Index
}

// Service performs interactions against one store.
type Service struct {
	store store.Store
	reg   *definitions.Registry
	index Indexer
	// MaxBundleEntries bounds a batch or transaction.
	MaxBundleEntries int
	// Validation says, per source of writes, whether resources are validated before they
	// are stored (off by default).
	Validation ValidationPolicy
	// hooks are told of stored resources by type (OnCommit).
	hooks map[string][]CommitHook
	// rules check resources of a type before they are written (AddWriteRule).
	rules map[string][]WriteRule

	// validator is made on the first $validate: loading the constraints takes a moment.
	validatorOnce sync.Once
	validator     *validation.Validator
	validatorErr  error

	// terms answers the terminology operations; the core content is loaded on first use
	// unless UseTerminology set one.
	termOnce sync.Once
	terms    *terminology.Service
	termErr  error
}

// New returns a Service over st.
func New(st store.Store, reg *definitions.Registry, ix Indexer) *Service {
	return &Service{store: st, reg: reg, index: ix, MaxBundleEntries: 10000}
}

// Store returns the underlying store.
func (s *Service) Store() store.Store { return s.store }

// Request is one interaction, as received over HTTP or as a Bundle entry.
type Request struct {
	Method string
	// Path is relative to the FHIR base, without query: "Patient/1/_history/2".
	Path  string
	Query url.Values
	// Body is the request payload (a resource, a Bundle, a patch document); Resource, when
	// set, is the already parsed resource (Bundle entries).
	Body        []byte
	Resource    *fhir.Resource
	ContentType string

	IfMatch         string
	IfNoneMatch     string
	IfNoneExist     string
	IfModifiedSince time.Time
	Prefer          Prefer
	// Base is the absolute FHIR base URL used in links, fullUrls and Locations.
	Base string
	// Source names where the request comes from ("http", "import", an integration
	// channel), for the validation policy; empty means SourceHTTP.
	Source string
	// InTransaction, when set on a transaction Bundle, runs inside its write transaction
	// after the entries, so that work recorded elsewhere in the database (an integration
	// inbox marking its message applied) commits or rolls back with them.
	InTransaction func(ctx context.Context, tx store.Tx) error

	// createFirst: updates of this request mostly create (a bulk load), so each tries the
	// create first and reads the current version only when one exists.
	createFirst bool
}

// Prefer holds the parsed Prefer header.
type Prefer struct {
	Return   string // minimal, representation, OperationOutcome
	Handling string // strict, lenient
}

// ParsePrefer reads a Prefer header value ("return=minimal, handling=strict").
func ParsePrefer(h string) Prefer {
	var p Prefer
	for _, part := range strings.FieldsFunc(h, func(r rune) bool { return r == ',' || r == ';' }) {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		v = strings.Trim(strings.TrimSpace(v), `"`)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "return":
			p.Return = v
		case "handling":
			p.Handling = v
		}
	}
	return p
}

// Response is the outcome of an interaction.
type Response struct {
	Status int
	// Body is the JSON payload (resource, Bundle or OperationOutcome); nil for none.
	Body []byte
	// Location is relative to the base ("Patient/1/_history/1").
	Location     string
	Version      int64
	LastModified time.Time
	// Err is set for failures (Body then holds the OperationOutcome).
	Err *fhir.Error
	// Issues are the validation issues of a write accepted in warn mode; they are in Body
	// when the client asked for an OperationOutcome, and in a Bundle entry's outcome.
	Issues []fhir.Issue
	// unchanged marks an update whose content equalled the current version (no new version).
	unchanged bool
}

// ETag returns the weak ETag of the version, or "".
func (r *Response) ETag() string {
	if r.Version == 0 {
		return ""
	}
	return `W/"` + strconv.FormatInt(r.Version, 10) + `"`
}

func failure(err error) *Response {
	e := asError(err)
	return &Response{Status: e.Status, Body: fhir.OperationOutcome(e.Issues...), Err: e}
}

// asError maps store and parse errors to FHIR errors with their HTTP status.
func asError(err error) *fhir.Error {
	switch err {
	case store.ErrNotFound:
		return fhir.Errorf(404, fhir.IssueNotFound, "resource not found")
	case store.ErrGone:
		return fhir.Errorf(410, fhir.IssueDeleted, "resource deleted")
	case store.ErrVersionConflict:
		return fhir.Errorf(412, fhir.IssueConflict, "the resource has changed: If-Match names a version that is not the current one")
	case store.ErrExists:
		return fhir.Errorf(409, fhir.IssueDuplicate, "a resource with this id already exists")
	}
	if e := fhir.AsError(err); e != nil && e.Status != 500 {
		return e
	}
	if strings.Contains(err.Error(), store.ErrBadCursor.Error()) {
		return fhir.Errorf(400, fhir.IssueInvalid, "%v", err)
	}
	return fhir.Errorf(500, fhir.IssueException, "%v", err)
}

// NewID returns a fresh server-assigned id (a random UUID, which also keeps ids unguessable).
func NewID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Do performs one interaction.
func (s *Service) Do(ctx context.Context, req *Request) *Response {
	if req.Query == nil {
		req.Query = url.Values{}
	}
	seg := splitPath(req.Path)
	m := req.Method
	switch len(seg) {
	case 0:
		switch m {
		case "POST":
			return s.bundle(ctx, req)
		case "GET":
			return s.search(ctx, req, "", nil)
		}
	case 1:
		switch {
		case seg[0] == "_history" && m == "GET":
			return s.history(ctx, req, "", "")
		case seg[0] == "_search" && m == "POST":
			return s.search(ctx, req, "", nil)
		case strings.HasPrefix(seg[0], "$"):
			return failure(fhir.Errorf(404, fhir.IssueNotSupported, "operation %s is not supported", seg[0]))
		}
		if !s.reg.IsResource(seg[0]) {
			return failure(fhir.Errorf(404, fhir.IssueNotSupported, "unknown resource type %q", seg[0]))
		}
		switch m {
		case "GET":
			return s.search(ctx, req, seg[0], nil)
		case "POST":
			return s.create(ctx, req, seg[0])
		case "PUT", "PATCH", "DELETE":
			return s.conditional(ctx, req, seg[0])
		}
	case 2:
		typ, id := seg[0], seg[1]
		if !s.reg.IsResource(typ) {
			return failure(fhir.Errorf(404, fhir.IssueNotSupported, "unknown resource type %q", typ))
		}
		switch {
		case id == "_history" && m == "GET":
			return s.history(ctx, req, typ, "")
		case id == "_search" && m == "POST":
			return s.search(ctx, req, typ, nil)
		case id == "$validate" && m == "POST":
			return s.validate(ctx, req, typ, "")
		case isTerminologyOp(typ, id):
			return s.terminologyOp(ctx, req, typ, "", id)
		case strings.HasPrefix(id, "$") || strings.HasPrefix(id, "_"):
			return failure(fhir.Errorf(404, fhir.IssueNotSupported, "%s/%s is not supported", typ, id))
		}
		if !validID(id) {
			return failure(fhir.Errorf(400, fhir.IssueInvalid, "invalid resource id %q", id))
		}
		switch m {
		case "GET":
			return s.read(ctx, req, typ, id)
		case "PUT":
			return s.update(ctx, req, typ, id)
		case "DELETE":
			return s.delete(ctx, req, typ, id)
		case "PATCH":
			return s.patch(ctx, req, typ, id)
		}
	case 3:
		typ, id, op := seg[0], seg[1], seg[2]
		if !s.reg.IsResource(typ) {
			return failure(fhir.Errorf(404, fhir.IssueNotSupported, "unknown resource type %q", typ))
		}
		switch {
		case op == "_history" && m == "GET":
			return s.history(ctx, req, typ, id)
		case op == "$everything" && typ == "Patient" && (m == "GET" || m == "POST"):
			return s.everything(ctx, req, id)
		case op == "$validate" && (m == "GET" || m == "POST"):
			return s.validate(ctx, req, typ, id)
		case isTerminologyOp(typ, op):
			return s.terminologyOp(ctx, req, typ, id, op)
		case typ == "Patient" && m == "GET" && (s.reg.IsResource(op) || op == "*"):
			return s.search(ctx, req, op, &search.Compartment{Type: typ, ID: id})
		case strings.HasPrefix(op, "$"):
			return failure(fhir.Errorf(404, fhir.IssueNotSupported, "operation %s is not supported on %s", op, typ))
		}
	case 4:
		if seg[2] == "_history" && m == "GET" && s.reg.IsResource(seg[0]) {
			v, err := strconv.ParseInt(seg[3], 10, 64)
			if err != nil || v < 1 {
				return failure(fhir.Errorf(404, fhir.IssueNotFound, "no version %q", seg[3]))
			}
			return s.vread(ctx, req, seg[0], seg[1], v)
		}
	}
	return failure(fhir.Errorf(405, fhir.IssueNotSupported, "%s %s is not supported", m, "/"+req.Path))
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// validID reports whether s is a FHIR id: 1-64 of [A-Za-z0-9.-].
func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// statusText is the reason phrase for Bundle entry statuses ("201 Created").
func statusText(code int) string {
	switch code {
	case 200:
		return "OK"
	case 201:
		return "Created"
	case 204:
		return "No Content"
	case 304:
		return "Not Modified"
	case 400:
		return "Bad Request"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 409:
		return "Conflict"
	case 410:
		return "Gone"
	case 412:
		return "Precondition Failed"
	case 413:
		return "Payload Too Large"
	case 415:
		return "Unsupported Media Type"
	case 422:
		return "Unprocessable Entity"
	}
	return "Error"
}

func (r *Request) source() string {
	if r.Source == "" {
		return SourceHTTP
	}
	return r.Source
}

// WriteRule checks a resource about to be written and refuses it with an error (422) the
// server cannot work with, whatever the validation mode: a Subscription whose criteria or
// endpoint it cannot serve, say. Profiles and terminology are the validator's business.
type WriteRule func(res *fhir.Resource) *fhir.Error

// AddWriteRule registers rule for creates, updates and patches of resources of the given
// type, through the API and in Bundles. Register rules before the Service serves requests.
func (s *Service) AddWriteRule(resourceType string, rule WriteRule) {
	if s.rules == nil {
		s.rules = map[string][]WriteRule{}
	}
	s.rules[resourceType] = append(s.rules[resourceType], rule)
}

// CommitHook is told of a resource a write stored, once its transaction has committed.
type CommitHook func(res *fhir.Resource)

// OnCommit registers fn for every create, update and patch of resources of the given type
// (the server uses it to take up StructureDefinitions and terminology resources uploaded
// through the API). Register hooks before the Service serves requests; they run on the
// writing request's goroutine and must be quick.
func (s *Service) OnCommit(resourceType string, fn CommitHook) {
	if s.hooks == nil {
		s.hooks = map[string][]CommitHook{}
	}
	s.hooks[resourceType] = append(s.hooks[resourceType], fn)
}

func (s *Service) committed(res *fhir.Resource) {
	if res == nil {
		return
	}
	for _, fn := range s.hooks[res.Type] {
		fn(res)
	}
}
