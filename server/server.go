// Package server is Concord's HTTP layer: FHIR REST routes, content negotiation, HTTP
// headers (ETag, Last-Modified, Location, conditional requests, Prefer) and OperationOutcome
// errors. The interactions themselves are carried out by package interaction.
package server

import (
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/interaction"
)

// DefaultMaxBody is the default limit on request bodies, in bytes.
const DefaultMaxBody = 16 << 20

// Options configure the HTTP layer.
type Options struct {
	// MaxBody bounds request bodies (413 beyond it); 0 means DefaultMaxBody.
	MaxBody int64
	Logger  *slog.Logger
}

type server struct {
	svc     *interaction.Service
	reg     *definitions.Registry
	maxBody int64
	// capabilities is the CapabilityStatement in each format.
	capabilities [2][]byte
	log          *slog.Logger
}

// New returns the HTTP handler serving the FHIR API under /fhir.
func New(svc *interaction.Service, reg *definitions.Registry, opts Options) http.Handler {
	s := &server{svc: svc, reg: reg, maxBody: opts.MaxBody, log: opts.Logger}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBody
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	// The CapabilityStatement depends only on what the code supports: build it once.
	s.capabilities[formatJSON] = capabilityStatement(reg, time.Now())
	xml, err := xmlBody(s.capabilities[formatJSON])
	if err != nil {
		panic("server: the CapabilityStatement is not a valid resource: " + err.Error())
	}
	s.capabilities[formatXML] = xml
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fhir/metadata", func(w http.ResponseWriter, r *http.Request) {
		f, e := negotiate(r)
		if e != nil {
			s.writeOutcome(w, formatJSON, e)
			return
		}
		switch mode := r.URL.Query().Get("mode"); mode {
		case "", "full", "normal":
			writeBody(w, 200, s.capabilities[f], f)
		case "terminology":
			resp := s.svc.TerminologyCapabilities(r.Context())
			s.write(w, resp.Status, resp.Body, f)
		default:
			s.writeOutcome(w, f, fhir.Errorf(400, fhir.IssueValue, "metadata mode %q is not full, normal or terminology", mode))
		}
	})
	mux.HandleFunc("/fhir/", s.fhir)
	mux.HandleFunc("/fhir", s.fhir)
	return mux
}

// fhir adapts one HTTP request to an interaction and writes its response.
func (s *server) fhir(w http.ResponseWriter, r *http.Request) {
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	f, e := negotiate(r)
	if e != nil {
		s.writeOutcome(w, formatJSON, e)
		return
	}
	switch method {
	case "GET", "POST", "PUT", "PATCH", "DELETE":
	default:
		s.writeOutcome(w, f, fhir.Errorf(405, fhir.IssueNotSupported, "method %s is not supported", r.Method))
		return
	}
	req := &interaction.Request{
		Method:      method,
		Path:        strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/fhir"), "/"),
		Query:       r.URL.Query(),
		ContentType: r.Header.Get("Content-Type"),
		IfMatch:     r.Header.Get("If-Match"),
		IfNoneMatch: r.Header.Get("If-None-Match"),
		IfNoneExist: r.Header.Get("If-None-Exist"),
		Prefer:      interaction.ParsePrefer(strings.Join(r.Header.Values("Prefer"), ",")),
		Base:        baseURL(r),
	}
	if v := r.Header.Get("If-Modified-Since"); v != "" {
		t, err := http.ParseTime(v)
		if err != nil {
			s.writeOutcome(w, f, fhir.Errorf(400, fhir.IssueInvalid, "invalid If-Modified-Since %q", v))
			return
		}
		req.IfModifiedSince = t
	}
	if h := req.Prefer.Handling; h != "" && h != "strict" && h != "lenient" {
		s.writeOutcome(w, f, fhir.Errorf(400, fhir.IssueInvalid, "Prefer: handling must be strict or lenient, not %q", h))
		return
	}
	if method == "POST" || method == "PUT" || method == "PATCH" {
		if e := checkContentType(method, req.Path, req.ContentType); e != nil {
			s.writeOutcome(w, f, e)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.writeOutcome(w, f, fhir.Errorf(413, fhir.IssueTooLong, "request body larger than %d bytes", s.maxBody))
			return
		}
		if err != nil {
			s.writeOutcome(w, f, fhir.Errorf(400, fhir.IssueInvalid, "reading request body: %v", err))
			return
		}
		if isXMLMediaType(req.ContentType) {
			// Interactions take JSON: convert, so that everything after this point
			// handles one format.
			var e *fhir.Error
			if req.Resource, body, e = jsonBody(body); e != nil {
				s.writeOutcome(w, f, e)
				return
			}
			req.ContentType = "application/fhir+json"
		}
		req.Body = body
	}
	resp := s.svc.Do(r.Context(), req)
	if resp.Status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", resp.Err)
	}
	h := w.Header()
	if et := resp.ETag(); et != "" {
		h.Set("ETag", et)
	}
	if !resp.LastModified.IsZero() {
		h.Set("Last-Modified", resp.LastModified.UTC().Format(http.TimeFormat))
	}
	if resp.Location != "" {
		h.Set("Location", req.Base+"/"+resp.Location)
		if resp.Status == 201 {
			h.Set("Content-Location", req.Base+"/"+resp.Location)
		}
	}
	if resp.Body == nil || resp.Status == 204 || resp.Status == 304 || r.Method == http.MethodHead {
		h.Set("Vary", "Accept")
		if resp.Body != nil && r.Method == http.MethodHead {
			h.Set("Content-Type", f.contentType())
		}
		w.WriteHeader(resp.Status)
		return
	}
	s.write(w, resp.Status, resp.Body, f)
}

// checkContentType enforces the media types each write accepts (415 otherwise).
func checkContentType(method, path, ct string) *fhir.Error {
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil {
		return fhir.Errorf(415, fhir.IssueNotSupported, "missing or invalid Content-Type %q", ct)
	}
	_, resource := mediaFormat[mt] // a resource, in JSON or XML
	switch {
	case method == "POST" && strings.HasSuffix(path, "_search"):
		if mt == "application/x-www-form-urlencoded" {
			return nil
		}
	case method == "PATCH":
		if resource || mt == "application/json-patch+json" {
			return nil
		}
	case resource:
		return nil
	}
	return fhir.Errorf(415, fhir.IssueNotSupported, "Content-Type %s is not supported here; use application/fhir+json or application/fhir+xml", mt)
}

// baseURL is the FHIR base as the client addressed it.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/fhir"
}

func (s *server) writeOutcome(w http.ResponseWriter, f format, e *fhir.Error) {
	s.write(w, e.Status, fhir.OperationOutcome(e.Issues...), f)
}

// write sends a resource, given in JSON, in the format f.
func (s *server) write(w http.ResponseWriter, status int, body []byte, f format) {
	if f == formatXML {
		xml, err := xmlBody(body)
		if err != nil {
			// Every body is a resource that was parsed or built to be one; should that ever
			// fail, the client still gets the answer, as JSON.
			s.log.Error("response cannot be written as XML", "err", err)
			f = formatJSON
		} else {
			body = xml
		}
	}
	writeBody(w, status, body, f)
}

func writeBody(w http.ResponseWriter, status int, body []byte, f format) {
	// The format follows Accept: caches must key on it.
	w.Header().Set("Vary", "Accept")
	w.Header().Set("Content-Type", f.contentType())
	// A known length lets the body go out in one write instead of 4 KiB chunks.
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}
