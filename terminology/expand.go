package terminology

import (
	"context"
	"fmt"
	"strings"
	"unicode"
)

// Expand lists the codes of a value set (a canonical, optionally "url|version"). The full
// list is worked out once per value set; options filter and page it. It fails with an
// error wrapping ErrUnknownValueSet, ErrNotEnumerable or ErrCircular.
func (s *Service) Expand(ctx context.Context, valueSet string, opts ExpandOptions) (*Expansion, error) {
	return s.compiledFor(ctx, valueSet).expand(ctx, opts)
}

func (cv *compiled) expand(ctx context.Context, opts ExpandOptions) (*Expansion, error) {
	if cv.implicit != nil && strings.TrimSpace(opts.Filter) != "" {
		if ts, ok := cv.implicit.flt.(TextSearcher); ok {
			return cv.search(ctx, ts, opts)
		}
	}
	list, err := cv.entries(ctx)
	if err != nil {
		return nil, err
	}
	terms := strings.Fields(strings.ToLower(opts.Filter))
	kept := list
	if len(terms) > 0 || opts.ActiveOnly {
		kept = nil
		for _, e := range list {
			if (!opts.ActiveOnly || !e.Inactive) && matchText(terms, e.Code, e.Display) {
				kept = append(kept, e)
			}
		}
	}
	start := min(max(opts.Offset, 0), len(kept))
	x := &Expansion{URL: cv.url, Version: cv.version, Total: len(kept), Offset: start}
	end := len(kept)
	if opts.Count > 0 {
		end = min(start+opts.Count, end)
	}
	// A copy, so that callers cannot write into the cached list.
	x.Contains = append([]ExpansionEntry(nil), kept[start:end]...)
	return x, nil
}

// entries returns the value set's codes in compose order, built once.
func (cv *compiled) entries(ctx context.Context) ([]ExpansionEntry, error) {
	if cv.implicit != nil {
		return cv.implicit.entries(ctx, cv.url)
	}
	cv.listOnce.Do(func() {
		if cv.err != nil {
			cv.listErr = cv.err
			return
		}
		why := ""
		if cv.set.other != no {
			why = cv.set.otherWhy
		}
		for _, s := range cv.set.order {
			if why == "" && s.rest != nil {
				why = s.partial
			}
		}
		if why != "" {
			if cv.stored != nil {
				cv.list = cv.stored.entries
				return
			}
			cv.listErr = fmt.Errorf("%w: %s: %s", ErrNotEnumerable, cv.url, why)
			return
		}
		for _, s := range cv.set.order {
			for _, m := range s.order {
				cv.list = append(cv.list, ExpansionEntry{
					Coding:   Coding{System: s.system, Version: s.version, Code: m.code, Display: m.display},
					Abstract: m.flags&flagAbstract != 0,
					Inactive: m.flags&flagInactive != 0,
				})
			}
		}
	})
	return cv.list, cv.listErr
}

// matchText reports whether every term (lower case) starts a word of the display or starts
// the code.
func matchText(terms []string, code, display string) bool {
	if len(terms) == 0 {
		return true
	}
	code = strings.ToLower(code)
	words := strings.FieldsFunc(strings.ToLower(display), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	for _, t := range terms {
		ok := strings.HasPrefix(code, t)
		for _, w := range words {
			if ok {
				break
			}
			ok = strings.HasPrefix(w, t)
		}
		if !ok {
			return false
		}
	}
	return true
}

// TextSearcher is implemented by the implicit value sets of code systems with a text index
// (SNOMED CT): an expansion with a filter asks it for the best matches, ranked, instead of
// listing every member and filtering, which is what a picker needs over a national edition.
type TextSearcher interface {
	// Search returns at most limit active members with a description matching text (every
	// word of text starting a word of it), best first.
	Search(ctx context.Context, text string, limit int) ([]Concept, error)
}

// maxTextMatches bounds a ranked expansion without a count.
const maxTextMatches = 1000

// search expands an implicit value set by ranked text search. Total is exact when fewer
// matches than asked for were found, and unknown (-1) otherwise.
func (cv *compiled) search(ctx context.Context, ts TextSearcher, opts ExpandOptions) (*Expansion, error) {
	offset, count := max(opts.Offset, 0), opts.Count
	if count <= 0 || count > maxTextMatches {
		count = maxTextMatches
	}
	found, err := ts.Search(ctx, opts.Filter, offset+count)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNotEnumerable, cv.url, err)
	}
	x := &Expansion{URL: cv.url, Version: cv.version, Total: -1, Offset: offset}
	if len(found) < offset+count {
		x.Total = len(found)
	}
	cs := cv.implicit.cs
	for _, c := range found[min(offset, len(found)):] {
		x.Contains = append(x.Contains, ExpansionEntry{
			Coding:   Coding{System: cs.system, Version: cs.version, Code: c.Code, Display: c.Display},
			Abstract: c.Abstract, Inactive: c.Inactive,
		})
	}
	return x, nil
}
