package terminology

import (
	"context"
	"slices"
	"strings"
)

// MapProvider is a concept map held outside FHIR resources because it is too large to be
// one: SNOMED CT's map reference sets to ICD-10 and OPCS-4. Translate consults it like a
// held ConceptMap, by its canonical or by the code systems it maps between. Implementations
// must be safe for concurrent use and must not call back into the Service.
type MapProvider interface {
	// Info names the map: its canonical URL (for SNOMED CT, the implicit
	// "http://snomed.info/sct?fhir_cm=<refset>"), version and title.
	Info() Info
	// Systems are the code systems the map goes from and to.
	Systems() (source, target string)
	// Translate maps a code of the source system, or of the target system when reverse.
	// Each Match's Concept is in the other system; Source is left for the Service to set.
	Translate(ctx context.Context, code string, reverse bool) ([]Match, error)
}

// AddMapProvider plugs in a concept map that is not held as a ConceptMap resource,
// replacing one with the same URL.
func (s *Service) AddMapProvider(m MapProvider) {
	s.mu.Lock()
	defer s.mu.Unlock()
	url := m.Info().URL
	s.mapProviders = slices.DeleteFunc(s.mapProviders, func(o MapProvider) bool { return o.Info().URL == url })
	s.mapProviders = append(s.mapProviders, m)
	slices.SortFunc(s.mapProviders, func(a, b MapProvider) int { return strings.Compare(a.Info().URL, b.Info().URL) })
}

// mapProvider finds a map provider by canonical ("url" or "url|version").
func (s *Service) mapProvider(canonical string) MapProvider {
	url, version, ok := splitCanonical(canonical)
	if !ok {
		url = canonical
	}
	for _, m := range s.mapProviders {
		if info := m.Info(); info.URL == url && (version == "" || info.Version == version) {
			return m
		}
	}
	return nil
}

// translateWith adds a map provider's matches for the request, reporting whether the map
// applies to the code's system. Matches without a display get the one of the target code
// system, when it is held.
func (s *Service) translateWith(ctx context.Context, m MapProvider, req TranslateRequest, t *Translation) (bool, error) {
	from, to := m.Systems()
	if req.Reverse {
		from, to = to, from
	}
	if from != req.Coding.System || (req.TargetSystem != "" && to != req.TargetSystem) {
		return false, nil
	}
	matches, err := m.Translate(ctx, req.Coding.Code, req.Reverse)
	if err != nil {
		return true, err
	}
	info := m.Info()
	source := info.URL
	if info.Version != "" {
		source += "|" + info.Version
	}
	s.mu.RLock()
	p := s.resolveSystem(to, "")
	s.mu.RUnlock()
	for _, mt := range matches {
		mt.Source = source
		if mt.Concept.Code != "" && mt.Concept.Display == "" && p != nil {
			if c, ok, err := p.Lookup(ctx, mt.Concept.Code); err == nil && ok {
				mt.Concept.Display, mt.Concept.Version = c.Display, p.Version()
			}
		}
		t.Matches = append(t.Matches, mt)
	}
	return true, nil
}
