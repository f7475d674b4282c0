package terminology

import "context"

// LookupResult is what $lookup reports about a concept.
type LookupResult struct {
	// System, Name and Version describe the code system the concept was found in.
	System, Name, Version string
	Concept
	// Parents and Children are the codes of the concept's direct parents and children, for
	// code systems held as FHIR CodeSystem resources (providers report theirs as
	// properties).
	Parents, Children []string
}

// LookupCode finds a concept for $lookup in a held code system: its latest version, the
// version given, or the one named by a "system|version" canonical. It fails with an error
// wrapping ErrUnknownCodeSystem or ErrUnknownCode.
func (s *Service) LookupCode(ctx context.Context, system, version, code string) (*LookupResult, error) {
	p, err := s.provider(system, version)
	if err != nil {
		return nil, err
	}
	c, err := lookupIn(ctx, p, code)
	if err != nil {
		return nil, err
	}
	r := &LookupResult{System: p.URL(), Version: p.Version(), Concept: c, Name: systemName(p)}
	if cs, ok := p.(*codeSystem); ok {
		if n := cs.node(code); n != nil {
			r.Parents, r.Children = codes(n.parents), codes(n.children)
		}
	}
	return r, nil
}

// Named is implemented by providers with a human-readable name for their code system.
type Named interface {
	Name() string
}

// systemName is a code system's name for $lookup: its title or name, or failing those the
// name Concord knows it by, or its URL.
func systemName(p CodeSystemProvider) string {
	switch p := p.(type) {
	case *codeSystem:
		if p.title != "" {
			return p.title
		}
		if p.name != "" {
			return p.name
		}
	case Named:
		if n := p.Name(); n != "" {
			return n
		}
	}
	if n, ok := externalSystems[p.URL()]; ok {
		return n
	}
	return p.URL()
}
