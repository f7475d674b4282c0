package terminology

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// ErrInvalidValueSet is wrapped by the errors of a value set reference that is malformed,
// such as an implicit value set whose definition does not parse (invalid ECL). Callers
// answer it as a bad request, not as an unknown value set.
var ErrInvalidValueSet = errors.New("invalid value set")

// ImplicitValueSets is implemented by a provider whose code system defines value sets by
// URL, like SNOMED CT's "http://snomed.info/sct?fhir_vs=isa/…". The Service recognises a
// canonical "{system or version URI}?fhir_vs…" and asks the provider of that system.
type ImplicitValueSets interface {
	// ImplicitValueSet prepares the value set named by query, the canonical's text after
	// '?' ("fhir_vs", "fhir_vs=isa/…"). A malformed query is an error wrapping
	// ErrInvalidValueSet; a set that cannot be listed answers Concepts with an error
	// wrapping ErrNotEnumerable.
	ImplicitValueSet(ctx context.Context, query string) (ConceptFilter, error)
}

// splitImplicit splits an implicit value set canonical into its base (a code system URL or
// a version URI under it) and query.
func splitImplicit(ref string) (base, query string, ok bool) {
	i := strings.Index(ref, "?fhir_vs")
	if i <= 0 {
		return "", "", false
	}
	return ref[:i], ref[i+1:], true
}

// resolveImplicit finds the provider for an implicit value set's base: the latest version
// of the system when the base is the system URL, else the version the base names, or the
// latest of those under it (SNOMED CT's ".../sct/{module}" names an edition, not a date).
// The caller holds the read lock.
func (s *Service) resolveImplicit(base string) (CodeSystemProvider, ImplicitValueSets) {
	var best CodeSystemProvider
	for _, url := range prefixes(base) {
		for _, p := range s.codeSystems[url] {
			if _, ok := p.(ImplicitValueSets); !ok || !usable(p) {
				continue
			}
			v := p.Version()
			if base != url && v != base && !strings.HasPrefix(v, base+"/") {
				continue
			}
			if best == nil || compareVersions(v, best.Version()) > 0 {
				best = p
			}
		}
	}
	if best == nil {
		return nil, nil
	}
	return best, best.(ImplicitValueSets)
}

// prefixes lists base and each shorter URL it extends by path segments, longest first:
// the code system URLs an implicit value set's base could belong to.
func prefixes(base string) []string {
	out := []string{base}
	for b := base; ; {
		i := strings.LastIndexByte(b, '/')
		if i < 0 || strings.HasSuffix(b[:i], "/") || !strings.Contains(b[:i], "://") {
			return out
		}
		b = b[:i]
		out = append(out, b)
	}
}

// implicitInfo describes an implicit value set whose system is held.
func (s *Service) implicitInfo(canonical string) (Info, bool) {
	base, _, ok := splitImplicit(canonical)
	if !ok {
		return Info{}, false
	}
	p, _ := s.resolveImplicit(base)
	if p == nil {
		return Info{}, false
	}
	return Info{URL: canonical, Version: p.Version(), Status: "active"}, true
}

// implicit compiles an implicit value set reference; ok is false when ref is not one.
func (c *compiler) implicit(ctx context.Context, ref string) (*compiled, bool) {
	base, query, ok := splitImplicit(ref)
	if !ok {
		return nil, false
	}
	cv := &compiled{url: ref, deps: map[string]struct{}{ref: {}}}
	// A provider added later under any of these URLs could answer it.
	for _, b := range prefixes(base) {
		cv.deps[b] = struct{}{}
	}
	p, iv := c.s.resolveImplicit(base)
	if p == nil {
		cv.err = fmt.Errorf("%w: %s: %s", ErrUnknownValueSet, ref, unavailable(base))
		return cv, true
	}
	cv.version = p.Version()
	flt, err := iv.ImplicitValueSet(ctx, query)
	if err != nil {
		cv.err = fmt.Errorf("value set %s: %w", ref, err)
		return cv, true
	}
	cs := &codeSet{system: p.URL(), version: p.Version(), provider: p, fold: !p.CaseSensitive(),
		partial: fmt.Sprintf("implicit value set %s is decided code by code", ref)}
	cs.rest = func(ctx context.Context, code string) (tri, string) {
		ok, err := flt.Match(ctx, code)
		switch {
		case err != nil:
			return unknown, err.Error()
		case ok:
			return yes, ""
		}
		return no, ""
	}
	cv.set = single(cs)
	cv.implicit = &implicitList{flt: flt, cs: cs}
	return cv, true
}

// implicitList lists an implicit value set on first expansion; validation never needs the
// list, so a value set used only for checking codes is never enumerated.
type implicitList struct {
	flt  ConceptFilter
	cs   *codeSet
	mu   sync.Mutex
	done bool
	list []ExpansionEntry
	err  error
}

func (l *implicitList) entries(ctx context.Context, url string) ([]ExpansionEntry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return l.list, l.err
	}
	var list []ExpansionEntry
	err := l.flt.Concepts(ctx, func(con Concept) bool {
		list = append(list, ExpansionEntry{
			Coding:   Coding{System: l.cs.system, Version: l.cs.version, Code: con.Code, Display: con.Display},
			Abstract: con.Abstract, Inactive: con.Inactive,
		})
		return true
	})
	if ctx.Err() != nil {
		return nil, ctx.Err() // a cancelled listing must not be remembered
	}
	if err != nil {
		// "cannot be listed" tells the operations to answer too-costly, not not-supported.
		if errors.Is(err, ErrNotEnumerable) {
			err = fmt.Errorf("%s cannot be listed: %w", url, err)
		} else {
			err = fmt.Errorf("%w: %s cannot be listed: %w", ErrNotEnumerable, url, err)
		}
		list = nil
	}
	l.list, l.err, l.done = list, err, true
	return list, err
}

// members is the implicit value set listed as a code set, for a value set that includes
// it: an including value set is compiled once, so listing it then costs no more than a
// compose filter does.
func (l *implicitList) members(ctx context.Context, url string) *codeSet {
	list, err := l.entries(ctx, url)
	if err != nil {
		return l.cs // decided code by code; not listed
	}
	out := &codeSet{system: l.cs.system, version: l.cs.version, provider: l.cs.provider, fold: l.cs.fold}
	for _, e := range list {
		m := &member{code: e.Code, display: e.Display}
		if e.Abstract {
			m.flags |= flagAbstract
		}
		if e.Inactive {
			m.flags |= flagInactive
		}
		out.add(m)
	}
	return out
}

// CheckValueSet reports the error of a value set reference that is malformed (wrapping
// ErrInvalidValueSet), such as an implicit value set with invalid ECL, so that an operation
// can refuse it as a bad request before answering.
func (s *Service) CheckValueSet(ctx context.Context, canonical string) error {
	if err := s.compiledFor(ctx, canonical).err; errors.Is(err, ErrInvalidValueSet) {
		return err
	}
	return nil
}
