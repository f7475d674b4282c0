package server

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

type client struct {
	t    *testing.T
	base string
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (c *client) do(method, path, body string, headers ...string) reply {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			c.t.Fatalf("%s %s: response is not JSON: %v\n%s", method, path, err, raw)
		}
	}
	return r
}

// must checks the status and returns the reply.
func (c *client) must(status int, method, path, body string, headers ...string) reply {
	c.t.Helper()
	r := c.do(method, path, body, headers...)
	if r.status != status {
		c.t.Fatalf("%s %s: status %d, want %d\n%s", method, path, r.status, status, r.raw)
	}
	if status >= 400 && r.body["resourceType"] != "OperationOutcome" {
		c.t.Fatalf("%s %s: error without OperationOutcome: %s", method, path, r.raw)
	}
	return r
}

func str(v any, path ...any) string {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return ""
			}
			v = a[k]
		}
	}
	switch x := v.(type) {
	case string:
		return x
	case float64:
		b, _ := json.Marshal(x)
		return string(b)
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func entries(r reply) []any {
	e, _ := r.body["entry"].([]any)
	return e
}

func newClient(t *testing.T) *client {
	srv := newTestServer(t, Options{MaxBody: 1 << 20})
	return &client{t: t, base: srv.URL + "/fhir"}
}

func TestCRUDAndVersioning(t *testing.T) {
	c := newClient(t)
	r := c.must(201, "POST", "/Patient", `{"resourceType":"Patient","id":"ignored","name":[{"family":"Smith","given":["Ann"]}],"gender":"female"}`)
	id := str(r.body, "id")
	if id == "" || id == "ignored" {
		t.Fatalf("server must assign the id on create, got %q", id)
	}
	if loc := r.header.Get("Location"); !strings.HasSuffix(loc, "/fhir/Patient/"+id+"/_history/1") {
		t.Fatalf("Location = %q", loc)
	}
	if r.header.Get("ETag") != `W/"1"` || r.header.Get("Last-Modified") == "" {
		t.Fatalf("ETag %q Last-Modified %q", r.header.Get("ETag"), r.header.Get("Last-Modified"))
	}
	if str(r.body, "meta", "versionId") != "1" || str(r.body, "meta", "lastUpdated") == "" {
		t.Fatalf("meta not stamped: %s", r.raw)
	}
	c.must(200, "GET", "/Patient/"+id, "")
	c.must(304, "GET", "/Patient/"+id, "", "If-None-Match", `W/"1"`)
	c.must(304, "GET", "/Patient/"+id, "", "If-Modified-Since", "Sat, 01 Jan 2300 00:00:00 GMT")
	c.must(200, "GET", "/Patient/"+id, "", "If-Modified-Since", "Sat, 01 Jan 2000 00:00:00 GMT")

	upd := `{"resourceType":"Patient","id":"` + id + `","name":[{"family":"Smith","given":["Anne"]}],"gender":"female"}`
	r = c.must(200, "PUT", "/Patient/"+id, upd, "If-Match", `W/"1"`)
	if r.header.Get("ETag") != `W/"2"` {
		t.Fatalf("ETag after update = %q", r.header.Get("ETag"))
	}
	c.must(412, "PUT", "/Patient/"+id, upd, "If-Match", `W/"1"`)
	// The same content again changes nothing: no new version.
	r = c.must(200, "PUT", "/Patient/"+id, upd)
	if r.header.Get("ETag") != `W/"2"` {
		t.Fatalf("unchanged update made a version: %q", r.header.Get("ETag"))
	}
	c.must(200, "GET", "/Patient/"+id+"/_history/1", "")
	c.must(404, "GET", "/Patient/"+id+"/_history/9", "")
	c.must(400, "PUT", "/Patient/"+id, `{"resourceType":"Patient","id":"other"}`)
	c.must(400, "PUT", "/Patient/"+id, `{"resourceType":"Patient"}`)
	c.must(400, "PUT", "/Patient/"+id, `{"resourceType":"Observation","id":"`+id+`","status":"final","code":{"text":"x"}}`)

	// Update-as-create with a client id.
	r = c.must(201, "PUT", "/Patient/client-1", `{"resourceType":"Patient","id":"client-1"}`)
	c.must(200, "GET", "/Patient/client-1", "")

	// Prefer return=.
	r = c.must(201, "POST", "/Patient", `{"resourceType":"Patient"}`, "Prefer", "return=minimal")
	if r.raw != "" {
		t.Fatalf("return=minimal sent a body: %s", r.raw)
	}
	r = c.must(201, "POST", "/Patient", `{"resourceType":"Patient"}`, "Prefer", "return=OperationOutcome")
	if str(r.body, "resourceType") != "OperationOutcome" {
		t.Fatalf("return=OperationOutcome: %s", r.raw)
	}

	// Delete: versioned tombstone, 410 on read, history keeps everything.
	c.must(200, "DELETE", "/Patient/"+id, "")
	c.must(410, "GET", "/Patient/"+id, "")
	c.must(200, "DELETE", "/Patient/"+id, "")
	r = c.must(200, "GET", "/Patient/"+id+"/_history", "")
	if got := len(entries(r)); got != 3 {
		t.Fatalf("history has %d entries, want 3: %s", got, r.raw)
	}
	if m := str(entries(r)[0], "request", "method"); m != "DELETE" {
		t.Fatalf("newest history entry is %s, want DELETE", m)
	}
	c.must(404, "GET", "/Patient/nope", "")
	c.must(404, "DELETE", "/Patient/nope", "")
	// Re-create after delete continues the version sequence.
	r = c.must(201, "PUT", "/Patient/"+id, upd)
	if r.header.Get("ETag") != `W/"4"` {
		t.Fatalf("re-create ETag = %q, want W/\"4\"", r.header.Get("ETag"))
	}
}

func TestBadInput(t *testing.T) {
	c := newClient(t)
	for _, tc := range []struct {
		name, method, path, body string
		headers                  []string
		status                   int
	}{
		{"malformed JSON", "POST", "/Patient", `{"resourceType":"Patient",`, nil, 400},
		{"not an object", "POST", "/Patient", `[1,2]`, nil, 400},
		{"wrong type of value", "POST", "/Patient", `{"resourceType":"Patient","active":"yes"}`, nil, 400},
		{"unknown element", "POST", "/Patient", `{"resourceType":"Patient","colour":"blue"}`, nil, 400},
		{"bad date", "POST", "/Patient", `{"resourceType":"Patient","birthDate":"1970-13-45"}`, nil, 400},
		{"type mismatch", "POST", "/Patient", `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`, nil, 400},
		{"unknown resource type", "POST", "/Spaceship", `{"resourceType":"Spaceship"}`, nil, 404},
		{"unknown resourceType in body", "POST", "/Patient", `{"resourceType":"Spaceship"}`, nil, 400},
		{"empty body", "POST", "/Patient", ``, []string{"Content-Type", "application/fhir+json"}, 400},
		{"wrong content type", "POST", "/Patient", `{"resourceType":"Patient"}`, []string{"Content-Type", "text/plain"}, 415},
		{"XML outside the FHIR namespace", "POST", "/Patient", `<Patient/>`, []string{"Content-Type", "application/fhir+xml"}, 400},
		{"turtle", "POST", "/Patient", `a:b a fhir:Patient .`, []string{"Content-Type", "text/turtle"}, 415},
		{"too large", "POST", "/Patient", `{"resourceType":"Patient","text":{"status":"generated","div":"` + strings.Repeat("x", 1<<20) + `"}}`, nil, 413},
		{"invalid id in URL", "GET", "/Patient/bad$id!", "", nil, 400},
		{"method not allowed", "PUT", "/Patient/1/_history", `{"resourceType":"Patient"}`, nil, 405},
		{"unknown operation", "GET", "/Patient/1/$frobnicate", "", nil, 404},
		{"unknown search parameter strict", "GET", "/Patient?colour=blue", "", []string{"Prefer", "handling=strict"}, 400},
		{"bad search value", "GET", "/Patient?birthdate=yesterday", "", nil, 400},
		{"bad modifier", "GET", "/Patient?birthdate:contains=2000", "", nil, 400},
		{"bad _count", "GET", "/Patient?_count=lots", "", nil, 400},
		{"bad _sort", "GET", "/Patient?_sort=colour", "", nil, 400},
		{"bad cursor", "GET", "/Patient?_page=zzz", "", nil, 400},
		{"bad If-Match", "PUT", "/Patient/x1", `{"resourceType":"Patient","id":"x1"}`, []string{"If-Match", "nonsense"}, 400},
		{"If-Match on absent", "PUT", "/Patient/x2", `{"resourceType":"Patient","id":"x2"}`, []string{"If-Match", `W/"3"`}, 412},
		{"bad Prefer handling", "GET", "/Patient", "", []string{"Prefer", "handling=sloppy"}, 400},
		{"not a bundle at base", "POST", "", `{"resourceType":"Patient"}`, nil, 400},
		{"collection bundle at base", "POST", "", `{"resourceType":"Bundle","type":"collection"}`, nil, 400},
		{"conditional delete without condition", "DELETE", "/Patient", "", nil, 405},
		{"bad _since", "GET", "/Patient/_history?_since=soon", "", nil, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			r := c.must(tc.status, tc.method, tc.path, tc.body, tc.headers...)
			if len(str(r.body, "issue", 0, "diagnostics")) == 0 {
				t.Fatalf("OperationOutcome without diagnostics: %s", r.raw)
			}
		})
	}
	c.t = t
	// Nothing of the rejected writes was stored.
	r := c.must(200, "GET", "/Patient?_summary=count", "")
	if str(r.body, "total") != "0" {
		t.Fatalf("rejected writes left %s patients", str(r.body, "total"))
	}
	// Lenient handling ignores unknown parameters and says so.
	r = c.must(200, "GET", "/Patient?colour=blue", "")
	found := false
	for _, e := range entries(r) {
		if str(e, "search", "mode") == "outcome" {
			found = true
		}
	}
	if !found {
		t.Fatalf("lenient search did not report the ignored parameter: %s", r.raw)
	}
}

func TestPatch(t *testing.T) {
	c := newClient(t)
	c.must(201, "PUT", "/Patient/p1", `{"resourceType":"Patient","id":"p1","active":true,"name":[{"family":"Jones"}]}`)
	r := c.must(200, "PATCH", "/Patient/p1", `[{"op":"replace","path":"/active","value":false},{"op":"add","path":"/name/0/given","value":["Tom"]}]`,
		"Content-Type", "application/json-patch+json")
	if str(r.body, "active") != "false" || str(r.body, "name", 0, "given", 0) != "Tom" || str(r.body, "meta", "versionId") != "2" {
		t.Fatalf("JSON Patch result: %s", r.raw)
	}
	c.must(422, "PATCH", "/Patient/p1", `[{"op":"test","path":"/active","value":true}]`, "Content-Type", "application/json-patch+json")
	c.must(422, "PATCH", "/Patient/p1", `[{"op":"add","path":"/colour","value":"blue"}]`, "Content-Type", "application/json-patch+json")
	c.must(400, "PATCH", "/Patient/p1", `{"op":"add"}`, "Content-Type", "application/json-patch+json")
	c.must(412, "PATCH", "/Patient/p1", `[{"op":"remove","path":"/active"}]`, "Content-Type", "application/json-patch+json", "If-Match", `W/"1"`)
	c.must(415, "PATCH", "/Patient/p1", `x`, "Content-Type", "text/plain")
	fp := `{"resourceType":"Parameters","parameter":[
	  {"name":"operation","part":[{"name":"type","valueCode":"replace"},{"name":"path","valueString":"Patient.active"},{"name":"value","valueBoolean":true}]},
	  {"name":"operation","part":[{"name":"type","valueCode":"add"},{"name":"path","valueString":"Patient"},{"name":"name","valueString":"birthDate"},{"name":"value","valueDate":"1980-02-03"}]},
	  {"name":"operation","part":[{"name":"type","valueCode":"delete"},{"name":"path","valueString":"Patient.name[0].given"}]}]}`
	r = c.must(200, "PATCH", "/Patient/p1", fp)
	if str(r.body, "active") != "true" || str(r.body, "birthDate") != "1980-02-03" || str(r.body, "name", 0, "given") != "" {
		t.Fatalf("FHIRPath Patch result: %s", r.raw)
	}
	c.must(404, "PATCH", "/Patient/absent", fp)
	// Conditional patch: no match is 404, one match is patched, several are 412.
	active := `[{"op":"replace","path":"/active","value":false}]`
	c.must(404, "PATCH", "/Patient?family=Nobody", active, "Content-Type", "application/json-patch+json")
	c.must(200, "PATCH", "/Patient?family=Jones", active, "Content-Type", "application/json-patch+json")
	c.must(201, "PUT", "/Patient/p2", `{"resourceType":"Patient","id":"p2","name":[{"family":"Jones"}]}`)
	c.must(412, "PATCH", "/Patient?family=Jones", active, "Content-Type", "application/json-patch+json")
}

func TestTransaction(t *testing.T) {
	c := newClient(t)
	tx := `{"resourceType":"Bundle","type":"transaction","entry":[
	  {"fullUrl":"urn:uuid:11111111-1111-4111-8111-111111111111","resource":{"resourceType":"Patient","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}],"name":[{"family":"Dale"}]},
	   "request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009"}},
	  {"fullUrl":"urn:uuid:22222222-2222-4222-8222-222222222222","resource":{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8302-2"}]},"subject":{"reference":"urn:uuid:11111111-1111-4111-8111-111111111111"}},
	   "request":{"method":"POST","url":"Observation"}},
	  {"resource":{"resourceType":"Observation","id":"obs-2","status":"final","code":{"text":"weight"},"subject":{"reference":"urn:uuid:11111111-1111-4111-8111-111111111111"}},
	   "request":{"method":"PUT","url":"Observation/obs-2"}},
	  {"request":{"method":"GET","url":"Patient?identifier=9000000009"}}]}`
	r := c.must(200, "POST", "", tx)
	if str(r.body, "type") != "transaction-response" || len(entries(r)) != 4 {
		t.Fatalf("transaction response: %s", r.raw)
	}
	loc := str(entries(r)[0], "response", "location")
	pid := strings.Split(loc, "/")[1]
	if !strings.HasPrefix(str(entries(r)[0], "response", "status"), "201") || !strings.HasPrefix(str(entries(r)[3], "response", "status"), "200") {
		t.Fatalf("entry statuses: %s", r.raw)
	}
	// The urn:uuid references now point at the patient.
	r = c.must(200, "GET", "/Observation?subject=Patient/"+pid, "")
	if str(r.body, "total") != "2" {
		t.Fatalf("observations of the new patient: %s", r.raw)
	}
	// Running it again: the conditional create finds the patient, so no second one.
	c.must(200, "POST", "", tx)
	r = c.must(200, "GET", "/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009", "")
	if str(r.body, "total") != "1" {
		t.Fatalf("conditional create made duplicates: %s", r.raw)
	}
	// Conditional references and conditional update inside a transaction.
	r = c.must(200, "POST", "", `{"resourceType":"Bundle","type":"transaction","entry":[
	  {"resource":{"resourceType":"Condition","subject":{"reference":"Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009"},"code":{"text":"asthma"}},"request":{"method":"POST","url":"Condition"}},
	  {"resource":{"resourceType":"Patient","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}],"name":[{"family":"Dale-Smith"}]},"request":{"method":"PUT","url":"Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009"}}]}`)
	r = c.must(200, "GET", "/Condition?subject=Patient/"+pid, "")
	if str(r.body, "total") != "1" {
		t.Fatalf("conditional reference not resolved: %s", r.raw)
	}
	r = c.must(200, "GET", "/Patient/"+pid, "")
	if str(r.body, "name", 0, "family") != "Dale-Smith" {
		t.Fatalf("conditional update not applied: %s", r.raw)
	}

	// The same condition twice in one transaction means one resource: the second conditional
	// create finds what the first creates, a conditional update with it updates that one,
	// and a conditional reference with it points at it.
	const nhs = "https://fhir.nhs.uk/Id/nhs-number|9000000017"
	r = c.must(200, "POST", "", `{"resourceType":"Bundle","type":"transaction","entry":[
	  {"fullUrl":"urn:uuid:33333333-3333-4333-8333-333333333333","resource":{"resourceType":"Patient","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000017"}]},
	   "request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=`+nhs+`"}},
	  {"fullUrl":"urn:uuid:44444444-4444-4444-8444-444444444444","resource":{"resourceType":"Patient","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000017"}]},
	   "request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=`+nhs+`"}},
	  {"resource":{"resourceType":"Patient","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000017"}],"name":[{"family":"Twice"}]},
	   "request":{"method":"PUT","url":"Patient?identifier=`+nhs+`"}},
	  {"resource":{"resourceType":"Condition","subject":{"reference":"Patient?identifier=`+nhs+`"},"code":{"text":"x"}},"request":{"method":"POST","url":"Condition"}},
	  {"resource":{"resourceType":"Condition","subject":{"reference":"urn:uuid:44444444-4444-4444-8444-444444444444"},"code":{"text":"y"}},"request":{"method":"POST","url":"Condition"}}]}`)
	r = c.must(200, "GET", "/Patient?identifier="+nhs, "")
	if str(r.body, "total") != "1" || str(r.body, "entry", 0, "resource", "name", 0, "family") != "Twice" {
		t.Fatalf("one condition, several entries: %s", r.raw)
	}
	twice := str(r.body, "entry", 0, "resource", "id")
	if r = c.must(200, "GET", "/Condition?subject=Patient/"+twice, ""); str(r.body, "total") != "2" {
		t.Fatalf("references to the patient created in the same transaction: %s", r.raw)
	}
	// A transaction PATCH may name a resource the Bundle creates by its urn:uuid.
	r = c.must(200, "POST", "", `{"resourceType":"Bundle","type":"transaction","entry":[
	  {"fullUrl":"urn:uuid:55555555-5555-4555-8555-555555555555","resource":{"resourceType":"Practitioner","name":[{"family":"Doctor"}]},"request":{"method":"POST","url":"Practitioner"}},
	  {"resource":{"resourceType":"Binary","contentType":"application/json-patch+json",
	    "data":"`+base64.StdEncoding.EncodeToString([]byte(`[{"op":"add","path":"/generalPractitioner","value":[{"reference":"urn:uuid:55555555-5555-4555-8555-555555555555"}]}]`))+`"},
	   "request":{"method":"PATCH","url":"Patient/`+twice+`"}}]}`)
	gp := str(c.must(200, "GET", "/Patient/"+twice, "").body, "generalPractitioner", 0, "reference")
	if !strings.HasPrefix(gp, "Practitioner/") || strings.Contains(gp, "urn:uuid") {
		t.Fatalf("PATCH reference not resolved: %q", gp)
	}

	// Atomicity: a failing entry rolls back the whole transaction.
	before := str(c.must(200, "GET", "/Observation?_summary=count", "").body, "total")
	r = c.must(412, "POST", "", `{"resourceType":"Bundle","type":"transaction","entry":[
	  {"resource":{"resourceType":"Observation","status":"final","code":{"text":"a"}},"request":{"method":"POST","url":"Observation"}},
	  {"resource":{"resourceType":"Observation","id":"obs-2","status":"final","code":{"text":"b"}},"request":{"method":"PUT","url":"Observation/obs-2","ifMatch":"W/\"7\""}}]}`)
	if !strings.Contains(r.raw, "Bundle.entry[1]") {
		t.Fatalf("failure does not name the entry: %s", r.raw)
	}
	after := str(c.must(200, "GET", "/Observation?_summary=count", "").body, "total")
	if before != after {
		t.Fatalf("failed transaction left writes: %s -> %s", before, after)
	}
	c.must(412, "POST", "", `{"resourceType":"Bundle","type":"transaction","entry":[
	  {"resource":{"resourceType":"Condition","subject":{"reference":"Patient?name=nobody"},"code":{"text":"x"}},"request":{"method":"POST","url":"Condition"}}]}`)
	c.must(400, "POST", "", `{"resourceType":"Bundle","type":"transaction","entry":[
	  {"resource":{"resourceType":"Patient","id":"a"},"request":{"method":"PUT","url":"Patient/a"}},
	  {"request":{"method":"DELETE","url":"Patient/a"}}]}`)
	c.must(400, "POST", "", `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient"}}]}`)

	// Batch: entries succeed or fail on their own.
	r = c.must(200, "POST", "", `{"resourceType":"Bundle","type":"batch","entry":[
	  {"resource":{"resourceType":"Patient","id":"b1"},"request":{"method":"PUT","url":"Patient/b1"}},
	  {"resource":{"resourceType":"Patient","id":"b2"},"request":{"method":"PUT","url":"Patient/b2","ifMatch":"W/\"4\""}},
	  {"request":{"method":"GET","url":"Patient/b1"}}]}`)
	if s := []string{str(entries(r)[0], "response", "status"), str(entries(r)[1], "response", "status"), str(entries(r)[2], "response", "status")}; !strings.HasPrefix(s[0], "201") || !strings.HasPrefix(s[1], "412") || !strings.HasPrefix(s[2], "200") {
		t.Fatalf("batch statuses %v: %s", s, r.raw)
	}
	if str(entries(r)[1], "response", "outcome", "resourceType") != "OperationOutcome" {
		t.Fatalf("failed batch entry without outcome: %s", r.raw)
	}
}

func TestSearchAndHistory(t *testing.T) {
	c := newClient(t)
	for i, fam := range []string{"Ábbott", "Abbot", "Baker", "Carter", "Davis"} {
		id := string(rune('a' + i))
		c.must(201, "PUT", "/Patient/"+id, `{"resourceType":"Patient","id":"`+id+`","name":[{"family":"`+fam+`"}],"birthDate":"19`+string(rune('5'+i))+`0-06-15","managingOrganization":{"reference":"Organization/org1"}}`)
		c.must(201, "PUT", "/Observation/o"+id, `{"resourceType":"Observation","id":"o`+id+`","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8302-2"}]},"subject":{"reference":"Patient/`+id+`"},"effectiveDateTime":"2020-01-0`+string(rune('1'+i))+`","valueQuantity":{"value":1`+string(rune('5'+i))+`0,"system":"http://unitsofmeasure.org","code":"cm"}}`)
	}
	c.must(201, "PUT", "/Organization/org1", `{"resourceType":"Organization","id":"org1","name":"Riverside Practice"}`)
	count := func(path string) string {
		t.Helper()
		return str(c.must(200, "GET", path, "").body, "total")
	}
	for path, want := range map[string]string{
		"/Patient?family=abbot":                             "2",
		"/Patient?family:exact=Abbot":                       "1",
		"/Patient?family:contains=arte":                     "1",
		"/Patient?birthdate=ge1970":                         "3",
		"/Patient?birthdate=1960-06":                        "1",
		"/Patient?_id=a,b":                                  "2",
		"/Observation?code=http://loinc.org|8302-2":         "5",
		"/Observation?code=8302-2&date=gt2020-01-03":        "2",
		"/Observation?value-quantity=gt170||cm":             "2",
		"/Observation?subject:Patient.family=baker":         "1",
		"/Observation?patient.organization.name=river":      "5",
		"/Patient?_has:Observation:subject:date=2020-01-05": "1",
		"/Patient?organization:missing=true":                "0",
		"/Patient?gender:missing=true":                      "5",
		"/Patient/a/Observation":                            "1",
		"/Observation?code:not=1234-5":                      "5",
	} {
		if got := count(path); got != want {
			t.Errorf("%s: total %s, want %s", path, got, want)
		}
	}
	// Sort, paging through next links, _include and _revinclude.
	r := c.must(200, "GET", "/Patient?_sort=-birthdate&_count=2", "")
	var order []string
	for {
		for _, e := range entries(r) {
			order = append(order, str(e, "resource", "id"))
		}
		next := ""
		for _, l := range r.body["link"].([]any) {
			if str(l, "relation") == "next" {
				next = str(l, "url")
			}
		}
		if next == "" {
			break
		}
		u, _ := url.Parse(next)
		r = c.must(200, "GET", strings.TrimPrefix(u.Path, "/fhir")+"?"+u.RawQuery, "")
	}
	if strings.Join(order, "") != "edcba" {
		t.Fatalf("sorted paging order %v", order)
	}
	r = c.must(200, "GET", "/Observation?_id=oa&_include=Observation:subject", "")
	if len(entries(r)) != 2 || str(entries(r)[1], "search", "mode") != "include" {
		t.Fatalf("_include: %s", r.raw)
	}
	r = c.must(200, "GET", "/Patient?_id=a&_revinclude=Observation:subject", "")
	if len(entries(r)) != 2 {
		t.Fatalf("_revinclude: %s", r.raw)
	}
	r = c.must(200, "GET", "/Patient?_id=a&_elements=name", "")
	if res := entries(r)[0].(map[string]any)["resource"].(map[string]any); res["birthDate"] != nil || res["name"] == nil || !strings.Contains(r.raw, "SUBSETTED") {
		t.Fatalf("_elements: %s", r.raw)
	}
	r = c.must(200, "GET", "/Patient/a/$everything", "")
	if len(entries(r)) != 3 { // the patient, its observation, its organisation
		t.Fatalf("$everything has %d entries: %s", len(entries(r)), r.raw)
	}
	c.must(404, "GET", "/Patient/zz/$everything", "")
	c.must(200, "POST", "/Patient/_search", "family=baker", "Content-Type", "application/x-www-form-urlencoded")

	// History at type and system level, with paging.
	r = c.must(200, "GET", "/Patient/_history?_count=2", "")
	if str(r.body, "total") != "5" || len(entries(r)) != 2 {
		t.Fatalf("type history: %s", r.raw)
	}
	r = c.must(200, "GET", "/_history", "")
	if str(r.body, "total") != "11" {
		t.Fatalf("system history total %s", str(r.body, "total"))
	}
	r = c.must(200, "GET", "/_history?_since=2300-01-01", "")
	if str(r.body, "total") != "0" {
		t.Fatalf("_since in the future: %s", r.raw)
	}
}

// TestValidateOperation covers $validate against the core definitions: a resource or a
// Parameters body, the stored version at instance level, modes and profiles.
func TestValidateOperation(t *testing.T) {
	c := newClient(t)
	errorsIn := func(r reply) (n int, codes []string) {
		for i := 0; str(r.body, "issue", i, "severity") != ""; i++ {
			if str(r.body, "issue", i, "severity") == "error" {
				n++
				codes = append(codes, str(r.body, "issue", i, "code")+" "+str(r.body, "issue", i, "expression", 0))
			}
		}
		return n, codes
	}
	invalid := `{"resourceType":"Observation","code":{"text":"height"}}`
	for _, tc := range []struct {
		name, method, path, body string
		status, errors           int
		want                     string // an error issue "code expression", if any
	}{
		{"valid", "POST", "/Patient/$validate", `{"resourceType":"Patient","gender":"male"}`, 200, 0, ""},
		{"missing status", "POST", "/Observation/$validate", invalid, 200, 1, "required Observation.status"},
		{"invariant", "POST", "/Patient/$validate", `{"resourceType":"Patient","contact":[{"gender":"male"}]}`, 200, 1, "invariant Patient.contact[0]"},
		{"NHS number", "POST", "/Patient/$validate", `{"resourceType":"Patient","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765918"}]}`, 200, 1, "value Patient.identifier[0].value"},
		{"parameters", "POST", "/Observation/$validate", `{"resourceType":"Parameters","parameter":[{"name":"resource","resource":` + invalid + `},{"name":"mode","valueCode":"create"}]}`, 200, 1, "required Observation.status"},
		{"parameters without resource", "POST", "/Observation/$validate", `{"resourceType":"Parameters","parameter":[{"name":"mode","valueCode":"create"}]}`, 400, 0, ""},
		{"unknown mode", "POST", "/Patient/$validate?mode=sideways", `{"resourceType":"Patient"}`, 400, 0, ""},
		{"profile not loaded", "POST", "/Patient/$validate?profile=https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient", `{"resourceType":"Patient"}`, 200, 1, "not-found Patient"},
		{"core profile", "POST", "/Patient/$validate?profile=http://hl7.org/fhir/StructureDefinition/Patient", `{"resourceType":"Patient"}`, 200, 0, ""},
		{"instance, stored", "GET", "/Patient/v1/$validate", "", 200, 0, ""},
		{"instance, missing", "GET", "/Patient/nobody/$validate", "", 404, 0, ""},
		{"instance, update with another id", "POST", "/Patient/v1/$validate?mode=update", `{"resourceType":"Patient","id":"v2"}`, 400, 0, ""},
	} {
		if tc.name == "instance, stored" {
			c.must(201, "PUT", "/Patient/v1", `{"resourceType":"Patient","id":"v1","gender":"female"}`)
		}
		t.Run(tc.name, func(t *testing.T) {
			r := c.must(tc.status, tc.method, tc.path, tc.body)
			if tc.status != 200 {
				return
			}
			n, codes := errorsIn(r)
			if n != tc.errors || tc.want != "" && (len(codes) == 0 || codes[0] != tc.want) {
				t.Fatalf("%d errors %v, want %d (%q)\n%s", n, codes, tc.errors, tc.want, r.raw)
			}
		})
	}
}
