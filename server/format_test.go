package server

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/concord-health/concord/fhir"
)

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		name, query, accept string
		want                format
		status              int // 406 when nothing acceptable
	}{
		{"default", "", "", formatJSON, 0},
		{"any", "", "*/*", formatJSON, 0},
		{"any, bare", "", "*", formatJSON, 0},
		{"FHIR XML", "", "application/fhir+xml", formatXML, 0},
		{"XML", "", "application/xml", formatXML, 0},
		{"text/xml", "", "text/xml;charset=utf-8", formatXML, 0},
		{"FHIR JSON", "", "application/fhir+json", formatJSON, 0},
		{"XML preferred by q", "", "application/fhir+json;q=0.5, application/fhir+xml", formatXML, 0},
		{"JSON preferred by q", "", "application/fhir+xml;q=0.8, application/json", formatJSON, 0},
		{"tie goes to JSON", "", "application/fhir+xml, application/fhir+json", formatJSON, 0},
		{"XML over any", "", "application/fhir+xml, */*;q=0.1", formatXML, 0},
		{"browser", "", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", formatXML, 0},
		{"application wildcard", "", "application/*", formatJSON, 0},
		{"text wildcard", "", "text/*", formatXML, 0},
		{"specific range beats wildcard", "", "*/*;q=0.9, application/fhir+json;q=0.1, application/json;q=0", formatXML, 0},
		{"XML refused", "", "application/fhir+xml;q=0, */*", formatJSON, 0},
		{"nothing acceptable", "", "text/html", formatJSON, 406},
		{"everything refused", "", "*/*;q=0", formatJSON, 406},
		{"_format xml", "_format=xml", "application/fhir+json", formatXML, 0},
		{"_format json", "_format=json", "application/fhir+xml", formatJSON, 0},
		{"_format media type", "_format=application%2Ffhir%2Bxml", "", formatXML, 0},
		{"_format unencoded plus", "_format=application/fhir+xml", "", formatXML, 0},
		{"_format text/xml", "_format=text/xml", "", formatXML, 0},
		{"_format FHIR JSON", "_format=application/fhir%2Bjson", "application/fhir+xml", formatJSON, 0},
		{"_format unsupported", "_format=html", "", formatJSON, 406},
		{"_format turtle", "_format=text/turtle", "application/fhir+xml", formatJSON, 406},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/fhir/Patient?"+tc.query, nil)
			if tc.accept != "" {
				r.Header.Set("Accept", tc.accept)
			}
			f, e := negotiate(r)
			switch {
			case tc.status != 0 && (e == nil || e.Status != tc.status):
				t.Fatalf("err = %v, want status %d", e, tc.status)
			case tc.status == 0 && e != nil:
				t.Fatalf("err = %v", e)
			case f != tc.want:
				t.Fatalf("format = %d, want %d", f, tc.want)
			}
		})
	}
}

// xmlCall makes one request and returns the status, the Content-Type and the body; headers
// are name, value pairs.
func xmlCall(t *testing.T, method, url, body string, headers ...string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), raw
}

const (
	xmlType  = "application/fhir+xml; charset=utf-8"
	jsonType = "application/fhir+json; charset=utf-8"
)

// parseAs reads a response body in the format its Content-Type says.
func parseAs(t *testing.T, contentType string, body []byte) *fhir.Resource {
	t.Helper()
	var res *fhir.Resource
	var err error
	switch contentType {
	case xmlType:
		res, err = fhir.ParseXML(body)
	case jsonType:
		res, err = fhir.Parse(body)
	default:
		t.Fatalf("Content-Type %q", contentType)
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	return res
}

func TestXMLOverHTTP(t *testing.T) {
	srv := newTestServer(t, Options{MaxBody: 1 << 20})
	base := srv.URL + "/fhir"
	const patient = `<?xml version="1.0" encoding="UTF-8"?>
<Patient xmlns="http://hl7.org/fhir">
  <text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml"><p>Ann &amp; co</p></div></text>
  <name><family value="Xmlsson"/><given value="Ann"/></name>
  <birthDate value="1970-01-02"><extension url="http://hl7.org/fhir/StructureDefinition/patient-birthTime"><valueDateTime value="1970-01-02T03:04:05Z"/></extension></birthDate>
</Patient>`

	// Create in XML, answered in XML.
	status, ct, body := xmlCall(t, "POST", base+"/Patient", patient,
		"Content-Type", "application/fhir+xml", "Accept", "application/fhir+xml", "Prefer", "return=representation")
	if status != 201 || ct != xmlType {
		t.Fatalf("create: %d %s\n%s", status, ct, body)
	}
	created := parseAs(t, ct, body)
	if created.ID == "" || created.Root.First("birthDate").First("extension") == nil {
		t.Fatalf("create returned %s", body)
	}
	id := created.ID

	// Read back in XML and in JSON: the same resource.
	_, ct, body = xmlCall(t, "GET", base+"/Patient/"+id+"?_format=xml", "")
	fromXML := parseAs(t, ct, body)
	if ct != xmlType || !bytes.HasPrefix(body, []byte(`<Patient xmlns="http://hl7.org/fhir">`)) {
		t.Fatalf("read as XML: %s\n%s", ct, body)
	}
	_, ct, body = xmlCall(t, "GET", base+"/Patient/"+id, "")
	if ct != jsonType {
		t.Fatalf("read without Accept: %s", ct)
	}
	if got, want := fhir.Marshal(fromXML.Root), fhir.Marshal(parseAs(t, ct, body).Root); !bytes.Equal(got, want) {
		t.Fatalf("XML and JSON reads differ:\n%s\n%s", got, want)
	}
	if div := fromXML.Root.First("text").Text("div"); div != `<div xmlns="http://www.w3.org/1999/xhtml"><p>Ann &amp; co</p></div>` {
		t.Fatalf("narrative = %q", div)
	}

	// Update with text/xml; the answer follows Accept.
	update := strings.Replace(patient, `<text>`, `<id value="`+id+`"/><text>`, 1)
	update = strings.Replace(update, `value="Ann"`, `value="Anna"`, 1)
	status, ct, body = xmlCall(t, "PUT", base+"/Patient/"+id, update,
		"Content-Type", "text/xml", "Accept", "application/fhir+json;q=0.5, application/xml", "Prefer", "return=representation")
	if status != 200 || ct != xmlType || parseAs(t, ct, body).Root.First("name").Text("given") != "Anna" {
		t.Fatalf("update: %d %s\n%s", status, ct, body)
	}

	// A FHIRPath Patch, its Parameters in XML.
	patch := `<Parameters xmlns="http://hl7.org/fhir"><parameter><name value="operation"/>` +
		`<part><name value="type"/><valueCode value="add"/></part><part><name value="path"/><valueString value="Patient"/></part>` +
		`<part><name value="name"/><valueString value="gender"/></part><part><name value="value"/><valueCode value="female"/></part></parameter></Parameters>`
	status, ct, body = xmlCall(t, "PATCH", base+"/Patient/"+id, patch,
		"Content-Type", "application/fhir+xml", "Accept", "application/fhir+xml", "Prefer", "return=representation")
	if status != 200 || parseAs(t, ct, body).Root.Text("gender") != "female" {
		t.Fatalf("patch: %d %s\n%s", status, ct, body)
	}

	// A search Bundle in XML, with the resource inside entry.resource; _format is no search
	// parameter, even to strict handling.
	status, ct, body = xmlCall(t, "GET", base+"/Patient?family=Xmlsson&_format=application/fhir+xml", "", "Prefer", "handling=strict")
	if status != 200 || ct != xmlType {
		t.Fatalf("search: %d %s\n%s", status, ct, body)
	}
	bundle := parseAs(t, ct, body)
	if e := bundle.Root.Child("entry"); bundle.Type != "Bundle" || len(e) != 1 || e[0].First("resource").Type != "Patient" {
		t.Fatalf("search Bundle: %s", body)
	}
	if !bytes.Contains(body, []byte(`<resource><Patient>`)) {
		t.Fatalf("entry resource not wrapped: %s", body)
	}

	// A transaction in XML.
	tx := `<Bundle xmlns="http://hl7.org/fhir"><type value="transaction"/><entry><fullUrl value="urn:uuid:7b3c7e8e-0d55-4a35-9f1a-2d2a8c9a1f00"/><resource><Patient><active value="true"/></Patient></resource><request><method value="POST"/><url value="Patient"/></request></entry></Bundle>`
	status, ct, body = xmlCall(t, "POST", base, tx, "Content-Type", "application/fhir+xml", "Accept", "application/fhir+xml")
	if status != 200 || ct != xmlType || parseAs(t, ct, body).Root.Text("type") != "transaction-response" {
		t.Fatalf("transaction: %d %s\n%s", status, ct, body)
	}

	// $validate takes XML too.
	status, ct, body = xmlCall(t, "POST", base+"/Patient/$validate", patient, "Content-Type", "application/fhir+xml", "Accept", "application/fhir+xml")
	if status != 200 || parseAs(t, ct, body).Type != "OperationOutcome" {
		t.Fatalf("$validate: %d %s\n%s", status, ct, body)
	}

	// The CapabilityStatement, in XML.
	status, ct, body = xmlCall(t, "GET", base+"/metadata", "", "Accept", "application/fhir+xml")
	if status != 200 || parseAs(t, ct, body).Type != "CapabilityStatement" || ct != xmlType {
		t.Fatalf("metadata: %d %s", status, ct)
	}

	// HEAD says which format a GET would give.
	status, ct, _ = xmlCall(t, "HEAD", base+"/Patient/"+id, "", "Accept", "application/fhir+xml")
	if status != 200 || ct != xmlType {
		t.Fatalf("HEAD: %d %s", status, ct)
	}
}

func TestXMLErrors(t *testing.T) {
	srv := newTestServer(t, Options{MaxBody: 1 << 20})
	base := srv.URL + "/fhir"
	for _, tc := range []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		contentType              string
		diagnostics              string
	}{
		{"not found, in XML", "GET", "/Patient/nope", "", []string{"Accept", "application/fhir+xml"}, 404, xmlType, ""},
		{"malformed XML body", "POST", "/Patient", `<Patient xmlns="http://hl7.org/fhir"><active value="true">`,
			[]string{"Content-Type", "application/fhir+xml", "Accept", "application/fhir+xml"}, 400, xmlType, "invalid XML"},
		{"malformed XML body, JSON answer", "POST", "/Patient", `<Patient xmlns="http://hl7.org/fhir"><active value="true">`,
			[]string{"Content-Type", "application/fhir+xml"}, 400, jsonType, "invalid XML"},
		{"DOCTYPE", "POST", "/Patient", `<!DOCTYPE Patient [<!ENTITY x "y">]><Patient xmlns="http://hl7.org/fhir"/>`,
			[]string{"Content-Type", "application/xml", "Accept", "application/xml"}, 400, xmlType, "DOCTYPE"},
		{"unknown element", "POST", "/Patient", `<Patient xmlns="http://hl7.org/fhir"><colour value="blue"/></Patient>`,
			[]string{"Content-Type", "application/fhir+xml", "Accept", "application/fhir+xml"}, 400, xmlType, `unknown element "colour"`},
		{"wrong type in body", "POST", "/Patient", `<Observation xmlns="http://hl7.org/fhir"><status value="final"/><code><text value="x"/></code></Observation>`,
			[]string{"Content-Type", "application/fhir+xml", "Accept", "application/fhir+xml"}, 400, xmlType, ""},
		{"unsupported _format", "GET", "/Patient?_format=html", "", nil, 406, jsonType, "_format"},
		{"unacceptable Accept", "GET", "/Patient", "", []string{"Accept", "text/html"}, 406, jsonType, "Accept"},
		{"unacceptable Accept on metadata", "GET", "/metadata", "", []string{"Accept", "image/png"}, 406, jsonType, "Accept"},
		{"method not allowed, in XML", "PUT", "/Patient/1/_history", `<Patient xmlns="http://hl7.org/fhir"/>`,
			[]string{"Content-Type", "application/fhir+xml", "Accept", "application/fhir+xml"}, 405, xmlType, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, ct, body := xmlCall(t, tc.method, base+tc.path, tc.body, tc.headers...)
			if status != tc.status || ct != tc.contentType {
				t.Fatalf("%d %s, want %d %s\n%s", status, ct, tc.status, tc.contentType, body)
			}
			oo := parseAs(t, ct, body)
			if oo.Type != "OperationOutcome" {
				t.Fatalf("not an OperationOutcome: %s", body)
			}
			if d := oo.Root.First("issue").Text("diagnostics"); !strings.Contains(d, tc.diagnostics) {
				t.Fatalf("diagnostics %q lack %q", d, tc.diagnostics)
			}
		})
	}
}

// TestVaryAccept checks that every answer whose format Accept chooses says so to caches.
func TestVaryAccept(t *testing.T) {
	srv := newTestServer(t, Options{MaxBody: 1 << 20})
	for _, tc := range []struct{ method, path string }{
		{"GET", "/fhir/metadata"},
		{"GET", "/fhir/Patient"},
		{"GET", "/fhir/Patient/missing"},
		{"HEAD", "/fhir/Patient"},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if v := resp.Header.Get("Vary"); v != "Accept" {
			t.Errorf("%s %s: Vary %q, want Accept", tc.method, tc.path, v)
		}
	}
}
