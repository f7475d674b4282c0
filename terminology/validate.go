package terminology

import (
	"context"
	"fmt"
	"strings"
)

// ValidateCode checks a coding against a value set (a canonical, optionally "url|version").
// A coding without a system is checked against every code system of the value set, as for
// elements of type code. The coding's display is not checked: Result.Display carries the
// code system's for the caller to compare. After the first call for a value set it costs a
// few map lookups.
func (s *Service) ValidateCode(ctx context.Context, valueSet string, c Coding) Result {
	return s.compiledFor(ctx, valueSet).validate(ctx, c)
}

// ValidateCodeableConcept checks the codings of a CodeableConcept: it is valid when one of
// them is; when none is but one could not be decided, no decision is made.
func (s *Service) ValidateCodeableConcept(ctx context.Context, valueSet string, codings []Coding) Result {
	return s.compiledFor(ctx, valueSet).validateConcept(ctx, valueSet, codings)
}

// validateConcept is ValidateCodeableConcept on a compiled value set, named valueSet in
// messages.
func (cv *compiled) validateConcept(ctx context.Context, valueSet string, codings []Coding) Result {
	if len(codings) == 0 {
		return Result{Known: true, Message: "no coding to check against value set " + valueSet}
	}
	var invalid, undecided []string
	for _, c := range codings {
		r := cv.validate(ctx, c)
		switch {
		case r.Valid:
			return r
		case r.Known:
			invalid = append(invalid, r.Message)
		default:
			undecided = append(undecided, r.Message)
		}
	}
	if len(undecided) > 0 {
		return Result{Message: strings.Join(undecided, "; ")}
	}
	return Result{Known: true, Message: strings.Join(invalid, "; ")}
}

// Lookup finds a concept in a held code system (its latest version, or "system|version").
func (s *Service) Lookup(ctx context.Context, system, code string) (Concept, bool) {
	p, ok := s.CodeSystem(system)
	if !ok {
		return Concept{}, false
	}
	c, found, err := p.Lookup(ctx, code)
	return c, found && err == nil
}

func (cv *compiled) validate(ctx context.Context, c Coding) Result {
	if cv.err != nil {
		return Result{Message: cv.err.Error()}
	}
	if c.Code == "" {
		return Result{Known: true, Message: "the coding has no code"}
	}
	t, cs, m, why := cv.set.lookup(ctx, c)
	note := ""
	if t == unknown && cv.storedSet != nil {
		if t2, cs2, m2, _ := cv.storedSet.lookup(ctx, c); t2 != unknown {
			t, cs, m = t2, cs2, m2
			note = " (decided by the value set's stored expansion)"
		}
	}
	switch t {
	case yes:
		return cv.valid(ctx, c, cs, m, note)
	case no:
		return Result{Known: true, Message: cv.whyNot(ctx, c, cs) + note}
	}
	return Result{Message: why}
}

// lookup decides a coding. cs is the part for the coding's system, when the value set has
// one; m is the member when the code is listed.
func (v *vsSet) lookup(ctx context.Context, c Coding) (tri, *codeSet, *member, string) {
	if c.System == "" {
		t, why := v.other, v.otherWhy
		for _, cs := range v.order {
			switch ct, m, w := cs.has(ctx, c.Code); ct {
			case yes:
				return yes, cs, m, ""
			case unknown:
				t, why = unknown, w
			}
		}
		return t, nil, nil, why
	}
	cs := v.bySystem[c.System]
	if cs == nil && c.Version != "" {
		// Some published code system URLs carry their version ("…/v2-0360|2.7").
		cs = v.bySystem[c.System+"|"+c.Version]
	}
	if cs == nil {
		return v.other, nil, nil, v.otherWhy
	}
	t, m, why := cs.has(ctx, c.Code)
	return t, cs, m, why
}

func (cv *compiled) valid(ctx context.Context, c Coding, cs *codeSet, m *member, note string) Result {
	var display string
	var flags uint8
	if m != nil {
		display, flags = m.display, m.flags
	} else if cs.provider != nil {
		if con, ok, _ := cs.provider.Lookup(ctx, c.Code); ok {
			nm := newMember(con)
			display, flags = nm.display, nm.flags
		}
	}
	r := Result{Valid: true, Known: true, Display: display}
	switch {
	case flags&flagAbstract != 0:
		r.Valid = false
		r.Message = fmt.Sprintf("code '%s' of %s is abstract (not selectable) and cannot be used in a coding", c.Code, cs.system)
	case flags&flagInactive != 0:
		r.Message = fmt.Sprintf("code '%s' of %s is inactive", c.Code, cs.system)
	case flags&flagDeprecated != 0:
		r.Message = fmt.Sprintf("code '%s' of %s is deprecated", c.Code, cs.system)
	}
	if c.Version != "" && cs.version != "" && c.Version != cs.version && c.System == cs.system {
		r.Message = join(r.Message, fmt.Sprintf("version %s of %s is not held; checked against version %s", c.Version, cs.system, cs.version))
	}
	if note != "" {
		r.Message = join(r.Message, strings.TrimSpace(note))
	}
	return r
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// whyNot explains a code that is not in the value set.
func (cv *compiled) whyNot(ctx context.Context, c Coding, cs *codeSet) string {
	switch {
	case c.System == "":
		return fmt.Sprintf("code '%s' is not in value set %s", c.Code, cv.url)
	case cs == nil:
		return fmt.Sprintf("code system %s is not in value set %s", c.System, cv.url)
	}
	if p := cs.provider; p != nil {
		con, ok, err := p.Lookup(ctx, c.Code)
		switch {
		case ok:
			return fmt.Sprintf("code '%s' (%s) of %s is not in value set %s", c.Code, con.Display, c.System, cv.url)
		case err == nil && p.Complete():
			return fmt.Sprintf("code '%s' is not a code of %s (value set %s)", c.Code, c.System, cv.url)
		}
	}
	return fmt.Sprintf("code '%s' of %s is not in value set %s", c.Code, c.System, cv.url)
}
