package terminology

import (
	"context"
	"errors"
	"fmt"
)

// Subsumer is implemented by code system providers that know their hierarchy (is-a for
// SNOMED CT, the concept tree of a FHIR CodeSystem).
type Subsumer interface {
	// Subsumes reports whether concept a subsumes concept b: b is a or one of a's
	// descendants. Both codes are codes of the system.
	Subsumes(ctx context.Context, a, b string) (bool, error)
}

// Subsumption is the outcome of testing two codes, as $subsumes reports it.
type Subsumption string

// The $subsumes outcomes (http://hl7.org/fhir/concept-subsumption-outcome).
const (
	Equivalent   Subsumption = "equivalent"
	ASubsumesB   Subsumption = "subsumes"
	ASubsumedByB Subsumption = "subsumed-by"
	NotSubsumed  Subsumption = "not-subsumed"
)

// Errors returned by Subsumes and LookupCode (wrapped with detail; test with errors.Is).
var (
	// ErrUnknownCodeSystem: the code system, or the version asked for, is not held here.
	ErrUnknownCodeSystem = errors.New("code system not found")
	// ErrUnknownCode: the code is not a code of the system (or not among those held, for a
	// system held in part).
	ErrUnknownCode = errors.New("code not found")
	// ErrNoHierarchy: the code system's provider cannot test subsumption.
	ErrNoHierarchy = errors.New("subsumption cannot be tested")
)

// Subsumes tests how code a relates to code b in a code system (its latest version, or
// "system|version"): equivalent, a subsumes b, a is subsumed by b, or neither.
func (s *Service) Subsumes(ctx context.Context, system, a, b string) (Subsumption, error) {
	p, err := s.provider(system, "")
	if err != nil {
		return "", err
	}
	ca, err := lookupIn(ctx, p, a)
	if err != nil {
		return "", err
	}
	cb, err := lookupIn(ctx, p, b)
	if err != nil {
		return "", err
	}
	if ca.Code == cb.Code {
		return Equivalent, nil
	}
	sub, ok := p.(Subsumer)
	if !ok {
		return "", fmt.Errorf("%w: code system %s has no hierarchy here", ErrNoHierarchy, p.URL())
	}
	switch yes, err := sub.Subsumes(ctx, ca.Code, cb.Code); {
	case err != nil:
		return "", err
	case yes:
		return ASubsumesB, nil
	}
	switch yes, err := sub.Subsumes(ctx, cb.Code, ca.Code); {
	case err != nil:
		return "", err
	case yes:
		return ASubsumedByB, nil
	}
	return NotSubsumed, nil
}

// provider resolves a code system for an operation: system may be "url|version", or
// version names the one wanted. Unlike value set compilation, which falls back to the
// latest version held, an operation on a version that is not held fails.
func (s *Service) provider(system, version string) (CodeSystemProvider, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	url := system
	if _, whole := s.codeSystems[system]; !whole && version == "" {
		// A few published URLs contain '|' themselves: split only when the whole is unknown.
		url, version, _ = splitCanonical(system)
	}
	p := s.resolveSystem(url, version)
	switch {
	case p == nil:
		return nil, fmt.Errorf("%w: %s", ErrUnknownCodeSystem, unavailable(url))
	case version != "" && p.Version() != version:
		return nil, fmt.Errorf("%w: version %s of code system %s is not held here (%s is)", ErrUnknownCodeSystem, version, url, p.Version())
	}
	return p, nil
}

// lookupIn finds a code in a provider, failing with ErrUnknownCode when it is absent.
func lookupIn(ctx context.Context, p CodeSystemProvider, code string) (Concept, error) {
	c, ok, err := p.Lookup(ctx, code)
	switch {
	case err != nil:
		return Concept{}, err
	case ok:
		return c, nil
	case !p.Complete():
		return Concept{}, fmt.Errorf("%w: code '%s' is not among the codes held for %s (held in part)", ErrUnknownCode, code, p.URL())
	}
	return Concept{}, fmt.Errorf("%w: code '%s' is not a code of %s", ErrUnknownCode, code, p.URL())
}

// Subsumes walks up from b through its parents (nested concepts and parent, subsumedBy and
// child properties), looking for a.
func (cs *codeSystem) Subsumes(_ context.Context, a, b string) (bool, error) {
	na, nb := cs.node(a), cs.node(b)
	if na == nil || nb == nil {
		return false, nil
	}
	seen := map[*conceptNode]bool{nb: true}
	stack := []*conceptNode{nb}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n == na {
			return true, nil
		}
		for _, p := range n.parents {
			if !seen[p] {
				seen[p] = true
				stack = append(stack, p)
			}
		}
	}
	return false, nil
}
