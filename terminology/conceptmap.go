package terminology

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/concord-health/concord/fhir"
)

// ErrUnknownConceptMap is returned by Translate for a concept map that is not held here.
var ErrUnknownConceptMap = errors.New("concept map not found")

// conceptMap is a ConceptMap resource as $translate needs it. It is immutable once built.
type conceptMap struct {
	url, version, name, title, status string
	source, target                    string // the value sets the map is between
	groups                            []mapGroup
}

// mapGroup is one ConceptMap.group: mappings from one code system to another.
type mapGroup struct {
	source, sourceVersion, target, targetVersion string
	elements                                     []mapElement
	bySource                                     map[string]int // code -> index in elements
	unmapped                                     *unmapped
}

type mapElement struct {
	code, display string
	targets       []mapTarget
}

type mapTarget struct {
	code, display, equivalence, comment string
	// conditional: the mapping holds only when dependsOn elements are satisfied, which a
	// translation request cannot express here, so such a match is reported with a note.
	conditional bool
}

// unmapped is what a group says about source codes it does not list.
type unmapped struct {
	mode, code, display, url string
}

func newConceptMap(root *fhir.Node) (*conceptMap, error) {
	m := &conceptMap{
		url:     text(root, "url"),
		version: text(root, "version"),
		name:    text(root, "name"),
		title:   text(root, "title"),
		status:  text(root, "status"),
		source:  strings.Clone(root.First("source").String()),
		target:  strings.Clone(root.First("target").String()),
	}
	if m.url == "" {
		return nil, fmt.Errorf("terminology: ConceptMap %q has no url", root.Text("id"))
	}
	for _, g := range root.Child("group") {
		mg := mapGroup{
			source: text(g, "source"), sourceVersion: text(g, "sourceVersion"),
			target: text(g, "target"), targetVersion: text(g, "targetVersion"),
			bySource: map[string]int{},
		}
		for _, e := range g.Child("element") {
			el := mapElement{code: text(e, "code"), display: text(e, "display")}
			for _, t := range e.Child("target") {
				el.targets = append(el.targets, mapTarget{
					code: text(t, "code"), display: text(t, "display"),
					equivalence: text(t, "equivalence"), comment: text(t, "comment"),
					conditional: len(t.Child("dependsOn")) > 0,
				})
			}
			if _, dup := mg.bySource[el.code]; !dup && el.code != "" {
				mg.bySource[el.code] = len(mg.elements)
			}
			mg.elements = append(mg.elements, el)
		}
		if u := g.First("unmapped"); u != nil {
			mg.unmapped = &unmapped{mode: text(u, "mode"), code: text(u, "code"), display: text(u, "display"), url: text(u, "url")}
		}
		m.groups = append(m.groups, mg)
	}
	return m, nil
}

// TranslateRequest is a $translate: a code to map, and what narrows the maps to use.
type TranslateRequest struct {
	// ConceptMap names the map ("url" or "url|version"); empty means every held map that
	// fits. Inline, when set, is the map to use instead (a ConceptMap resource).
	ConceptMap string
	Inline     *fhir.Resource
	// Coding is the code to translate (its system is required).
	Coding Coding
	// Source and Target are the value sets the map must go from and to (optional).
	Source, Target string
	// TargetSystem keeps the groups that map into this code system (optional).
	TargetSystem string
	// Reverse maps from a map's targets back to its sources.
	Reverse bool
}

// Translation is the outcome of a $translate.
type Translation struct {
	// Result reports that at least one match is usable (equivalence other than unmatched
	// or disjoint).
	Result  bool
	Message string
	Matches []Match
}

// Match is one concept a code maps to.
type Match struct {
	Equivalence string
	Concept     Coding
	// Source is the canonical of the concept map the match comes from.
	Source  string
	Comment string
}

// ConceptMap describes a held concept map: the latest version, or the one named by a
// "url|version" canonical.
func (s *Service) ConceptMap(canonical string) (Info, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := s.resolveConceptMap(canonical)
	if m == nil {
		if p := s.mapProvider(canonical); p != nil {
			return p.Info(), true
		}
		return Info{}, false
	}
	return Info{URL: m.url, Version: m.version, Name: m.name, Title: m.title, Status: m.status}, true
}

func (s *Service) resolveConceptMap(canonical string) *conceptMap {
	pick := func(list []*conceptMap, version string) *conceptMap {
		var best *conceptMap
		for _, m := range list {
			if version != "" && m.version == version {
				return m
			}
			if version == "" && (best == nil || compareVersions(m.version, best.version) > 0) {
				best = m
			}
		}
		return best
	}
	if m := pick(s.conceptMaps[canonical], ""); m != nil {
		return m
	}
	if url, version, ok := splitCanonical(canonical); ok {
		return pick(s.conceptMaps[url], version)
	}
	return nil
}

// maxMapHops bounds how far unmapped mode other-map is followed (maps may point at each
// other).
const maxMapHops = 5

// Translate maps a code through the named concept map, the inline one, or every held map
// whose groups go from the code's system (and to TargetSystem, and between the Source and
// Target value sets, when given). It fails with an error wrapping ErrUnknownConceptMap when
// the named map is not held.
func (s *Service) Translate(ctx context.Context, req TranslateRequest) (*Translation, error) {
	if req.Coding.Code == "" || req.Coding.System == "" {
		return nil, errors.New("terminology: translate needs a code and its system")
	}
	var maps []*conceptMap
	var providers []MapProvider
	switch {
	case req.Inline != nil:
		m, err := newConceptMap(req.Inline.Root)
		if err != nil {
			return nil, err
		}
		maps = []*conceptMap{m}
	case req.ConceptMap != "":
		s.mu.RLock()
		m := s.resolveConceptMap(req.ConceptMap)
		p := s.mapProvider(req.ConceptMap)
		s.mu.RUnlock()
		switch {
		case m != nil:
			maps = []*conceptMap{m}
		case p != nil:
			providers = []MapProvider{p}
		default:
			return nil, fmt.Errorf("%w: %s", ErrUnknownConceptMap, req.ConceptMap)
		}
	default:
		s.mu.RLock()
		urls := make([]string, 0, len(s.conceptMaps))
		for u := range s.conceptMaps {
			urls = append(urls, u)
		}
		slices.Sort(urls) // a stable order of matches across calls
		for _, u := range urls {
			if m := s.resolveConceptMap(u); m != nil {
				maps = append(maps, m)
			}
		}
		// Map providers have no source and target value sets to narrow them by.
		if req.Source == "" && req.Target == "" {
			providers = slices.Clone(s.mapProviders)
		}
		s.mu.RUnlock()
	}
	t := &Translation{}
	used := 0
	for _, m := range maps {
		if req.Inline == nil && req.ConceptMap == "" && !m.between(req) {
			continue
		}
		if m.translate(s, req, t, 0) {
			used++
		}
	}
	for _, p := range providers {
		applied, err := s.translateWith(ctx, p, req, t)
		if err != nil {
			return nil, err
		}
		if applied {
			used++
		}
	}
	for _, mt := range t.Matches {
		if mt.Equivalence != "unmatched" && mt.Equivalence != "disjoint" {
			t.Result = true
		}
	}
	switch {
	case t.Result:
	case used == 0:
		t.Message = fmt.Sprintf("no concept map translates from %s", req.Coding.System)
		if req.Reverse {
			t.Message = fmt.Sprintf("no concept map translates to %s", req.Coding.System)
		}
	case len(t.Matches) == 0:
		t.Message = fmt.Sprintf("code '%s' of %s has no mapping", req.Coding.Code, req.Coding.System)
	default:
		t.Message = fmt.Sprintf("code '%s' of %s maps only to unmatched or disjoint concepts", req.Coding.Code, req.Coding.System)
	}
	return t, nil
}

// between reports whether a map fits the request's source and target value sets (their
// roles swap when translating in reverse).
func (m *conceptMap) between(req TranslateRequest) bool {
	from, to := m.source, m.target
	if req.Reverse {
		from, to = to, from
	}
	return (req.Source == "" || sameCanonical(req.Source, from)) && (req.Target == "" || sameCanonical(req.Target, to))
}

// sameCanonical compares canonicals, ignoring a version on either side.
func sameCanonical(a, b string) bool {
	a, _, _ = strings.Cut(a, "|")
	b, _, _ = strings.Cut(b, "|")
	return a == b
}

// translate adds the map's matches for the request, reporting whether any of its groups
// applied to the code's system.
func (m *conceptMap) translate(s *Service, req TranslateRequest, t *Translation, hops int) bool {
	c := req.Coding
	applied := false
	canonical := m.url
	if m.version != "" {
		canonical += "|" + m.version
	}
	for i := range m.groups {
		g := &m.groups[i]
		from, to, toVersion := g.source, g.target, g.targetVersion
		if req.Reverse {
			from, to, toVersion = g.target, g.source, g.sourceVersion
		}
		if from != c.System || (req.TargetSystem != "" && to != req.TargetSystem) {
			continue
		}
		applied = true
		found := false
		add := func(code, display, equivalence, comment string) {
			found = true
			t.Matches = append(t.Matches, Match{
				Equivalence: equivalence, Source: canonical, Comment: comment,
				Concept: Coding{System: to, Version: toVersion, Code: code, Display: display},
			})
		}
		if req.Reverse {
			for _, el := range g.elements {
				for _, tg := range el.targets {
					if tg.code == c.Code {
						add(el.code, el.display, reverseEquivalence(tg.equivalence), note(tg))
					}
				}
			}
		} else if i, ok := g.bySource[c.Code]; ok {
			for _, tg := range g.elements[i].targets {
				if tg.code == "" {
					add("", "", tg.equivalence, note(tg)) // explicitly unmatched
					continue
				}
				add(tg.code, tg.display, tg.equivalence, note(tg))
			}
			if len(g.elements[i].targets) == 0 {
				found = true // listed with no targets: deliberately unmapped
			}
		}
		if found || req.Reverse || g.unmapped == nil {
			continue
		}
		switch u := g.unmapped; u.mode {
		case "provided":
			// The code is used as it is in the target system.
			add(c.Code, c.Display, "equal", "unmapped code used as provided")
		case "fixed":
			add(u.code, u.display, "inexact", "unmapped code mapped to the group's fixed code")
		case "other-map":
			if hops >= maxMapHops {
				continue
			}
			s.mu.RLock()
			next := s.resolveConceptMap(u.url)
			s.mu.RUnlock()
			if next != nil {
				next.translate(s, req, t, hops+1)
			}
		}
	}
	return applied
}

// reverseEquivalence turns an equivalence around for a reverse translation: a source
// concept wider than its target is narrower seen from the target.
func reverseEquivalence(e string) string {
	switch e {
	case "wider":
		return "narrower"
	case "narrower":
		return "wider"
	case "subsumes":
		return "specializes"
	case "specializes":
		return "subsumes"
	}
	return e
}

func note(t mapTarget) string {
	if t.conditional {
		return join(t.comment, "the mapping depends on other elements (dependsOn) that were not checked")
	}
	return t.comment
}
