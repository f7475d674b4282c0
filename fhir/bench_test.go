package fhir

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/concord-health/concord/fhir/definitions"
)

// syntheaResources returns the resources of one Synthea bundle, with the definitions
// already loaded so that their one-time cost stays out of the measurement.
func syntheaResources(b *testing.B) []json.RawMessage {
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
	definitions.R4()
	out := make([]json.RawMessage, len(bundle.Entry))
	size := 0
	for i, e := range bundle.Entry {
		out[i] = e.Resource
		size += len(e.Resource)
	}
	b.SetBytes(int64(size))
	return out
}

// BenchmarkParseMarshal parses and re-serializes the resources of one Synthea bundle, the
// per-resource work every write does before storage.
func BenchmarkParseMarshal(b *testing.B) {
	resources := syntheaResources(b)
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for range b.N {
		for _, r := range resources {
			res, err := Parse(r)
			if err != nil {
				b.Fatal(err)
			}
			Marshal(res.Root)
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "resources/s")
}

// BenchmarkParse measures parsing alone.
func BenchmarkParse(b *testing.B) {
	raw := syntheaResources(b)
	resources := make([][]byte, len(raw))
	for i, r := range raw {
		resources[i] = r
	}
	benchParse(b, resources, Parse)
}

// BenchmarkParseXML parses the resources of BenchmarkParse from XML; ns/op compare directly.
func BenchmarkParseXML(b *testing.B) { benchParse(b, syntheaXML(b), ParseXML) }

// BenchmarkMarshal measures serializing alone.
func BenchmarkMarshal(b *testing.B) { benchMarshal(b, Marshal) }

// BenchmarkMarshalXML serializes the resources of BenchmarkMarshal as XML.
func BenchmarkMarshalXML(b *testing.B) { benchMarshal(b, MarshalXML) }

func benchParse(b *testing.B, resources [][]byte, parse func([]byte) (*Resource, error)) {
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for range b.N {
		for _, r := range resources {
			if _, err := parse(r); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "resources/s")
}

func benchMarshal(b *testing.B, marshal func(*Node) []byte) {
	resources := syntheaResources(b)
	roots := make([]*Node, len(resources))
	for i, r := range resources {
		res, err := Parse(r)
		if err != nil {
			b.Fatal(err)
		}
		roots[i] = res.Root
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for range b.N {
		for _, r := range roots {
			marshal(r)
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "resources/s")
}

// syntheaXML returns the resources of one Synthea bundle in XML, and counts their XML size.
func syntheaXML(b *testing.B) [][]byte {
	resources := syntheaResources(b)
	out := make([][]byte, len(resources))
	size := 0
	for i, r := range resources {
		res, err := Parse(r)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = MarshalXML(res.Root)
		size += len(out[i])
	}
	b.SetBytes(int64(size))
	return out
}
