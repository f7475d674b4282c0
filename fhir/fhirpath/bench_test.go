package fhirpath

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
)

// syntheaResources parses the resources of one Synthea bundle.
func syntheaResources(b *testing.B) []*fhir.Resource {
	files, _ := filepath.Glob(filepath.Join(sharedData, "synthea", "bundles", "*.json"))
	if len(files) == 0 {
		b.Skip("Synthea bundles not found under " + sharedData)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		b.Fatal(err)
	}
	var bundle struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(data, &bundle); err != nil {
		b.Fatal(err)
	}
	var out []*fhir.Resource
	for _, e := range bundle.Entry {
		res, err := fhir.Parse(e.Resource)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, res)
	}
	return out
}

// BenchmarkEvaluate evaluates every search expression of each resource's type over one
// Synthea bundle, as indexing does.
func BenchmarkEvaluate(b *testing.B) {
	reg := definitions.R4()
	resources := syntheaResources(b)
	type job struct {
		res   *fhir.Resource
		exprs []*Expr
	}
	var jobs []job
	evals := 0
	for _, res := range resources {
		j := job{res: res}
		for _, p := range reg.SearchParams(res.Type) {
			if p.Expression != "" {
				j.exprs = append(j.exprs, MustCompile(p.Expression))
			}
		}
		evals += len(j.exprs)
		jobs = append(jobs, j)
	}
	b.ResetTimer()
	b.ReportAllocs()
	for b.Loop() {
		for _, j := range jobs {
			env := &Env{Resource: j.res.Root}
			for _, e := range j.exprs {
				if _, err := e.EvaluateWith(j.res.Root, env); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.ReportMetric(float64(evals*b.N)/b.Elapsed().Seconds(), "evals/s")
	b.ReportMetric(float64(len(resources)*b.N)/b.Elapsed().Seconds(), "resources/s")
}

// BenchmarkCompile parses every distinct search expression of the registry.
func BenchmarkCompile(b *testing.B) {
	var exprs []string
	for src := range searchExpressions(b) {
		exprs = append(exprs, src)
	}
	b.ResetTimer()
	b.ReportAllocs()
	for b.Loop() {
		for _, src := range exprs {
			if _, err := Compile(src); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(exprs)*b.N)/b.Elapsed().Seconds(), "exprs/s")
}
