package terminology

import (
	"encoding/json"
	"fmt"
	"maps"
	"sync"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
)

// coreFiles are the embedded bundles of the FHIR R4 core CodeSystems, ValueSets and
// ConceptMaps.
var coreFiles = []string{"valuesets.json.gz", "v3-codesystems.json.gz", "v2-tables.json.gz", "conceptmaps.json.gz"}

// loadCore reads the core content once per process; the result is shared by every Service
// Core returns and never written.
var loadCore = sync.OnceValues(readCore)

func readCore() (*Service, error) {
	type loaded struct {
		resources []any // *codeSystem, *valueSet
		skipped   []string
		err       error
	}
	results := make([]loaded, len(coreFiles))
	var wg sync.WaitGroup
	for i, name := range coreFiles {
		wg.Go(func() {
			r := &results[i]
			r.resources, r.skipped, r.err = readBundle(name)
		})
	}
	wg.Wait()
	s := New()
	for _, r := range results {
		if r.err != nil {
			return nil, r.err
		}
		s.skipped = append(s.skipped, r.skipped...)
		for _, x := range r.resources {
			s.put(x)
		}
	}
	return s, nil
}

// Core returns a new Service holding the FHIR R4 core CodeSystems, ValueSets and ConceptMaps
// (the HL7 FHIR, v3 and v2 ones). The core content is read once per process and shared; the
// Service can take more resources.
func Core() (*Service, error) {
	core, err := loadCore()
	if err != nil {
		return nil, err
	}
	s := New()
	// The version lists are shared: they are replaced, never appended to in place.
	s.codeSystems = maps.Clone(core.codeSystems)
	s.valueSets = maps.Clone(core.valueSets)
	s.supplements = maps.Clone(core.supplements)
	s.conceptMaps = maps.Clone(core.conceptMaps)
	s.skipped = core.skipped
	return s, nil
}

// readBundle reads the CodeSystems, ValueSets and ConceptMaps of an embedded Bundle. The
// bundle is parsed as a whole, which is fastest; if that fails, entry by entry, so that a
// resource the parser rejects costs only itself. Resources that cannot be read are listed in
// skipped.
func readBundle(name string) (out []any, skipped []string, err error) {
	data, err := definitions.ReadFile(name)
	if err != nil {
		return nil, nil, fmt.Errorf("terminology: %w", err)
	}
	add := func(n *fhir.Node) {
		if n.Type != "CodeSystem" && n.Type != "ValueSet" && n.Type != "ConceptMap" {
			return
		}
		x, err := build(n)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("%s: %v", name, err))
			return
		}
		out = append(out, x)
	}
	if b, err := fhir.Parse(data); err == nil {
		for _, e := range b.Root.Child("entry") {
			if r := e.First("resource"); r != nil {
				add(r)
			}
		}
		return out, nil, nil
	}
	var bundle struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(data, &bundle); err != nil {
		return nil, nil, fmt.Errorf("terminology: %s: %w", name, err)
	}
	for i, e := range bundle.Entry {
		r, err := fhir.Parse(e.Resource)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("%s entry %d: %v", name, i, err))
			continue
		}
		add(r.Root)
	}
	return out, skipped, nil
}
