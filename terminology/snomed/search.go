package snomed

import (
	"cmp"
	"context"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/concord-health/concord/terminology"
)

// Match is one concept found by Search, with the description that matched best.
type Match struct {
	ID            uint64
	DescriptionID uint64
	Term          string // the matching description
	Display       string // the concept's preferred term
}

// Search finds active concepts with a description holding, for every word of text, a word
// that starts with it (case-insensitive), best first: an exact term, then the preferred
// term matching, then shorter terms. At most limit concepts are returned (limit <= 0: 20).
// keep, when not nil, restricts the search to the concepts it accepts (the members of a
// value set).
func (e *Edition) Search(text string, limit int, keep func(id uint64) bool) []Match {
	if limit <= 0 {
		limit = 20
	}
	var query []string
	words(text, func(w string) bool { query = append(query, w); return true })
	if len(query) == 0 {
		return nil
	}
	// Drive from the query word with the fewest postings; check the others on the term.
	type span struct{ lo, hi, n int }
	spans := make([]span, len(query))
	driver := 0
	for i, q := range query {
		lo, hi := e.wordRange(q)
		spans[i] = span{lo, hi, int(e.postOff[hi] - e.postOff[lo])}
		if spans[i].n == 0 {
			return nil
		}
		if spans[i].n < spans[driver].n {
			driver = i
		}
	}
	whole := strings.ToLower(strings.Join(strings.Fields(text), " "))
	asciiQuery := isASCII(whole)
	// top holds the best hit of each of at most limit concepts, best first. A posting that
	// cannot beat the last of them is dropped on its length alone, which keeps a one-letter
	// query over a national edition fast.
	top := make([]hit, 0, limit+1)
	var scratch []string
	for w := spans[driver].lo; w < spans[driver].hi; w++ {
		for _, d := range e.post[e.postOff[w]:e.postOff[w+1]] {
			n := int(e.termOff[d+1] - e.termOff[d])
			if len(top) == limit {
				// An exact match needs the query's length (ASCII lower-casing keeps it).
				lb := 1
				if n == len(whole) || !asciiQuery {
					lb = 0
				}
				worst := top[len(top)-1]
				if cmp.Or(cmp.Compare(lb, worst.rank), cmp.Compare(n, worst.n)) > 0 {
					continue
				}
			}
			t := e.term(d)
			if len(query) > 1 {
				scratch = scratch[:0]
				words(t, func(s string) bool { scratch = append(scratch, s); return true })
				if !allPrefixed(query, scratch) {
					continue
				}
			}
			c := e.conceptOf(d)
			if keep != nil && !keep(e.ids[c]) {
				continue
			}
			rank := 2
			switch {
			case strings.ToLower(t) == whole:
				rank = 0
			case e.preferred(c, e.langNum) == d:
				rank = 1
			}
			top = e.offer(top, hit{c: c, d: d, rank: rank, n: n}, limit)
		}
	}
	hits := top
	out := make([]Match, len(hits))
	for i, h := range hits {
		out[i] = Match{ID: e.ids[h.c], DescriptionID: e.descID[h.d], Term: e.term(h.d), Display: e.display(h.c)}
	}
	return out
}

// hit is a description found by Search: its concept, rank (0 exact, 1 preferred term, 2
// other) and length.
type hit struct {
	c, d    uint32
	rank, n int
}

func (e *Edition) better(a, b hit) bool {
	return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(a.n, b.n), cmp.Compare(e.ids[a.c], e.ids[b.c])) < 0
}

// offer puts h into top (sorted, one hit per concept, at most limit).
func (e *Edition) offer(top []hit, h hit, limit int) []hit {
	for i, o := range top {
		if o.c == h.c {
			if !e.better(h, o) {
				return top
			}
			top = slices.Delete(top, i, i+1)
			break
		}
	}
	i := len(top)
	for i > 0 && e.better(h, top[i-1]) {
		i--
	}
	if i >= limit {
		return top
	}
	top = slices.Insert(top, i, h)
	if len(top) > limit {
		top = top[:limit]
	}
	return top
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func allPrefixed(query, terms []string) bool {
	for _, q := range query {
		found := false
		for _, t := range terms {
			if strings.HasPrefix(t, q) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// wordRange is the range of indexed words starting with prefix.
func (e *Edition) wordRange(prefix string) (int, int) {
	n := len(e.wordOff) - 1
	word := func(i int) string { return e.words[e.wordOff[i]:e.wordOff[i+1]] }
	lo := sort.Search(n, func(i int) bool { return word(i) >= prefix })
	hi := lo + sort.Search(n-lo, func(i int) bool { return !strings.HasPrefix(word(lo+i), prefix) })
	return lo, hi
}

// conceptOf finds the concept a description belongs to.
func (e *Edition) conceptOf(d uint32) uint32 {
	// The first offset past d ends d's concept (concepts without descriptions repeat an
	// offset, and BinarySearch finds the first of equal values).
	i, _ := slices.BinarySearch(e.descOff, d+1)
	return uint32(i - 1)
}

// searchIn is Search over the members of a filter (an implicit value set), for
// terminology.TextSearcher.
func searchIn(ctx context.Context, e *Edition, f terminology.ConceptFilter, text string, limit int) ([]terminology.Concept, error) {
	var failed error
	keep := func(id uint64) bool {
		ok, err := f.Match(ctx, strconv.FormatUint(id, 10))
		if err != nil && failed == nil {
			failed = err
		}
		return ok
	}
	if _, all := f.(allFilter); all {
		keep = nil
	}
	matches := e.Search(text, limit, keep)
	if failed != nil {
		return nil, failed
	}
	out := make([]terminology.Concept, len(matches))
	for i, m := range matches {
		out[i] = terminology.Concept{Code: strconv.FormatUint(m.ID, 10), Display: m.Display}
	}
	return out, ctx.Err()
}

// Search ranks the filter's members by how well a description matches text.
func (f *filter) Search(ctx context.Context, text string, limit int) ([]terminology.Concept, error) {
	return searchIn(ctx, f.e, f, text, limit)
}

// Search ranks the members of the ECL expression by how well a description matches text.
func (f *eclFilter) Search(ctx context.Context, text string, limit int) ([]terminology.Concept, error) {
	return searchIn(ctx, f.e, f, text, limit)
}

// Search ranks every concept by how well a description matches text.
func (f allFilter) Search(ctx context.Context, text string, limit int) ([]terminology.Concept, error) {
	return searchIn(ctx, f.e, f, text, limit)
}

// Search ranks the refsets by how well a description matches text.
func (f refsetsFilter) Search(ctx context.Context, text string, limit int) ([]terminology.Concept, error) {
	return searchIn(ctx, f.e, f, text, limit)
}
