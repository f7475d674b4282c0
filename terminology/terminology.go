// Package terminology is Concord's terminology service: code systems, value sets and concept
// maps held in memory, ValueSet expansion, code validation, lookup, subsumption and
// translation.
//
// FHIR CodeSystem, ValueSet and ConceptMap resources are added with Add; a code system too
// large to be a FHIR resource (SNOMED CT, dm+d) plugs in as a CodeSystemProvider with
// AddProvider and then answers lookups, filters and subsumption for the value sets that use
// it. Each value set is
// compiled once into its membership per code system (a map of codes, plus a predicate for the
// parts that cannot be listed), so that ValidateCode on the validation hot path is a couple of
// map lookups. Adding a resource drops the compiled value sets that depend on it.
package terminology

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/concord-health/concord/fhir"
)

// Errors returned by Expand (wrapped with detail; test with errors.Is).
var (
	// ErrUnknownValueSet: the value set is not held here.
	ErrUnknownValueSet = errors.New("value set not found")
	// ErrNotEnumerable: the value set draws on content that is not held here or cannot be
	// listed (an unavailable code system, a filter the code system cannot evaluate, a code
	// system too large to enumerate).
	ErrNotEnumerable = errors.New("value set cannot be expanded")
	// ErrCircular: the value set includes itself, directly or through other value sets.
	ErrCircular = errors.New("value set includes itself")
)

// Coding is a code from a code system.
type Coding struct {
	System, Version, Code, Display string
}

// Result is the outcome of validating a code against a value set.
type Result struct {
	// Valid reports that the code is in the value set (and may be used: abstract codes are
	// not valid in a coding).
	Valid bool
	// Known is false when no decision could be made: the value set, or a code system it
	// needs, is not held here or cannot be evaluated (SNOMED CT, LOINC, UCUM, language tags,
	// mime types…).
	Known bool
	// Display is the code system's display for the code, when known.
	Display string
	// Message says why the code is not valid or why no decision was made; for a valid code
	// it notes an inactive or deprecated concept.
	Message string
}

// Concept is one concept of a code system. Its slices are shared with the code system and
// must not be modified.
type Concept struct {
	Code         string
	Display      string
	Definition   string
	Designations []Designation
	Properties   []Property
	// Abstract: the concept is a grouper not meant for use in records (notSelectable).
	Abstract bool
	// Inactive: the concept is no longer in use (status retired/inactive, inactive=true).
	Inactive bool
	// Deprecated: the concept is still active but its use is discouraged.
	Deprecated bool
}

// Designation is an additional representation of a concept (a translation, a synonym).
type Designation struct {
	Language string
	Use      Coding
	Value    string
}

// Property is one property value of a concept. Value is the value as text: a code, string,
// integer, decimal or dateTime as written, a boolean as "true"/"false", a Coding as
// "system|code".
type Property struct {
	Code  string
	Type  string // code, Coding, string, integer, boolean, dateTime, decimal
	Value string
}

// Info describes a held value set.
type Info struct {
	URL, Version, Name, Title, Status string
}

// ExpandOptions shape an expansion.
type ExpandOptions struct {
	// Filter keeps the concepts whose display has a word starting with every word of
	// Filter, or whose code starts with it (case-insensitive). Over the implicit value sets
	// of a code system with a text index (TextSearcher) it matches any description and the
	// concepts come best match first.
	Filter string
	// Offset and Count page the result; Count <= 0 means all remaining.
	Offset, Count int
	// ActiveOnly leaves out inactive concepts.
	ActiveOnly bool
}

// Expansion is a value set expanded.
type Expansion struct {
	URL, Version string // of the value set
	// Total counts the concepts that pass the options' filters, before paging; -1 when a
	// ranked text search stopped at the page asked for, not knowing how many there are.
	Total    int
	Offset   int
	Contains []ExpansionEntry
}

// ExpansionEntry is one concept of an expansion.
type ExpansionEntry struct {
	Coding
	Abstract, Inactive bool
}

// Service holds code systems and value sets. It is safe for concurrent use; resources can be
// added at any time, which drops the cached value sets that depend on them.
type Service struct {
	// mu guards the resource maps. A value set compiles under the read lock, and Add
	// invalidates under the write lock, so no compilation can store a result computed from
	// content that Add has since replaced.
	mu          sync.RWMutex
	codeSystems map[string][]CodeSystemProvider // by URL, every version held
	valueSets   map[string][]*valueSet
	supplements map[string][]*codeSystem // held but not used for codes
	conceptMaps map[string][]*conceptMap
	// mapProviders are the concept maps held outside resources, by URL.
	mapProviders []MapProvider

	// cache maps a value set reference, as callers give it, to its compiled form; it is
	// read without locks on the hot path.
	cache sync.Map

	skipped []string
}

// New returns an empty Service.
func New() *Service {
	return &Service{
		codeSystems: map[string][]CodeSystemProvider{},
		valueSets:   map[string][]*valueSet{},
		supplements: map[string][]*codeSystem{},
		conceptMaps: map[string][]*conceptMap{},
	}
}

// Add holds a CodeSystem, ValueSet or ConceptMap resource, replacing one with the same url
// and version.
func (s *Service) Add(res *fhir.Resource) error {
	if res == nil || res.Root == nil {
		return errors.New("terminology: no resource")
	}
	if res.Type != "CodeSystem" && res.Type != "ValueSet" && res.Type != "ConceptMap" {
		return fmt.Errorf("terminology: a %s is not a CodeSystem, ValueSet or ConceptMap", res.Type)
	}
	x, err := build(res.Root)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.put(x)
	return nil
}

// build reads a CodeSystem, ValueSet or ConceptMap into the form it is held in.
func build(n *fhir.Node) (any, error) {
	switch n.Type {
	case "CodeSystem":
		return newCodeSystem(n)
	case "ConceptMap":
		return newConceptMap(n)
	}
	return newValueSet(n)
}

// put holds a built resource; the caller holds the write lock (or the Service is not yet
// shared).
func (s *Service) put(x any) {
	switch x := x.(type) {
	case *codeSystem:
		s.putCodeSystem(x)
	case *valueSet:
		s.putValueSet(x)
	case *conceptMap:
		s.conceptMaps[x.url] = replaceVersion(s.conceptMaps[x.url], x, func(o *conceptMap) string { return o.version })
	}
}

// AddProvider plugs in a code system that is not held as a FHIR CodeSystem resource (SNOMED
// CT from an RF2 release, say), replacing one with the same URL and version.
func (s *Service) AddProvider(p CodeSystemProvider) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putProvider(p)
}

func (s *Service) putCodeSystem(cs *codeSystem) {
	if cs.supplements != "" || cs.content == "supplement" {
		// A supplement adds designations and properties to another system's codes; it
		// defines no codes of its own, so it is kept out of code resolution.
		s.supplements[cs.url] = replaceVersion(s.supplements[cs.url], cs, func(o *codeSystem) string { return o.version })
		return
	}
	s.putProvider(cs)
}

func (s *Service) putProvider(p CodeSystemProvider) {
	url := p.URL()
	s.codeSystems[url] = replaceVersion(s.codeSystems[url], p, CodeSystemProvider.Version)
	s.invalidate(url)
}

func (s *Service) putValueSet(vs *valueSet) {
	s.valueSets[vs.url] = replaceVersion(s.valueSets[vs.url], vs, func(o *valueSet) string { return o.version })
	s.invalidate(vs.url)
}

// replaceVersion returns list with x in place of the entry of the same version, or added.
// The list is copied so that a Service made by Core never writes into the shared core maps'
// slices.
func replaceVersion[T any](list []T, x T, version func(T) string) []T {
	out := make([]T, 0, len(list)+1)
	for _, o := range list {
		if version(o) != version(x) {
			out = append(out, o)
		}
	}
	return append(out, x)
}

// invalidate drops every compiled value set that depends on url (a code system or value
// set). It runs under the write lock.
func (s *Service) invalidate(url string) {
	s.cache.Range(func(k, v any) bool {
		if _, ok := v.(*compiled).deps[url]; ok {
			s.cache.Delete(k)
		}
		return true
	})
}

// CodeSystem returns a held code system: the latest version, or the one named by a
// "url|version" canonical.
func (s *Service) CodeSystem(canonical string) (CodeSystemProvider, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p := s.resolveSystem(canonical, "")
	if p == nil {
		if url, version, ok := splitCanonical(canonical); ok {
			p = s.resolveSystem(url, version)
		}
	}
	return p, p != nil
}

// CodeSystems lists the code systems held with content (every version), by URL, and the
// concept maps held outside resources, for a TerminologyCapabilities statement.
func (s *Service) CodeSystems() []Info {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Info
	for _, list := range s.codeSystems {
		for _, p := range list {
			if usable(p) {
				out = append(out, Info{URL: p.URL(), Version: p.Version(), Name: systemName(p)})
			}
		}
	}
	slices.SortFunc(out, func(a, b Info) int {
		return cmp.Or(strings.Compare(a.URL, b.URL), compareVersions(a.Version, b.Version))
	})
	return out
}

// ValueSet describes a held value set: the latest version, or the one named by a
// "url|version" canonical, or an implicit value set of a held code system ("…?fhir_vs…").
func (s *Service) ValueSet(canonical string) (Info, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	vs := s.resolveValueSet(canonical)
	if vs == nil {
		return s.implicitInfo(canonical)
	}
	return Info{URL: vs.url, Version: vs.version, Name: vs.name, Title: vs.title, Status: vs.status}, true
}

// Skipped lists the resources offered at load (Core) that could not be read, with why.
func (s *Service) Skipped() []string { return slices.Clone(s.skipped) }

// resolveSystem finds a code system by URL and version (latest when version is empty, or
// when that version is not held: value sets often pin a version older than the one
// published alongside them). Code systems whose content is not present count as absent.
func (s *Service) resolveSystem(url, version string) CodeSystemProvider {
	var best CodeSystemProvider
	for _, p := range s.codeSystems[url] {
		if !usable(p) {
			continue
		}
		if version != "" && p.Version() == version {
			return p
		}
		if best == nil || compareVersions(p.Version(), best.Version()) > 0 {
			best = p
		}
	}
	return best
}

// usable reports whether a provider has any content to answer from.
func usable(p CodeSystemProvider) bool {
	cs, ok := p.(*codeSystem)
	return !ok || cs.content != "not-present"
}

// resolveValueSet finds a value set by canonical ("url" or "url|version").
func (s *Service) resolveValueSet(canonical string) *valueSet {
	if vs := latest(s.valueSets[canonical], ""); vs != nil {
		return vs
	}
	if url, version, ok := splitCanonical(canonical); ok {
		return latest(s.valueSets[url], version)
	}
	return nil
}

func latest(list []*valueSet, version string) *valueSet {
	var best *valueSet
	for _, vs := range list {
		if version != "" {
			if vs.version == version {
				return vs
			}
			continue
		}
		if best == nil || compareVersions(vs.version, best.version) > 0 {
			best = vs
		}
	}
	return best
}

// splitCanonical splits "url|version". A few published code system URLs contain '|'
// themselves, so callers try the whole string first.
func splitCanonical(canonical string) (url, version string, ok bool) {
	i := strings.LastIndexByte(canonical, '|')
	if i < 0 {
		return canonical, "", false
	}
	return canonical[:i], canonical[i+1:], true
}

// compareVersions orders version strings: dotted numeric parts numerically, other parts as
// text; an empty version sorts first.
func compareVersions(a, b string) int {
	if a == b {
		return 0
	}
	pa, pb := strings.FieldsFunc(a, versionSep), strings.FieldsFunc(b, versionSep)
	for i := 0; i < len(pa) && i < len(pb); i++ {
		na, ea := strconv.Atoi(pa[i])
		nb, eb := strconv.Atoi(pb[i])
		var c int
		if ea == nil && eb == nil {
			c = na - nb
		} else {
			c = strings.Compare(pa[i], pb[i])
		}
		if c != 0 {
			return c
		}
	}
	return len(pa) - len(pb)
}

func versionSep(r rune) bool { return r == '.' || r == '-' || r == '/' }

// compiledFor returns the compiled form of a value set reference, compiling it on first use.
func (s *Service) compiledFor(ctx context.Context, canonical string) *compiled {
	if v, ok := s.cache.Load(canonical); ok {
		return v.(*compiled)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	c := &compiler{s: s, inProgress: map[string]bool{}}
	return c.valueSet(ctx, canonical)
}
