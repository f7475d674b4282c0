package fhir

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// example is one official example file.
type example struct {
	name string
	data []byte
}

// officialExamples reads the official R4 JSON examples; the test is skipped without them.
func officialExamples(t testing.TB) []example {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(examplesDir, "package", "*.json"))
	if len(files) == 0 {
		t.Skip("official examples not found at ../shared/data/fhir-r4-examples")
	}
	var out []example
	for _, f := range files {
		if filepath.Base(f) == "package.json" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, example{filepath.Base(f), data})
	}
	return out
}
