package snomed

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// winners keeps, for each component id, the row that holds in the snapshot: the latest
// effectiveTime; among rows of the same date the first read, except that undated rows
// (blank effectiveTime: unpublished changes) replace whatever came before.
func winners[T any](rows []T, key func(T) (uint64, uint64), ver func(T) (uint32, uint32)) []T {
	// The accessors take values: a pointer to a comparator's argument would escape, costing
	// two allocations per comparison.
	slices.SortFunc(rows, func(a, b T) int {
		ah, al := key(a)
		bh, bl := key(b)
		if c := cmp.Compare(ah, bh); c != 0 {
			return c
		}
		return cmp.Compare(al, bl)
	})
	out := rows[:0]
	for i := 0; i < len(rows); {
		h, l := key(rows[i])
		best := i
		j := i + 1
		for ; j < len(rows); j++ {
			jh, jl := key(rows[j])
			if jh != h || jl != l {
				break
			}
			be, bs := ver(rows[best])
			je, js := ver(rows[j])
			if je > be || je == be && (je == blankTime && js > bs || je != blankTime && js < bs) {
				best = j
			}
		}
		out = append(out, rows[best])
		i = j
	}
	clear(rows[len(out):])
	return out
}

// strTable interns strings (concrete values, map rules, advice and targets) into one arena.
type strTable struct {
	idx  map[string]uint32
	off  []uint32
	data strings.Builder
}

func newStrTable() *strTable {
	t := &strTable{idx: map[string]uint32{"": 0}, off: []uint32{0, 0}}
	return t
}

func (t *strTable) add(s string) uint32 {
	if i, ok := t.idx[s]; ok {
		return i
	}
	t.data.WriteString(s)
	i := uint32(len(t.off) - 1)
	t.off = append(t.off, uint32(t.data.Len()))
	t.idx[s] = i
	return i
}

// csr builds compressed rows: off[i]..off[i+1] index the entries of row i, given each
// entry's row (entries must already be sorted by row).
func csr(n int, rowOf func(i int) uint32, entries int) []uint32 {
	off := make([]uint32, n+1)
	for i := 0; i < entries; i++ {
		off[rowOf(i)+1]++
	}
	for i := 1; i <= n; i++ {
		off[i] += off[i-1]
	}
	return off
}

// build turns the staged rows into an Edition.
func build(ctx context.Context, st *staging, opts Options, module uint64, stats *Stats) (*Edition, error) {
	e := &Edition{module: module, date: st.date}

	// Concepts.
	cs := winners(st.concepts, func(r conceptRow) (uint64, uint64) { return r.id, 0 }, func(r conceptRow) (uint32, uint32) { return r.eff, r.seq })
	st.concepts = nil
	n := len(cs)
	e.ids = make([]uint64, n)
	e.flags = make([]uint8, n)
	e.modIdx = make([]uint16, n)
	modules := map[uint64]uint16{}
	for i, c := range cs {
		e.ids[i] = c.id
		if c.active {
			e.flags[i] |= flagActive
		}
		if c.defined {
			e.flags[i] |= flagDefined
		}
		m, ok := modules[c.module]
		if !ok {
			if len(e.modules) == 0xffff {
				return nil, fmt.Errorf("snomed: more than %d modules", 0xffff)
			}
			m = uint16(len(e.modules))
			modules[c.module] = m
			e.modules = append(e.modules, c.module)
		}
		e.modIdx[i] = m
	}
	cs = nil
	if e.date == 0 {
		e.date = 19700101
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// Descriptions: active ones of known concepts, grouped by concept, FSN first.
	ds := winners(st.descs, func(r descRow) (uint64, uint64) { return r.id, 0 }, func(r descRow) (uint32, uint32) { return r.eff, r.seq })
	st.descs = nil
	type descRef struct {
		concept uint32
		i       uint32 // into ds
	}
	refs := make([]descRef, 0, len(ds))
	for i := range ds {
		if !ds[i].active {
			continue
		}
		c, ok := e.index(ds[i].concept)
		if !ok {
			stats.Dangling++
			continue
		}
		refs = append(refs, descRef{c, uint32(i)})
	}
	slices.SortFunc(refs, func(a, b descRef) int {
		if c := cmp.Compare(a.concept, b.concept); c != 0 {
			return c
		}
		if c := cmp.Compare(ds[a.i].typ, ds[b.i].typ); c != 0 {
			return c
		}
		return cmp.Compare(ds[a.i].id, ds[b.i].id)
	})
	nd := len(refs)
	e.descOff = csr(n, func(i int) uint32 { return refs[i].concept }, nd)
	e.descID = make([]uint64, nd)
	e.descType = make([]uint8, nd)
	e.descLang = make([]uint8, nd)
	e.termOff = make([]uint32, nd+1)
	langs := map[string]uint8{}
	size := 0
	for _, r := range refs {
		size += len(ds[r.i].term)
	}
	var terms strings.Builder
	terms.Grow(size)
	for k, r := range refs {
		d := &ds[r.i]
		e.descID[k] = d.id
		e.descType[k] = d.typ
		l, ok := langs[d.lang]
		if !ok {
			if len(e.langs) == 0xff {
				return nil, fmt.Errorf("snomed: more than %d description languages", 0xff)
			}
			l = uint8(len(e.langs))
			langs[d.lang] = l
			e.langs = append(e.langs, d.lang)
		}
		e.descLang[k] = l
		terms.WriteString(d.term)
		e.termOff[k+1] = uint32(terms.Len())
	}
	if terms.Len() > 1<<32-1 {
		return nil, fmt.Errorf("snomed: description text exceeds 4 GB")
	}
	e.terms = terms.String()
	refs, ds = nil, nil
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// Language refsets: acceptability of each description per refset.
	ls := winners(st.langs, func(r langRow) (uint64, uint64) { return r.uuid.hi, r.uuid.lo }, func(r langRow) (uint32, uint32) { return r.eff, r.seq })
	st.langs = nil
	// Join the active rows to the descriptions by id: both sorted, one pass.
	type byID struct {
		id uint64
		d  uint32
	}
	descs := make([]byID, nd)
	for i, id := range e.descID {
		descs[i] = byID{id, uint32(i)}
	}
	slices.SortFunc(descs, func(a, b byID) int { return cmp.Compare(a.id, b.id) })
	live := ls[:0]
	for _, r := range ls {
		if r.active {
			live = append(live, r)
		}
	}
	slices.SortFunc(live, func(a, b langRow) int { return cmp.Compare(a.desc, b.desc) })
	refsetNum := map[uint64]int{}
	k := 0
	for _, r := range live {
		for k < nd && descs[k].id < r.desc {
			k++
		}
		if k == nd || descs[k].id != r.desc {
			stats.Dangling++
			continue
		}
		j, ok := refsetNum[r.refset]
		if !ok {
			j = len(e.langRefsets)
			refsetNum[r.refset] = j
			e.langRefsets = append(e.langRefsets, r.refset)
			e.accept = append(e.accept, make([]uint8, nd)...)
		}
		a := acceptAcceptable
		if r.preferred {
			a = acceptPreferred
		}
		e.accept[j*nd+int(descs[k].d)] = a
	}
	ls, live, descs = nil, nil, nil
	e.languages = opts.Languages
	if len(e.languages) == 0 {
		e.languages = []uint64{GBEnglish, USEnglish}
	}

	// Relationships: inferred is-a into the hierarchy; other active inferred ones (and
	// concrete values) by source and by destination; stated ones by source.
	rs := winners(st.rels, func(r relRow) (uint64, uint64) {
		if r.stated {
			return r.id, 1
		}
		return r.id, 0
	}, func(r relRow) (uint32, uint32) { return r.eff, r.seq })
	st.rels = nil
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	strs := newStrTable()
	type edge struct{ src, dst, typ, group, val uint32 }
	var isa, attrs, stated []edge
	for i := range rs {
		r := &rs[i]
		if !r.active {
			continue
		}
		src, ok1 := e.index(r.src)
		// Is-a needs no concept for the type (small extracts leave the metadata out).
		typ, ok2 := e.index(r.typ)
		isIsa := r.typ == IsA && r.value == ""
		if isIsa && !ok2 {
			typ, ok2 = noConcept, true
		}
		dst, ok3 := noConcept, true
		if r.value == "" {
			dst, ok3 = e.index(r.dst)
		}
		if !ok1 || !ok2 || !ok3 {
			stats.Dangling++
			continue
		}
		ed := edge{src: src, dst: dst, typ: typ, group: r.group}
		switch {
		case r.stated:
			stated = append(stated, ed)
		case isIsa:
			isa = append(isa, ed)
		default:
			if r.value != "" {
				ed.val = strs.add(r.value)
			}
			attrs = append(attrs, ed)
		}
	}
	rs = nil
	bySrc := func(a, b edge) int {
		return cmp.Or(cmp.Compare(a.src, b.src), cmp.Compare(a.group, b.group), cmp.Compare(a.typ, b.typ), cmp.Compare(a.dst, b.dst), cmp.Compare(a.val, b.val))
	}
	slices.SortFunc(isa, bySrc)
	isa = slices.Compact(isa)
	e.parOff = csr(n, func(i int) uint32 { return isa[i].src }, len(isa))
	e.par = make([]uint32, len(isa))
	for i, ed := range isa {
		e.par[i] = ed.dst
	}
	slices.SortFunc(isa, func(a, b edge) int { return cmp.Or(cmp.Compare(a.dst, b.dst), cmp.Compare(a.src, b.src)) })
	e.chiOff = csr(n, func(i int) uint32 { return isa[i].dst }, len(isa))
	e.chi = make([]uint32, len(isa))
	for i, ed := range isa {
		e.chi[i] = ed.src
	}
	isa = nil

	slices.SortFunc(attrs, bySrc)
	attrs = slices.Compact(attrs)
	e.relOff = csr(n, func(i int) uint32 { return attrs[i].src }, len(attrs))
	e.relType = make([]uint32, len(attrs))
	e.relDest = make([]uint32, len(attrs))
	e.relGroup = make([]uint32, len(attrs))
	e.relVal = make([]uint32, len(attrs))
	for i, ed := range attrs {
		e.relType[i], e.relDest[i], e.relGroup[i], e.relVal[i] = ed.typ, ed.dst, ed.group, ed.val
	}
	// The reverse index leaves out concrete values (no destination concept).
	rev := attrs[:0]
	for _, ed := range attrs {
		if ed.dst != noConcept {
			rev = append(rev, ed)
		}
	}
	slices.SortFunc(rev, func(a, b edge) int {
		return cmp.Or(cmp.Compare(a.dst, b.dst), cmp.Compare(a.typ, b.typ), cmp.Compare(a.src, b.src))
	})
	rev = slices.CompactFunc(rev, func(a, b edge) bool { return a.dst == b.dst && a.typ == b.typ && a.src == b.src })
	e.revOff = csr(n, func(i int) uint32 { return rev[i].dst }, len(rev))
	e.revSrc = make([]uint32, len(rev))
	e.revType = make([]uint32, len(rev))
	for i, ed := range rev {
		e.revSrc[i], e.revType[i] = ed.src, ed.typ
	}
	attrs, rev = nil, nil

	slices.SortFunc(stated, bySrc)
	stated = slices.Compact(stated)
	e.stOff = csr(n, func(i int) uint32 { return stated[i].src }, len(stated))
	e.stType = make([]uint32, len(stated))
	e.stDest = make([]uint32, len(stated))
	e.stGroup = make([]uint32, len(stated))
	for i, ed := range stated {
		e.stType[i], e.stDest[i], e.stGroup[i] = ed.typ, ed.dst, ed.group
	}
	stated = nil
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	e.buildClosure()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// Simple refsets: active members by refset, sorted.
	ms := winners(st.simple, func(r memberRow) (uint64, uint64) { return r.uuid.hi, r.uuid.lo }, func(r memberRow) (uint32, uint32) { return r.eff, r.seq })
	st.simple = nil
	type member struct{ refset, ref uint64 }
	var mem []member
	for _, m := range ms {
		if m.active {
			mem = append(mem, member{m.refset, m.ref})
		}
	}
	slices.SortFunc(mem, func(a, b member) int { return cmp.Or(cmp.Compare(a.refset, b.refset), cmp.Compare(a.ref, b.ref)) })
	mem = slices.Compact(mem)
	e.memOff = []uint32{0}
	for i, m := range mem {
		if i == 0 || m.refset != mem[i-1].refset {
			if i > 0 {
				e.memOff = append(e.memOff, uint32(i))
			}
			e.refsets = append(e.refsets, m.refset)
		}
		e.mem = append(e.mem, m.ref)
	}
	if len(mem) > 0 {
		e.memOff = append(e.memOff, uint32(len(mem)))
	}

	// Map refsets: active rows by refset, source, group and priority.
	mr := winners(st.maps, func(r mapRow) (uint64, uint64) { return r.uuid.hi, r.uuid.lo }, func(r mapRow) (uint32, uint32) { return r.eff, r.seq })
	st.maps = nil
	act := mr[:0]
	for _, m := range mr {
		if m.active {
			act = append(act, m)
		}
	}
	slices.SortFunc(act, func(a, b mapRow) int {
		return cmp.Or(cmp.Compare(a.refset, b.refset), cmp.Compare(a.ref, b.ref), cmp.Compare(a.group, b.group), cmp.Compare(a.priority, b.priority), cmp.Compare(a.target, b.target))
	})
	e.mapOff = []uint32{0}
	for i, m := range act {
		if i == 0 || m.refset != act[i-1].refset {
			if i > 0 {
				e.mapOff = append(e.mapOff, uint32(i))
			}
			e.mapRefsets = append(e.mapRefsets, m.refset)
		}
		e.mapRef = append(e.mapRef, m.ref)
		e.mapGroup = append(e.mapGroup, m.group)
		e.mapPriority = append(e.mapPriority, m.priority)
		e.mapCorr = append(e.mapCorr, m.corr)
		e.mapCat = append(e.mapCat, m.cat)
		e.mapRule = append(e.mapRule, strs.add(m.rule))
		e.mapAdvice = append(e.mapAdvice, strs.add(m.advice))
		e.mapTarget = append(e.mapTarget, strs.add(m.target))
	}
	if len(act) > 0 {
		e.mapOff = append(e.mapOff, uint32(len(act)))
	}
	e.strOff = strs.off
	e.strs = strs.data.String()

	e.buildWords()
	e.finish()
	return e, nil
}

// buildClosure stores every concept's ancestors (inferred is-a, transitive) as a sorted run
// in one arena, so that a subsumption test is one binary search. Each concept is walked on
// its own with a visit stamp, which tolerates cycles in broken content.
func (e *Edition) buildClosure() {
	n := len(e.ids)
	stamp := make([]uint32, n)
	e.ancOff = make([]uint32, n+1)
	e.anc = make([]uint32, 0, n*8)
	var stack []uint32
	for c := 0; c < n; c++ {
		start := len(e.anc)
		mark := uint32(c + 1)
		stack = append(stack[:0], uint32(c))
		stamp[c] = mark
		for len(stack) > 0 {
			x := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, p := range e.par[e.parOff[x]:e.parOff[x+1]] {
				if stamp[p] != mark {
					stamp[p] = mark
					e.anc = append(e.anc, p)
					stack = append(stack, p)
				}
			}
		}
		slices.Sort(e.anc[start:])
		e.ancOff[c+1] = uint32(len(e.anc))
	}
	e.anc = slices.Clip(e.anc)
}

// words splits text into lower-case words of letters and digits.
func words(s string, yield func(string) bool) {
	start := -1
	for i, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			if !yield(lowerWord(s[start:i])) {
				return
			}
			start = -1
		}
	}
	if start >= 0 {
		yield(lowerWord(s[start:]))
	}
}

func lowerWord(w string) string {
	for i := 0; i < len(w); i++ {
		if c := w[i]; c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			return strings.ToLower(w)
		}
	}
	return w
}

// buildWords indexes the words of the active descriptions of active concepts (not text
// definitions): the sorted distinct words, and for each the descriptions holding it.
func (e *Edition) buildWords() {
	ids := map[string]uint32{}
	var list []string
	var pairs []uint64 // word<<32 | description
	for c := range e.ids {
		if e.flags[c]&flagActive == 0 {
			continue
		}
		for d := e.descOff[c]; d < e.descOff[c+1]; d++ {
			if e.descType[d] == descDefinition {
				continue
			}
			words(e.term(d), func(w string) bool {
				id, ok := ids[w]
				if !ok {
					id = uint32(len(list))
					ids[w] = id
					list = append(list, strings.Clone(w))
				}
				pairs = append(pairs, uint64(id)<<32|uint64(d))
				return true
			})
		}
	}
	order := make([]uint32, len(list))
	for i := range order {
		order[i] = uint32(i)
	}
	slices.SortFunc(order, func(a, b uint32) int { return strings.Compare(list[a], list[b]) })
	rank := make([]uint32, len(list))
	var sb strings.Builder
	e.wordOff = make([]uint32, len(list)+1)
	for r, id := range order {
		rank[id] = uint32(r)
		sb.WriteString(list[id])
		e.wordOff[r+1] = uint32(sb.Len())
	}
	e.words = sb.String()
	for i, p := range pairs {
		pairs[i] = uint64(rank[p>>32])<<32 | p&0xffffffff
	}
	slices.Sort(pairs)
	pairs = slices.Compact(pairs)
	e.postOff = csr(len(list), func(i int) uint32 { return uint32(pairs[i] >> 32) }, len(pairs))
	e.post = make([]uint32, len(pairs))
	for i, p := range pairs {
		e.post[i] = uint32(p)
	}
}
