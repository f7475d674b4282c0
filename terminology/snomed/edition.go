// Package snomed loads SNOMED CT RF2 releases into a compact in-memory index, persists it as
// one file, and answers concept lookups, subsumption, hierarchy walks, refset membership,
// maps and term search. Concept ids are numbered densely (their position in the sorted
// SCTID table) and every per-concept list is a range of one shared array, so an edition of
// the UK's size fits in a few hundred megabytes and loads back from disk in seconds.
package snomed

import (
	"math/bits"
	"slices"
	"strconv"
)

const (
	flagActive uint8 = 1 << iota
	flagDefined
)

const (
	acceptPreferred  uint8 = 1
	acceptAcceptable uint8 = 2
)

// noConcept marks a relationship without a destination concept (a concrete value).
const noConcept = ^uint32(0)

// Edition is a loaded SNOMED CT edition. It is immutable and safe for concurrent use.
type Edition struct {
	module    uint64
	date      uint32
	languages []uint64 // language refsets for display, in order of preference

	ids     []uint64 // sorted SCTIDs; a concept's number is its position
	flags   []uint8
	modIdx  []uint16 // into modules
	modules []uint64

	parOff, par []uint32 // active inferred is-a parents
	chiOff, chi []uint32 // and children
	ancOff, anc []uint32 // every ancestor, sorted per concept

	descOff  []uint32 // per concept: its active descriptions, FSN first
	descID   []uint64
	descType []uint8
	descLang []uint8 // into langs
	langs    []string
	termOff  []uint32 // into terms
	terms    string

	langRefsets []uint64
	accept      []uint8 // [refset*len(descID)+description]

	relOff                             []uint32 // active inferred non-is-a relationships by source
	relType, relDest, relGroup, relVal []uint32 // relVal into strs (concrete values)
	revOff                             []uint32 // the same by destination
	revSrc, revType                    []uint32
	stOff                              []uint32 // active stated relationships by source
	stType, stDest, stGroup            []uint32

	refsets []uint64 // simple refsets, sorted; members sorted per refset
	memOff  []uint32
	mem     []uint64

	mapRefsets                    []uint64
	mapOff                        []uint32 // per map refset
	mapRef                        []uint64
	mapGroup, mapPriority         []uint16
	mapCorr, mapCat               []uint64
	mapRule, mapAdvice, mapTarget []uint32 // into strs

	strOff []uint32
	strs   string

	words   string // sorted distinct words of descriptions
	wordOff []uint32
	postOff []uint32 // per word: the descriptions holding it
	post    []uint32

	stats   Stats
	version string
	langNum []int // e.languages as positions in langRefsets, -1 when not loaded
}

// finish computes what is derived from the stored fields (after build or Open).
func (e *Edition) finish() {
	e.version = "http://snomed.info/sct/" + strconv.FormatUint(e.module, 10) + "/version/" + strconv.FormatUint(uint64(e.date), 10)
	e.langNum = e.langNum[:0]
	for _, l := range e.languages {
		e.langNum = append(e.langNum, slices.Index(e.langRefsets, l))
	}
	// Then every other language refset loaded, as a last resort.
	for j, l := range e.langRefsets {
		if !slices.Contains(e.languages, l) {
			e.langNum = append(e.langNum, j)
		}
	}
}

// index returns the number of the concept with this SCTID.
func (e *Edition) index(id uint64) (uint32, bool) {
	i, ok := slices.BinarySearch(e.ids, id)
	return uint32(i), ok
}

func (e *Edition) term(d uint32) string { return e.terms[e.termOff[d]:e.termOff[d+1]] }

func (e *Edition) str(i uint32) string { return e.strs[e.strOff[i]:e.strOff[i+1]] }

// Version is the edition URI: http://snomed.info/sct/{module}/version/{YYYYMMDD}.
func (e *Edition) Version() string { return e.version }

// Module is the edition's module (the extension's, when one is loaded).
func (e *Edition) Module() uint64 { return e.module }

// Stats counts what the load read and left out (zero for an edition read by Open).
func (e *Edition) Stats() Stats { return e.stats }

// Len is the number of concepts, active or not.
func (e *Edition) Len() int { return len(e.ids) }

// DescriptionType tells a fully specified name from a synonym or a text definition.
type DescriptionType uint8

// Description types.
const (
	FullySpecifiedName DescriptionType = DescriptionType(descFSN)
	Synonym            DescriptionType = DescriptionType(descSynonym)
	TextDefinition     DescriptionType = DescriptionType(descDefinition)
	OtherDescription   DescriptionType = DescriptionType(descOther)
)

// Description is an active description of a concept. Preferred and Acceptable are its
// acceptability in the edition's display languages (the first language refset that has it);
// both are false for a description in none of them.
type Description struct {
	ID         uint64
	Term       string
	Type       DescriptionType
	Language   string
	Preferred  bool
	Acceptable bool
}

// Concept is one concept with its terms.
type Concept struct {
	ID     uint64
	Active bool
	Module uint64
	// Defined: sufficiently defined (else primitive).
	Defined bool
	// FSN is the fully specified name, Preferred the preferred synonym in the edition's
	// display languages (the FSN when no language refset names one).
	FSN, Preferred string
	// Descriptions are the active descriptions, FSN first, then synonyms, then definitions.
	Descriptions []Description
}

// Concept looks a concept up by SCTID.
func (e *Edition) Concept(id uint64) (Concept, bool) {
	c, ok := e.index(id)
	if !ok {
		return Concept{}, false
	}
	out := Concept{
		ID:      id,
		Active:  e.flags[c]&flagActive != 0,
		Module:  e.modules[e.modIdx[c]],
		Defined: e.flags[c]&flagDefined != 0,
	}
	lo, hi := e.descOff[c], e.descOff[c+1]
	out.Descriptions = make([]Description, 0, hi-lo)
	for d := lo; d < hi; d++ {
		t := e.term(d)
		desc := Description{ID: e.descID[d], Term: t, Type: DescriptionType(e.descType[d]), Language: e.langs[e.descLang[d]]}
		a := e.acceptability(d, e.langNum)
		desc.Preferred, desc.Acceptable = a == acceptPreferred, a == acceptAcceptable
		if e.descType[d] == descFSN && out.FSN == "" {
			out.FSN = t
		}
		out.Descriptions = append(out.Descriptions, desc)
	}
	out.Preferred = e.display(c)
	return out, true
}

// acceptability is a description's acceptability in the first of the language refsets
// (positions in langRefsets) that has it.
func (e *Edition) acceptability(d uint32, langs []int) uint8 {
	nd := len(e.descID)
	for _, j := range langs {
		if j >= 0 {
			if a := e.accept[j*nd+int(d)]; a != 0 {
				return a
			}
		}
	}
	return 0
}

// preferred finds the concept's preferred synonym in the first language refset that names
// one, else its first synonym; noConcept when it has no synonym.
func (e *Edition) preferred(c uint32, langs []int) uint32 {
	lo, hi := e.descOff[c], e.descOff[c+1]
	nd := len(e.descID)
	for _, j := range langs {
		if j < 0 {
			continue
		}
		for d := lo; d < hi; d++ {
			if e.descType[d] == descSynonym && e.accept[j*nd+int(d)] == acceptPreferred {
				return d
			}
		}
	}
	for d := lo; d < hi; d++ {
		if e.descType[d] == descSynonym {
			return d
		}
	}
	return noConcept
}

// PreferredTerm is the concept's preferred synonym in one language refset (ok false when
// the refset names none).
func (e *Edition) PreferredTerm(id, languageRefset uint64) (string, bool) {
	c, ok := e.index(id)
	j := slices.Index(e.langRefsets, languageRefset)
	if !ok || j < 0 {
		return "", false
	}
	nd := len(e.descID)
	for d := e.descOff[c]; d < e.descOff[c+1]; d++ {
		if e.descType[d] == descSynonym && e.accept[j*nd+int(d)] == acceptPreferred {
			return e.term(d), true
		}
	}
	return "", false
}

// Display is the concept's preferred term in the edition's display languages ("" for an
// unknown concept).
func (e *Edition) Display(id uint64) string {
	c, ok := e.index(id)
	if !ok {
		return ""
	}
	return e.display(c)
}

func (e *Edition) display(c uint32) string {
	if d := e.preferred(c, e.langNum); d != noConcept {
		return e.term(d)
	}
	for d := e.descOff[c]; d < e.descOff[c+1]; d++ {
		if e.descType[d] == descFSN {
			return e.term(d)
		}
	}
	return ""
}

// Exists reports whether id is an active concept.
func (e *Edition) Exists(id uint64) bool {
	c, ok := e.index(id)
	return ok && e.flags[c]&flagActive != 0
}

// Known reports whether id is a concept of the edition, active or not.
func (e *Edition) Known(id uint64) bool {
	_, ok := e.index(id)
	return ok
}

// Subsumes reports whether a subsumes b: they are the same concept, or a is an ancestor of
// b in the inferred is-a hierarchy.
func (e *Edition) Subsumes(a, b uint64) bool {
	if a == b {
		return e.Known(a)
	}
	ai, ok1 := e.index(a)
	bi, ok2 := e.index(b)
	if !ok1 || !ok2 {
		return false
	}
	_, found := slices.BinarySearch(e.anc[e.ancOff[bi]:e.ancOff[bi+1]], ai)
	return found
}

func (e *Edition) idsOf(nums []uint32) []uint64 {
	out := make([]uint64, len(nums))
	for i, x := range nums {
		out[i] = e.ids[x]
	}
	return out
}

// Parents are the concept's direct inferred is-a parents.
func (e *Edition) Parents(id uint64) []uint64 {
	c, ok := e.index(id)
	if !ok {
		return nil
	}
	return e.idsOf(e.par[e.parOff[c]:e.parOff[c+1]])
}

// Children are the concept's direct inferred is-a children.
func (e *Edition) Children(id uint64) []uint64 {
	c, ok := e.index(id)
	if !ok {
		return nil
	}
	return e.idsOf(e.chi[e.chiOff[c]:e.chiOff[c+1]])
}

// Ancestors calls yield for every ancestor of the concept (not itself), in SCTID order,
// until yield returns false.
func (e *Edition) Ancestors(id uint64, yield func(uint64) bool) {
	c, ok := e.index(id)
	if !ok {
		return
	}
	for _, a := range e.anc[e.ancOff[c]:e.ancOff[c+1]] {
		if !yield(e.ids[a]) {
			return
		}
	}
}

// Descendants calls yield for every descendant of the concept (not itself), each once,
// until yield returns false.
func (e *Edition) Descendants(id uint64, yield func(uint64) bool) {
	c, ok := e.index(id)
	if !ok {
		return
	}
	var seen Bitset
	e.walkDescendants(c, &seen, func(x uint32) bool { return yield(e.ids[x]) })
}

// DescendantsInto sets in set the bits of the descendants of the concept (concept numbers,
// see Bitset), reusing set's memory; it returns how many were added.
func (e *Edition) DescendantsInto(id uint64, set *Bitset) int {
	c, ok := e.index(id)
	if !ok {
		return 0
	}
	n := 0
	e.walkDescendants(c, set, func(uint32) bool { n++; return true })
	return n
}

func (e *Edition) walkDescendants(c uint32, seen *Bitset, yield func(uint32) bool) {
	seen.grow(len(e.ids))
	queue := make([]uint32, 0, 64)
	queue = append(queue, c)
	for len(queue) > 0 {
		x := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		for _, ch := range e.chi[e.chiOff[x]:e.chiOff[x+1]] {
			if seen.has(ch) {
				continue
			}
			seen.set(ch)
			if !yield(ch) {
				return
			}
			queue = append(queue, ch)
		}
	}
}

// Bitset is a set of concepts by concept number, reusable across calls.
type Bitset struct{ w []uint64 }

func (b *Bitset) grow(n int) {
	if need := (n + 63) / 64; len(b.w) < need {
		b.w = append(b.w, make([]uint64, need-len(b.w))...)
	}
}
func (b *Bitset) set(i uint32)      { b.w[i>>6] |= 1 << (i & 63) }
func (b *Bitset) has(i uint32) bool { return b.w[i>>6]&(1<<(i&63)) != 0 }

// Reset empties the set, keeping its memory.
func (b *Bitset) Reset() { clear(b.w) }

// Contains reports whether the concept with this SCTID is in the set.
func (e *Edition) Contains(b *Bitset, id uint64) bool {
	c, ok := e.index(id)
	return ok && int(c>>6) < len(b.w) && b.has(c)
}

// Each calls yield for the SCTID of every concept in the set, in SCTID order.
func (e *Edition) Each(b *Bitset, yield func(uint64) bool) {
	for i, w := range b.w {
		for w != 0 {
			bit := uint32(i*64) + uint32(bits.TrailingZeros64(w))
			w &= w - 1
			if !yield(e.ids[bit]) {
				return
			}
		}
	}
}

// All calls yield for every active concept, in SCTID order.
func (e *Edition) All(yield func(uint64) bool) {
	for c, id := range e.ids {
		if e.flags[c]&flagActive != 0 && !yield(id) {
			return
		}
	}
}

// Members are the referenced components of the active members of a simple refset, sorted.
// The slice is shared and must not be modified.
func (e *Edition) Members(refset uint64) []uint64 {
	i, ok := slices.BinarySearch(e.refsets, refset)
	if !ok {
		return nil
	}
	return e.mem[e.memOff[i]:e.memOff[i+1]:e.memOff[i+1]]
}

// IsMember reports whether id is an active member of a simple refset.
func (e *Edition) IsMember(refset, id uint64) bool {
	_, ok := slices.BinarySearch(e.Members(refset), id)
	return ok
}

// Refsets lists the simple refsets that have active members.
func (e *Edition) Refsets() []uint64 { return slices.Clone(e.refsets) }

// Relationship is an active relationship from a concept: a type and a destination concept,
// or a concrete value as written in the release (#10, "text"), in a role group (0: none).
// It is an alias of an unnamed struct so that packages that declare the same alias (an ECL
// evaluator's graph interface) share the type without importing this package.
type Relationship = struct {
	Type, Destination uint64
	Group             int
	Value             string
}

// Relationships are the concept's active inferred relationships other than is-a, concrete
// values included, by role group.
func (e *Edition) Relationships(source uint64) []Relationship {
	c, ok := e.index(source)
	if !ok {
		return nil
	}
	lo, hi := e.relOff[c], e.relOff[c+1]
	out := make([]Relationship, 0, hi-lo)
	for i := lo; i < hi; i++ {
		r := Relationship{Type: e.ids[e.relType[i]], Group: int(e.relGroup[i])}
		if d := e.relDest[i]; d != noConcept {
			r.Destination = e.ids[d]
		} else {
			r.Value = e.str(e.relVal[i])
		}
		out = append(out, r)
	}
	return out
}

// StatedRelationships are the concept's active stated relationships, is-a included.
func (e *Edition) StatedRelationships(source uint64) []Relationship {
	c, ok := e.index(source)
	if !ok {
		return nil
	}
	lo, hi := e.stOff[c], e.stOff[c+1]
	out := make([]Relationship, 0, hi-lo)
	for i := lo; i < hi; i++ {
		typ := IsA // is-a held without its concept
		if t := e.stType[i]; t != noConcept {
			typ = e.ids[t]
		}
		out = append(out, Relationship{Type: typ, Destination: e.ids[e.stDest[i]], Group: int(e.stGroup[i])})
	}
	return out
}

// Sources are the concepts with an active inferred relationship of this type to the
// destination (the reverse of Relationships), sorted by concept number.
func (e *Edition) Sources(typ, destination uint64) []uint64 {
	d, ok1 := e.index(destination)
	t, ok2 := e.index(typ)
	if !ok1 || !ok2 {
		return nil
	}
	lo, hi := int(e.revOff[d]), int(e.revOff[d+1])
	types := e.revType[lo:hi]
	from, _ := slices.BinarySearch(types, t)
	to := from
	for to < len(types) && types[to] == t {
		to++
	}
	return e.idsOf(e.revSrc[lo+from : lo+to])
}

// Terms are the terms of the concept's active descriptions.
func (e *Edition) Terms(id uint64) []string {
	c, ok := e.index(id)
	if !ok {
		return nil
	}
	lo, hi := e.descOff[c], e.descOff[c+1]
	out := make([]string, 0, hi-lo)
	for d := lo; d < hi; d++ {
		out = append(out, e.term(d))
	}
	return out
}

// MapEntry is one active row of a map refset.
type MapEntry struct {
	Group, Priority          int
	Rule, Advice, Target     string
	Correlation, MapCategory uint64
}

// Maps are the active rows of a map refset (SNOMED CT to ICD-10, OPCS-4…) for one concept,
// by group and priority.
func (e *Edition) Maps(refset, id uint64) []MapEntry {
	r, ok := slices.BinarySearch(e.mapRefsets, refset)
	if !ok {
		return nil
	}
	lo, hi := int(e.mapOff[r]), int(e.mapOff[r+1])
	refs := e.mapRef[lo:hi]
	from, _ := slices.BinarySearch(refs, id)
	var out []MapEntry
	for i := lo + from; i < hi && e.mapRef[i] == id; i++ {
		out = append(out, MapEntry{
			Group: int(e.mapGroup[i]), Priority: int(e.mapPriority[i]),
			Rule: e.str(e.mapRule[i]), Advice: e.str(e.mapAdvice[i]), Target: e.str(e.mapTarget[i]),
			Correlation: e.mapCorr[i], MapCategory: e.mapCat[i],
		})
	}
	return out
}

// MapRefsets lists the map refsets that have active rows.
func (e *Edition) MapRefsets() []uint64 { return slices.Clone(e.mapRefsets) }
