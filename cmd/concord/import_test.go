package main

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concord-health/concord/interaction"
	"github.com/concord-health/concord/store/sqlite"
)

// TestImportIsRepeatable imports the Synthea sample twice into one data directory and checks
// that the second run creates no resource and no version.
func TestImportIsRepeatable(t *testing.T) {
	const dir = "../../../shared/data/synthea/bundles"
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("Synthea bundles not found in %s", dir)
	}
	// The shared Organization/Practitioner bundles hold other contents for 84 ids than the
	// patient bundles do, so loading both flips those between versions; the patient bundles
	// alone name each resource once.
	patients, _ := filepath.Glob(filepath.Join(dir, "*_*.json"))
	data := t.TempDir()
	// An NDJSON file too: two patients, one line each.
	nd := filepath.Join(t.TempDir(), "patients.ndjson")
	os.WriteFile(nd, []byte(`{"resourceType":"Patient","id":"nd-1","gender":"male"}`+"\n"+`{"resourceType":"Patient","id":"nd-2"}`+"\n"), 0o644)
	snapshot := func() (total string, body string) {
		t.Helper()
		st, err := sqlite.Open(context.Background(), data)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		svc, err := newService(st)
		if err != nil {
			t.Fatal(err)
		}
		r := svc.Do(context.Background(), &interaction.Request{Method: "GET", Path: "_history", Query: url.Values{"_summary": {"count"}, "_count": {"1"}}})
		s := string(r.Body)
		i := strings.Index(s, `"total":`)
		if i < 0 {
			t.Fatalf("no total in %s", s)
		}
		total = s[i : i+strings.IndexAny(s[i:], ",}")]
		return total, string(svc.Do(context.Background(), &interaction.Request{Method: "GET", Path: "Patient/nd-1"}).Body)
	}
	if err := importCmd(append([]string{"--data", data, nd}, patients...)); err != nil {
		t.Fatal(err)
	}
	versions1, p1 := snapshot()
	if err := importCmd(append([]string{"--data", data, nd}, patients...)); err != nil {
		t.Fatal(err)
	}
	versions2, p2 := snapshot()
	if versions1 != versions2 || p1 != p2 {
		t.Fatalf("second import changed the store: versions %s -> %s\n%s\n%s", versions1, versions2, p1, p2)
	}
	if !strings.Contains(p1, `"versionId":"1"`) {
		t.Fatalf("NDJSON patient not imported under its id: %s", p1)
	}
	// A broken file fails alone and writes nothing of itself.
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient","id":"ok-1"},"request":{"method":"PUT","url":"Patient/ok-1"}},{"resource":{"resourceType":"Patient","colour":"red"},"request":{"method":"POST","url":"Patient"}}]}`), 0o644)
	if err := importCmd([]string{"--data", data, bad}); err == nil {
		t.Fatal("importing a broken file succeeded")
	}
	if v, _ := snapshot(); v != versions1 {
		t.Fatalf("a failed file left writes: %s -> %s", versions1, v)
	}
}
