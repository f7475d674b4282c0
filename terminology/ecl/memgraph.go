package ecl

// MemoryGraph is a small in-memory Graph, for tests and for value sets over a handful of
// concepts. Concepts get dense indexes as they are added, so hierarchy walks run over
// slices rather than maps. It is not safe to modify while it is being read.
type MemoryGraph struct {
	index    map[uint64]int32
	ids      []uint64
	parents  [][]int32
	children [][]int32
	rels     map[uint64][]Relationship
	sources  map[[2]uint64][]uint64
	members  map[uint64][]uint64
	terms    map[uint64][]string
}

// NewMemoryGraph returns an empty graph.
func NewMemoryGraph() *MemoryGraph {
	return &MemoryGraph{
		index: map[uint64]int32{}, rels: map[uint64][]Relationship{},
		sources: map[[2]uint64][]uint64{}, members: map[uint64][]uint64{}, terms: map[uint64][]string{},
	}
}

func (m *MemoryGraph) add(id uint64) int32 {
	if i, ok := m.index[id]; ok {
		return i
	}
	i := int32(len(m.ids))
	m.index[id] = i
	m.ids = append(m.ids, id)
	m.parents = append(m.parents, nil)
	m.children = append(m.children, nil)
	return i
}

// AddConcept adds an active concept with its descriptions.
func (m *MemoryGraph) AddConcept(id uint64, terms ...string) {
	m.add(id)
	m.terms[id] = append(m.terms[id], terms...)
}

// AddIsA adds an |Is a| relationship; both concepts are added if missing.
func (m *MemoryGraph) AddIsA(child, parent uint64) {
	c, p := m.add(child), m.add(parent)
	m.parents[c] = append(m.parents[c], p)
	m.children[p] = append(m.children[p], c)
}

// AddRelationship adds a non-is-a relationship from source.
func (m *MemoryGraph) AddRelationship(source uint64, r Relationship) {
	m.add(source)
	m.rels[source] = append(m.rels[source], r)
	if r.Value == "" {
		k := [2]uint64{r.Type, r.Destination}
		m.sources[k] = append(m.sources[k], source)
	}
}

// AddMember adds id to the simple reference set refset.
func (m *MemoryGraph) AddMember(refset, id uint64) {
	m.members[refset] = append(m.members[refset], id)
}

func (m *MemoryGraph) Exists(id uint64) bool {
	_, ok := m.index[id]
	return ok
}

func (m *MemoryGraph) Descendants(id uint64, yield func(uint64) bool) {
	m.walk(id, m.children, true, yield)
}

func (m *MemoryGraph) Ancestors(id uint64, yield func(uint64) bool) {
	m.walk(id, m.parents, false, yield)
}

// walk visits the transitive closure of next from id, each concept once. Descendant walks
// can cover the graph, so they mark visits in a slice; ancestor walks are short and use a
// small map instead of allocating one flag per concept.
func (m *MemoryGraph) walk(id uint64, next [][]int32, down bool, yield func(uint64) bool) {
	start, ok := m.index[id]
	if !ok || len(next[start]) == 0 {
		return
	}
	var seenSlice []bool
	var seenMap map[int32]bool
	if down {
		seenSlice = make([]bool, len(m.ids))
	} else {
		seenMap = map[int32]bool{}
	}
	stack := append([]int32(nil), next[start]...)
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seenSlice != nil {
			if seenSlice[x] {
				continue
			}
			seenSlice[x] = true
		} else {
			if seenMap[x] {
				continue
			}
			seenMap[x] = true
		}
		if !yield(m.ids[x]) {
			return
		}
		stack = append(stack, next[x]...)
	}
}

func (m *MemoryGraph) ids32(xs []int32) []uint64 {
	out := make([]uint64, len(xs))
	for i, x := range xs {
		out[i] = m.ids[x]
	}
	return out
}

func (m *MemoryGraph) Children(id uint64) []uint64 {
	if i, ok := m.index[id]; ok {
		return m.ids32(m.children[i])
	}
	return nil
}

func (m *MemoryGraph) Parents(id uint64) []uint64 {
	if i, ok := m.index[id]; ok {
		return m.ids32(m.parents[i])
	}
	return nil
}

func (m *MemoryGraph) All(yield func(uint64) bool) {
	for _, id := range m.ids {
		if !yield(id) {
			return
		}
	}
}

func (m *MemoryGraph) Members(refset uint64) []uint64 { return m.members[refset] }

func (m *MemoryGraph) Relationships(source uint64) []Relationship { return m.rels[source] }

func (m *MemoryGraph) Sources(typ, destination uint64) []uint64 {
	return m.sources[[2]uint64{typ, destination}]
}

func (m *MemoryGraph) Terms(id uint64) []string { return m.terms[id] }
