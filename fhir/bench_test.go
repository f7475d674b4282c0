package fhir

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkParseMarshal parses and re-serializes the resources of one Synthea bundle, the
// per-resource work every write does before storage.
func BenchmarkParseMarshal(b *testing.B) {
	files, _ := filepath.Glob("../../shared/data/synthea/bundles/*.json")
	if len(files) == 0 {
		b.Skip("synthea bundles not found at ../shared/data/synthea/bundles")
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
	b.ResetTimer()
	n := 0
	for range b.N {
		for _, e := range bundle.Entry {
			res, err := Parse(e.Resource)
			if err != nil {
				b.Fatal(err)
			}
			Marshal(res.Root)
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "resources/s")
}
