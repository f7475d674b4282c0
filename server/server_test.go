package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/concord-health/concord/fhir/definitions"
)

func TestServer(t *testing.T) {
	srv := httptest.NewServer(New(definitions.R4()))
	defer srv.Close()
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
	}{
		{"metadata", "GET", "/fhir/metadata", "", 200},
		{"valid", "POST", "/fhir/Patient/$validate", `{"resourceType":"Patient","gender":"male"}`, 200},
		{"malformed", "POST", "/fhir/Patient/$validate", `{"resourceType":`, 400},
		{"unknown element", "POST", "/fhir/Patient/$validate", `{"resourceType":"Patient","foo":1}`, 400},
		{"type mismatch", "POST", "/fhir/Patient/$validate", `{"resourceType":"Observation"}`, 400},
		{"unknown type", "POST", "/fhir/Foo/$validate", `{}`, 404},
		{"too large", "POST", "/fhir/Patient/$validate", strings.Repeat(" ", MaxBody+1), 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.status)
			}
			var v map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
				t.Fatal(err)
			}
			want := "OperationOutcome"
			if tc.path == "/fhir/metadata" {
				want = "CapabilityStatement"
			}
			if v["resourceType"] != want {
				t.Fatalf("resourceType = %v, want %s", v["resourceType"], want)
			}
		})
	}
}
