package server

import (
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/concord-health/concord/fhir"
)

// format is a serialization of resources on the wire.
type format int

const (
	formatJSON format = iota // the default
	formatXML
)

func (f format) contentType() string {
	if f == formatXML {
		return "application/fhir+xml; charset=utf-8"
	}
	return "application/fhir+json; charset=utf-8"
}

// mediaFormat maps the media types Concord reads and writes to their format.
var mediaFormat = map[string]format{
	"application/fhir+json": formatJSON,
	"application/json":      formatJSON,
	"application/fhir+xml":  formatXML,
	"application/xml":       formatXML,
	"text/xml":              formatXML,
}

// isXMLMediaType reports whether a Content-Type names FHIR XML.
func isXMLMediaType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	f, ok := mediaFormat[mt]
	return err == nil && ok && f == formatXML
}

// negotiate picks the response format: the _format parameter when given, else the Accept
// header's preference, JSON when neither says otherwise. A request that accepts neither
// format fails with 406.
func negotiate(r *http.Request) (format, *fhir.Error) {
	if v := r.URL.Query().Get("_format"); v != "" {
		if f, ok := formatParam(v); ok {
			return f, nil
		}
		return formatJSON, fhir.Errorf(406, fhir.IssueNotSupported, "_format %q is not supported; use json or xml", v)
	}
	accept := strings.Join(r.Header.Values("Accept"), ",")
	if strings.TrimSpace(accept) == "" {
		return formatJSON, nil
	}
	if f, ok := preferred(accept); ok {
		return f, nil
	}
	return formatJSON, fhir.Errorf(406, fhir.IssueNotSupported, "none of the types in Accept %q is available; use application/fhir+json or application/fhir+xml", accept)
}

// formatParam reads a _format value: a short name or a media type. An unencoded "+" in a
// query string arrives as a space ("application/fhir xml"), so spaces are read as "+".
func formatParam(v string) (format, bool) {
	v = strings.ReplaceAll(strings.TrimSpace(v), " ", "+")
	switch strings.ToLower(v) {
	case "json":
		return formatJSON, true
	case "xml":
		return formatXML, true
	}
	mt, _, err := mime.ParseMediaType(v)
	if err != nil {
		return 0, false
	}
	f, ok := mediaFormat[mt]
	return f, ok
}

// preferred returns the format an Accept header ranks highest. Each media type takes the
// quality of the most specific range that matches it (RFC 9110 §12.5.1); each format that of
// its best media type. JSON wins ties, so "*/*" and "application/*" mean JSON.
func preferred(accept string) (format, bool) {
	type rng struct {
		typ, sub string
		q        float64
	}
	var ranges []rng
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if mt == "*" {
			mt = "*/*" // as some clients write it
		}
		typ, sub, ok := strings.Cut(mt, "/")
		if !ok {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if q, err = strconv.ParseFloat(v, 64); err != nil || q < 0 || q > 1 {
				continue
			}
		}
		ranges = append(ranges, rng{typ, sub, q})
	}
	var best [2]float64
	for mt, f := range mediaFormat {
		typ, sub, _ := strings.Cut(mt, "/")
		q, specificity := 0.0, -1
		for _, r := range ranges {
			s := -1
			switch {
			case r.typ == typ && r.sub == sub:
				s = 2
			case r.typ == typ && r.sub == "*":
				s = 1
			case r.typ == "*" && r.sub == "*":
				s = 0
			}
			if s >= 0 && (s > specificity || s == specificity && r.q > q) {
				q, specificity = r.q, s
			}
		}
		best[f] = max(best[f], q)
	}
	switch {
	case best[formatJSON] == 0 && best[formatXML] == 0:
		return formatJSON, false
	case best[formatXML] > best[formatJSON]:
		return formatXML, true
	}
	return formatJSON, true
}

// jsonBody turns an XML request body into the JSON that interactions take, and the resource
// already parsed from it, so that writes do not parse it again. The resource is checked on
// the way, so a bad one fails here with the parser's OperationOutcome.
func jsonBody(body []byte) (*fhir.Resource, []byte, *fhir.Error) {
	res, err := fhir.ParseXML(body)
	if err != nil {
		return nil, nil, fhir.AsError(err)
	}
	return res, fhir.Marshal(res.Root), nil
}

// xmlBody converts a response body (a resource in JSON) to XML.
func xmlBody(body []byte) ([]byte, error) {
	res, err := fhir.Parse(body)
	if err != nil {
		return nil, err
	}
	return fhir.MarshalXML(res.Root), nil
}
