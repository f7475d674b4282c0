// Package server is Concord's HTTP layer: FHIR REST routes, content negotiation and
// OperationOutcome errors.
package server

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
)

// MaxBody is the largest request body accepted, in bytes.
const MaxBody = 16 << 20

// New returns the HTTP handler serving the FHIR API under /fhir.
func New(reg *definitions.Registry) http.Handler {
	// The CapabilityStatement depends only on the definitions: build it once.
	capabilities := capabilityStatement(reg, time.Now())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fhir/metadata", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, capabilities)
	})
	// $validate runs the structural checks every write will pass through.
	mux.HandleFunc("POST /fhir/{type}/$validate", func(w http.ResponseWriter, r *http.Request) {
		typ := r.PathValue("type")
		if !reg.IsResource(typ) {
			writeOutcome(w, fhir.Errorf(404, fhir.IssueNotSupported, "unknown resource type %q", typ))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeOutcome(w, fhir.Errorf(413, fhir.IssueTooLong, "request body larger than %d bytes", MaxBody))
			return
		}
		if err != nil {
			writeOutcome(w, fhir.Errorf(400, fhir.IssueInvalid, "reading request body: %v", err))
			return
		}
		res, err := fhir.Parse(body)
		if err != nil {
			writeOutcome(w, fhir.AsError(err))
			return
		}
		if res.Type != typ {
			writeOutcome(w, fhir.Errorf(400, fhir.IssueInvalid, "resourceType %s does not match %s", res.Type, typ))
			return
		}
		writeJSON(w, 200, fhir.OperationOutcome())
	})
	return mux
}

func writeOutcome(w http.ResponseWriter, e *fhir.Error) {
	writeJSON(w, e.Status, fhir.OperationOutcome(e.Issues...))
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/fhir+json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(body)
}

func capabilityStatement(reg *definitions.Registry, built time.Time) []byte {
	var b strings.Builder
	b.WriteString(`{"resourceType":"CapabilityStatement","status":"active","date":"` + built.UTC().Format("2006-01-02") + `","kind":"instance","fhirVersion":"` + definitions.FHIRVersion + `","format":["json"],"software":{"name":"Concord"},"rest":[{"mode":"server","resource":[`)
	for i, t := range reg.ResourceTypes() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"type":"` + t + `","operation":[{"name":"validate","definition":"http://hl7.org/fhir/OperationDefinition/Resource-validate"}]}`)
	}
	b.WriteString(`]}]}`)
	return []byte(b.String())
}
