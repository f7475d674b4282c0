package terminology

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// ErrTooManyCodes is wrapped when a value set or a branch of a hierarchy holds more codes
// than the caller's limit: a search would have to test them all.
var ErrTooManyCodes = errors.New("too many codes")

// CodesIn lists the codes of a value set by code system, for token searches with :in and
// :not-in. It fails like Expand, or with an error wrapping ErrTooManyCodes when the value
// set holds more than limit codes (limit <= 0: no limit).
func (s *Service) CodesIn(ctx context.Context, valueSet string, limit int) (map[string][]string, error) {
	list, err := s.compiledFor(ctx, valueSet).entries(ctx)
	if err != nil {
		return nil, err
	}
	if limit > 0 && len(list) > limit {
		return nil, fmt.Errorf("%w: value set %s holds %d codes, more than %d", ErrTooManyCodes, valueSet, len(list), limit)
	}
	out := map[string][]string{}
	for _, e := range list {
		out[e.System] = append(out[e.System], e.Code)
	}
	for system, codes := range out {
		slices.Sort(codes)
		out[system] = slices.Compact(codes)
	}
	return out, nil
}

// CodesRelated lists code with its descendants (below) or its ancestors (above) in the
// latest version of a held code system, for token searches with :below and :above. A code
// the code system does not hold stands for itself alone. It fails with an error wrapping
// ErrUnknownCodeSystem, ErrUnsupportedFilter (no hierarchy) or ErrTooManyCodes.
func (s *Service) CodesRelated(ctx context.Context, system, code string, above bool, limit int) ([]string, error) {
	p, err := s.provider(system, "")
	if err != nil {
		return nil, err
	}
	op := "is-a"
	if above {
		op = "generalizes"
	}
	f, err := p.Filter(ctx, "concept", op, code)
	if err != nil {
		return nil, err
	}
	// Filters list each concept once; the code itself comes first whether or not the code
	// system holds it.
	out := []string{code}
	var tooMany bool
	add := func(c string) bool {
		if c == code {
			return true
		}
		if limit > 0 && len(out) > limit {
			tooMany = true
			return false
		}
		out = append(out, c)
		return true
	}
	if cl, ok := f.(CodeLister); ok {
		err = cl.Codes(ctx, add)
	} else {
		err = f.Concepts(ctx, func(c Concept) bool { return add(c.Code) })
	}
	switch {
	case err != nil:
		return nil, err
	case tooMany:
		return nil, fmt.Errorf("%w: %s|%s has more than %d related codes", ErrTooManyCodes, system, code, limit)
	}
	return out, nil
}

// CodeLister is implemented by concept filters that can list their codes without the rest
// of each concept (displays, status), which is all a search needs.
type CodeLister interface {
	Codes(ctx context.Context, yield func(code string) bool) error
}
