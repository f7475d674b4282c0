package interaction_test

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/interaction"
	"github.com/concord-health/concord/search"
	"github.com/concord-health/concord/store"
	"github.com/concord-health/concord/store/postgres"
	"github.com/concord-health/concord/store/postgres/pgtest"
	"github.com/concord-health/concord/store/sqlite"
)

const (
	examplesDir = "../../shared/data/fhir-r4-examples/package"
	syntheaDir  = "../../shared/data/synthea/bundles"
)

type backend struct {
	name string
	open func(t *testing.T) store.Store
}

func backends(t *testing.T) []backend {
	bs := []backend{{"sqlite", func(t *testing.T) store.Store {
		st, err := sqlite.OpenFile(context.Background(), filepath.Join(t.TempDir(), "concord.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}}}
	if os.Getenv(pgtest.Env) != "" {
		bs = append(bs, backend{"postgres", func(t *testing.T) store.Store {
			st, err := postgres.Open(context.Background(), pgtest.FreshSchema(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}})
	} else {
		t.Log("CONCORD_TEST_POSTGRES not set: PostgreSQL not tested here")
	}
	return bs
}

// rawResource is what the independent counts read from the files: plain JSON, not the
// element model under test.
type rawResource map[string]any

func (r rawResource) str(k string) string { s, _ := r[k].(string); return s }

// reference returns the reference strings of a top-level Reference element.
func (r rawResource) reference(k string) string {
	m, _ := r[k].(map[string]any)
	s, _ := m["reference"].(string)
	return s
}

func readJSON(t *testing.T, path string) map[string]any {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDatasets loads every official example and every Synthea bundle, then checks search
// totals against counts computed straight from the files.
func TestDatasets(t *testing.T) {
	examples, _ := filepath.Glob(filepath.Join(examplesDir, "*.json"))
	bundles, _ := filepath.Glob(filepath.Join(syntheaDir, "*.json"))
	if len(examples) == 0 || len(bundles) == 0 {
		t.Skipf("test data not found (%s, %s)", examplesDir, syntheaDir)
	}
	reg := definitions.R4()
	ix, err := search.NewExtractor(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			svc := interaction.New(be.open(t), reg, ix)
			ctx := context.Background()
			perType := map[string]int{}
			females, bodyHeight := 0, 0
			var exampleKeys []string
			for _, p := range examples {
				if filepath.Base(p) == "package.json" {
					continue
				}
				b, _ := os.ReadFile(p)
				res, err := fhir.Parse(b)
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				if _, err := svc.Load(ctx, []interaction.LoadItem{{Resource: res}}); err != nil {
					t.Fatalf("loading %s: %v", filepath.Base(p), err)
				}
				raw := rawResource(readJSON(t, p))
				perType[raw.str("resourceType")]++
				exampleKeys = append(exampleKeys, raw.str("resourceType")+"/"+raw.str("id"))
				if raw.str("resourceType") == "Patient" && raw.str("gender") == "female" {
					females++
				}
				if raw.str("resourceType") == "Observation" && hasCoding(raw["code"], "http://loinc.org", "8302-2") {
					bodyHeight++
				}
			}
			// Independent counts over the Synthea bundles.
			obsByPatient := map[string]int{}
			condByPatient := map[string]int{}
			bornSince1970 := 0
			fullURLToID := map[string]string{}
			for _, p := range bundles {
				b, _ := os.ReadFile(p)
				res, err := fhir.Parse(b)
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				items := interaction.BundleItems(res)
				if _, err := svc.Load(ctx, items); err != nil {
					t.Fatalf("loading %s: %v", filepath.Base(p), err)
				}
				for _, e := range readJSON(t, p)["entry"].([]any) {
					em := e.(map[string]any)
					raw := rawResource(em["resource"].(map[string]any))
					fullURLToID[em["fullUrl"].(string)] = raw.str("resourceType") + "/" + raw.str("id")
				}
			}
			seen := map[string]bool{}
			for _, p := range bundles {
				for _, e := range readJSON(t, p)["entry"].([]any) {
					raw := rawResource(e.(map[string]any)["resource"].(map[string]any))
					key := raw.str("resourceType") + "/" + raw.str("id")
					if seen[key] {
						continue // the shared Organization/Practitioner bundles repeat resources
					}
					seen[key] = true
					perType[raw.str("resourceType")]++
					subject := fullURLToID[raw.reference("subject")]
					switch raw.str("resourceType") {
					case "Patient":
						if raw.str("gender") == "female" {
							females++
						}
						if raw.str("birthDate") >= "1970" {
							bornSince1970++
						}
					case "Observation":
						obsByPatient[subject]++
						if hasCoding(raw["code"], "http://loinc.org", "8302-2") {
							bodyHeight++
						}
					case "Condition":
						condByPatient[subject]++
					}
				}
			}
			total := func(path string) int {
				t.Helper()
				p, rawQ, _ := strings.Cut(path, "?")
				q, _ := url.ParseQuery(rawQ)
				q.Set("_total", "accurate") // totals beyond the first page are on request
				r := svc.Do(ctx, &interaction.Request{Method: "GET", Path: p, Query: q, Base: "http://test/fhir"})
				if r.Status != 200 {
					t.Fatalf("%s: %d %s", path, r.Status, r.Body)
				}
				var b struct{ Total int }
				json.Unmarshal(r.Body, &b)
				return b.Total
			}
			check := func(path string, want int) {
				t.Helper()
				if got := total(path); got != want {
					t.Errorf("%s: total %d, want %d", path, got, want)
				}
			}
			for typ, n := range perType {
				check(typ+"?_summary=count", n)
			}
			check("Patient?gender=female", females)
			check("Observation?code=http://loinc.org|8302-2", bodyHeight)
			for pid, n := range obsByPatient {
				check("Observation?patient="+pid, n)
				check("Condition?patient="+pid, condByPatient[pid])
			}
			// Every example reads back.
			for _, k := range exampleKeys {
				if r := svc.Do(ctx, &interaction.Request{Method: "GET", Path: k}); r.Status != 200 {
					t.Errorf("GET %s: %d", k, r.Status)
				}
			}
			if bornSince1970 == 0 {
				t.Fatal("no Synthea patients born since 1970: the sample changed")
			}
		})
	}
}

// hasCoding reports whether a raw CodeableConcept has the coding system|code.
func hasCoding(cc any, system, code string) bool {
	m, _ := cc.(map[string]any)
	codings, _ := m["coding"].([]any)
	for _, c := range codings {
		cm, _ := c.(map[string]any)
		if cm["system"] == system && cm["code"] == code {
			return true
		}
	}
	return false
}
