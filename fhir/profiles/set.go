package profiles

import (
	"cmp"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
)

// coreBase is the canonical prefix of the core type and resource definitions.
const coreBase = "http://hl7.org/fhir/StructureDefinition/"

// Set is the collection of StructureDefinitions the validator resolves canonicals against.
// The core set is shared by the whole process; New layers a set of its own definitions
// (an implementation guide, uploads) over it. A Set is safe for concurrent use; make one
// with Core or New.
type Set struct {
	parent *Set // Core() for a layered set; nil for the core set itself

	mu sync.RWMutex
	// byURL holds the entries of each canonical url, oldest first; an entry replaced by a
	// later Add of the same url|version is dropped.
	byURL map[string][]*entry
	// epoch counts Adds: a generated snapshot depends on other definitions of the set
	// (its base, the profiles of types it dives into), so after an Add each is generated
	// again on its next Get.
	epoch uint64
}

// entry is one definition: its raw JSON (core) or parsed resource (added), and the
// StructureDefinition built from it on first use.
type entry struct {
	url, version string
	raw          []byte
	res          *fhir.Resource

	mu    sync.Mutex
	built bool
	epoch uint64
	sd    *StructureDefinition
	err   error
}

var coreSet = sync.OnceValues(loadCore)

// Core returns the FHIR R4 core definitions: every StructureDefinition of the embedded
// types, resources and extension definitions. The raw definitions are indexed once per
// process; each is parsed on first use and then kept.
func Core() (*Set, error) { return coreSet() }

// New returns an empty set layered over the core definitions.
func New() *Set {
	core, err := Core()
	if err != nil {
		// The core definitions are embedded: failing to read them is a build defect.
		panic(err)
	}
	return &Set{parent: core, byURL: map[string][]*entry{}}
}

func loadCore() (*Set, error) {
	s := &Set{byURL: map[string][]*entry{}}
	for _, file := range []string{"profiles-types.json.gz", "profiles-resources.json.gz", "extension-definitions.json.gz"} {
		data, err := definitions.ReadFile(file)
		if err != nil {
			return nil, err
		}
		err = members(data, func(key string, val []byte) error {
			if key != "entry" {
				return nil
			}
			return elements(val, func(entry []byte) error {
				return members(entry, func(key string, res []byte) error {
					if key == "resource" {
						return s.addCore(res)
					}
					return nil
				})
			})
		})
		if err != nil {
			return nil, fmt.Errorf("profiles: %s: %w", file, err)
		}
	}
	return s, nil
}

// addCore indexes one resource of a core bundle if it is a StructureDefinition.
func (s *Set) addCore(res []byte) error {
	var rt, url, version string
	err := members(res, func(key string, val []byte) error {
		switch key {
		case "resourceType":
			return json.Unmarshal(val, &rt)
		case "url":
			return json.Unmarshal(val, &url)
		case "version":
			return json.Unmarshal(val, &version)
		}
		return nil
	})
	if err != nil || rt != "StructureDefinition" || url == "" {
		return err
	}
	s.byURL[url] = append(s.byURL[url], &entry{url: url, version: version, raw: res})
	return nil
}

// Add puts a StructureDefinition into the set, replacing one with the same url|version.
// Its snapshot, if it has none, is generated on first Get.
func (s *Set) Add(res *fhir.Resource) error {
	if s.parent == nil {
		return fmt.Errorf("profiles: the core set is read-only")
	}
	if res == nil || res.Root == nil || res.Type != "StructureDefinition" {
		return fmt.Errorf("profiles: not a StructureDefinition")
	}
	url, version := res.Root.Text("url"), res.Root.Text("version")
	if url == "" {
		return fmt.Errorf("profiles: StructureDefinition %q has no url", res.ID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.byURL[url]
	kept := make([]*entry, 0, len(list)+1)
	for _, e := range list {
		if e.version != version {
			kept = append(kept, e)
		}
	}
	s.byURL[url] = append(kept, &entry{url: url, version: version, res: res})
	s.epoch++
	return nil
}

// Get returns the StructureDefinition with a canonical ("url" or "url|version"), its
// snapshot generated if it had none. The set's own definitions come first, then the core
// ones; without a version, the one added last. It returns (nil, nil) for an unknown
// canonical, and an error when the definition is known but no usable snapshot can be
// built. Problems that leave the snapshot usable are listed in its Problems.
func (s *Set) Get(canonical string) (*StructureDefinition, error) {
	return s.get(canonical, nil)
}

// ForType returns the core definition of a type or resource ("Patient", "Quantity",
// "string"), or nil.
func (s *Set) ForType(typeName string) (*StructureDefinition, error) {
	core := s
	if s.parent != nil {
		core = s.parent
	}
	if typeName == "" {
		return nil, nil
	}
	return core.get(coreBase+typeName, nil)
}

// URLs lists the canonical urls of the definitions added to the set, sorted; the core
// definitions are not listed.
func (s *Set) URLs() []string {
	if s.parent == nil {
		return nil
	}
	s.mu.RLock()
	out := make([]string, 0, len(s.byURL))
	for u := range s.byURL {
		out = append(out, u)
	}
	s.mu.RUnlock()
	sort.Strings(out)
	return out
}

// lookup finds the entry of a canonical in this set or, failing that, its parent.
func (s *Set) lookup(canonical string) (*entry, uint64) {
	url, version, _ := strings.Cut(canonical, "|")
	url, _, _ = strings.Cut(url, "#") // a fragment names a part of the definition, not another one
	s.mu.RLock()
	list, epoch := s.byURL[url], s.epoch
	s.mu.RUnlock()
	for i := len(list) - 1; i >= 0; i-- {
		if version == "" || list[i].version == version {
			return list[i], epoch
		}
	}
	// A partial version ("0.2") stands for the latest of its patches ("0.2.1").
	var best *entry
	for _, e := range list {
		if version != "" && strings.HasPrefix(e.version, version+".") && (best == nil || compareVersions(e.version, best.version) > 0) {
			best = e
		}
	}
	if best != nil {
		return best, epoch
	}
	if s.parent != nil {
		return s.parent.lookup(canonical)
	}
	return nil, 0
}

// get is Get within one generation: stack lists the canonicals being generated, so that a
// definition that depends on itself is an error instead of endless recursion.
func (s *Set) get(canonical string, stack []string) (*StructureDefinition, error) {
	e, epoch := s.lookup(canonical)
	if e == nil {
		return nil, nil
	}
	e.mu.Lock()
	if e.built && e.epoch == epoch {
		sd, err := e.sd, e.err
		e.mu.Unlock()
		return sd, err
	}
	e.mu.Unlock()
	for _, u := range stack {
		if u == e.url {
			return nil, fmt.Errorf("profiles: %s depends on itself (%s)", e.url, strings.Join(append(stack, e.url), " → "))
		}
	}
	// Build without holding the entry's lock: generation gets other definitions, which
	// another goroutine may be generating from this one. Two goroutines may build the
	// same definition at once; the first result stored wins.
	sd, err := s.build(e, append(stack[:len(stack):len(stack)], e.url))
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.built && e.epoch >= epoch {
		if e.epoch == epoch {
			return e.sd, e.err
		}
		return sd, err // a newer result is stored; this one answers only this call
	}
	// A cycle reached through this definition is one whatever the entry point, so
	// failures are kept like successes.
	e.built, e.epoch, e.sd, e.err = true, epoch, sd, err
	return sd, err
}

func (s *Set) build(e *entry, stack []string) (*StructureDefinition, error) {
	res := e.res
	if res == nil {
		var err error
		if res, err = fhir.Parse(e.raw); err != nil {
			return nil, fmt.Errorf("profiles: core %s: %w", e.url, err)
		}
	}
	if res.Root.First("snapshot") != nil {
		return FromResource(res)
	}
	return s.generate(res, stack)
}

// compareVersions orders dotted versions part by part, numerically where both parts are
// numbers ("0.10" after "0.9").
func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		na, ea := strconv.Atoi(pa[i])
		nb, eb := strconv.Atoi(pb[i])
		switch {
		case ea == nil && eb == nil && na != nb:
			return cmp.Compare(na, nb)
		case (ea != nil || eb != nil) && pa[i] != pb[i]:
			return strings.Compare(pa[i], pb[i])
		}
	}
	return cmp.Compare(len(pa), len(pb))
}
