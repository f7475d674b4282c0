package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/interaction"
	"github.com/concord-health/concord/search"
	"github.com/concord-health/concord/store/sqlite"
)

// newTestServer starts Concord over a fresh SQLite store on a real HTTP listener.
func newTestServer(t testing.TB, opts Options) *httptest.Server {
	t.Helper()
	reg := definitions.R4()
	st, err := sqlite.OpenFile(context.Background(), filepath.Join(t.TempDir(), "concord.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ix, err := search.NewExtractor(reg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(interaction.New(st, reg, ix), reg, opts))
	t.Cleanup(srv.Close)
	return srv
}

func TestValidateAndMetadata(t *testing.T) {
	srv := newTestServer(t, Options{MaxBody: 1 << 20})
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
	}{
		{"metadata", "GET", "/fhir/metadata", "", 200},
		{"metadata full", "GET", "/fhir/metadata?mode=full", "", 200},
		{"terminology capabilities", "GET", "/fhir/metadata?mode=terminology", "", 200},
		{"unknown metadata mode", "GET", "/fhir/metadata?mode=everything", "", 400},
		{"valid", "POST", "/fhir/Patient/$validate", `{"resourceType":"Patient","gender":"male"}`, 200},
		{"malformed", "POST", "/fhir/Patient/$validate", `{"resourceType":`, 400},
		{"unknown element", "POST", "/fhir/Patient/$validate", `{"resourceType":"Patient","foo":1}`, 400},
		{"type mismatch", "POST", "/fhir/Patient/$validate", `{"resourceType":"Observation"}`, 400},
		{"unknown type", "POST", "/fhir/Foo/$validate", `{}`, 404},
		{"too large", "POST", "/fhir/Patient/$validate", strings.Repeat(" ", 1<<20+1), 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/fhir+json")
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
			switch tc.path {
			case "/fhir/metadata", "/fhir/metadata?mode=full":
				want = "CapabilityStatement"
			case "/fhir/metadata?mode=terminology":
				want = "TerminologyCapabilities"
				systems, _ := v["codeSystem"].([]any)
				if len(systems) < 100 {
					t.Errorf("%d code systems listed, want the core ones", len(systems))
				}
			}
			if v["resourceType"] != want {
				t.Fatalf("resourceType = %v, want %s", v["resourceType"], want)
			}
		})
	}
}
