package ecl

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
)

// synthetic is a generated edition: a clinical finding hierarchy of about 100,000 concepts
// (fan-out 1 to 9, a tenth with a second parent, like SNOMED CT's polyhierarchy), and a
// body structure hierarchy of 10,000 that every finding points into with a finding site.
type synthetic struct {
	g          *MemoryGraph
	findings   int
	site       uint64 // a body structure with a few dozen descendants
	deep       uint64 // a leaf finding deep in the hierarchy
	deepInSite uint64 // a finding whose site is under site
}

var (
	syntheticOnce  sync.Once
	syntheticGraph synthetic
)

func buildSynthetic() synthetic {
	syntheticOnce.Do(func() {
		r := rand.New(rand.NewPCG(1, 2))
		g := NewMemoryGraph()
		next := uint64(10_000_000)
		tree := func(top uint64, size int) []uint64 {
			g.AddConcept(top)
			all := []uint64{top}
			level := []uint64{top}
			for len(all) < size {
				var below []uint64
				for _, p := range level {
					for range 1 + r.IntN(9) {
						if len(all) >= size {
							break
						}
						next++
						g.AddIsA(next, p)
						if len(level) > 1 && r.IntN(10) == 0 {
							if q := level[r.IntN(len(level))]; q != p {
								g.AddIsA(next, q)
							}
						}
						all = append(all, next)
						below = append(below, next)
					}
				}
				level = below
			}
			return all
		}
		g.AddConcept(root)
		g.AddConcept(findingSite)
		g.AddIsA(finding, root)
		g.AddIsA(bodyStructure, root)
		structures := tree(bodyStructure, 10_000)
		findings := tree(finding, 100_001)
		s := synthetic{g: g, findings: len(findings) - 1}
		// A body structure with a few dozen descendants, as a typical value constraint.
		for _, c := range structures[100:] {
			n := 0
			g.Descendants(c, func(uint64) bool { n++; return true })
			if n >= 20 && n <= 80 {
				s.site = c
				break
			}
		}
		under := map[uint64]bool{s.site: true}
		g.Descendants(s.site, func(d uint64) bool { under[d] = true; return true })
		for i, f := range findings[1:] {
			site := structures[r.IntN(len(structures))]
			g.AddRelationship(f, Relationship{Type: findingSite, Destination: site, Group: 1 + i%2})
			if under[site] {
				s.deepInSite = f
			}
		}
		s.deep = findings[len(findings)-1]
		syntheticGraph = s
	})
	return syntheticGraph
}

func TestSyntheticGraph(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 110,000 concept graph")
	}
	s := buildSynthetic()
	ctx := context.Background()
	set, err := MustParse("<< 404684003").Evaluate(ctx, s.g)
	if err != nil || set.Len() != s.findings+1 {
		t.Fatalf("<< 404684003: %d concepts (%v), want %d", set.Len(), err, s.findings+1)
	}
	e := MustParse("<< 404684003 : 363698007 = << " + strconv.FormatUint(s.site, 10))
	refined, err := e.Evaluate(ctx, s.g)
	if err != nil || refined.Len() == 0 {
		t.Fatalf("refined: %d (%v)", refined.Len(), err)
	}
	// The candidate path (by destination) must agree with testing every focus concept.
	slow := 0
	for _, id := range set.IDs() {
		if m, _ := e.Matches(ctx, s.g, id); m {
			slow++
			if !refined.Contains(id) {
				t.Fatalf("Matches(%d) but not in the expansion", id)
			}
		}
	}
	if slow != refined.Len() {
		t.Errorf("Matches found %d, expansion %d", slow, refined.Len())
	}
}

func BenchmarkDescendantsOrSelf(b *testing.B) {
	s := buildSynthetic()
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		e, err := Parse("<< 404684003 |Clinical finding|")
		if err != nil {
			b.Fatal(err)
		}
		set, err := e.Evaluate(ctx, s.g)
		if err != nil || set.Len() < 100_000 {
			b.Fatal(set.Len(), err)
		}
	}
}

func BenchmarkRefined(b *testing.B) {
	s := buildSynthetic()
	ctx := context.Background()
	src := "<< 404684003 : 363698007 |Finding site| = << " + strconv.FormatUint(s.site, 10)
	b.ResetTimer()
	for b.Loop() {
		e, err := Parse(src)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.Evaluate(ctx, s.g); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRefinedWide refines by a value too broad for the candidate path, so every
// focus concept's relationships are checked.
func BenchmarkRefinedWide(b *testing.B) {
	s := buildSynthetic()
	ctx := context.Background()
	e := MustParse("<< 404684003 : 363698007 = << 123037004")
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.Evaluate(ctx, s.g); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMatchesDescendant(b *testing.B) {
	s := buildSynthetic()
	ctx := context.Background()
	e := MustParse("<< 404684003")
	b.ResetTimer()
	for b.Loop() {
		if m, err := e.Matches(ctx, s.g, s.deep); !m || err != nil {
			b.Fatal(m, err)
		}
	}
}

func BenchmarkMatchesRefined(b *testing.B) {
	s := buildSynthetic()
	ctx := context.Background()
	e := MustParse("<< 404684003 : 363698007 = << " + strconv.FormatUint(s.site, 10))
	b.ResetTimer()
	for b.Loop() {
		if m, err := e.Matches(ctx, s.g, s.deepInSite); !m || err != nil {
			b.Fatal(m, err)
		}
	}
}

func BenchmarkContains(b *testing.B) {
	s := buildSynthetic()
	set, err := MustParse("<< 404684003").Evaluate(context.Background(), s.g)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if !set.Contains(s.deep) {
			b.Fatal("missing")
		}
	}
}
