package ecl

import "slices"

// Set is an immutable set of concept ids, held sorted: expansion results page in id order
// and a membership test is a binary search, with no per-set hash table to build.
type Set struct {
	ids []uint64
}

// NewSet returns the set of the given ids; it takes ownership of the slice.
func NewSet(ids []uint64) Set {
	if !slices.IsSorted(ids) {
		slices.Sort(ids)
	}
	return Set{ids: slices.Compact(ids)}
}

// Len is the number of concepts in the set.
func (s Set) Len() int { return len(s.ids) }

// Contains reports whether id is in the set.
func (s Set) Contains(id uint64) bool {
	_, ok := slices.BinarySearch(s.ids, id)
	return ok
}

// Each calls yield for each id in ascending order until it returns false.
func (s Set) Each(yield func(uint64) bool) {
	for _, id := range s.ids {
		if !yield(id) {
			return
		}
	}
}

// IDs returns the ids in ascending order; the slice is shared and must not be modified.
func (s Set) IDs() []uint64 { return s.ids }

func union(a, b Set) Set {
	if len(a.ids) == 0 {
		return b
	}
	if len(b.ids) == 0 {
		return a
	}
	out := make([]uint64, 0, len(a.ids)+len(b.ids))
	i, j := 0, 0
	for i < len(a.ids) && j < len(b.ids) {
		switch x, y := a.ids[i], b.ids[j]; {
		case x < y:
			out = append(out, x)
			i++
		case x > y:
			out = append(out, y)
			j++
		default:
			out = append(out, x)
			i++
			j++
		}
	}
	out = append(out, a.ids[i:]...)
	out = append(out, b.ids[j:]...)
	return Set{ids: out}
}

func intersect(a, b Set) Set {
	if len(a.ids) > len(b.ids) {
		a, b = b, a
	}
	var out []uint64
	// A much smaller side is cheaper to probe by binary search than to merge.
	if len(a.ids)*16 < len(b.ids) {
		for _, x := range a.ids {
			if b.Contains(x) {
				out = append(out, x)
			}
		}
		return Set{ids: out}
	}
	i, j := 0, 0
	for i < len(a.ids) && j < len(b.ids) {
		switch x, y := a.ids[i], b.ids[j]; {
		case x < y:
			i++
		case x > y:
			j++
		default:
			out = append(out, x)
			i++
			j++
		}
	}
	return Set{ids: out}
}

func minus(a, b Set) Set {
	if len(b.ids) == 0 {
		return a
	}
	out := make([]uint64, 0, len(a.ids))
	j := 0
	for _, x := range a.ids {
		for j < len(b.ids) && b.ids[j] < x {
			j++
		}
		if j < len(b.ids) && b.ids[j] == x {
			continue
		}
		out = append(out, x)
	}
	return Set{ids: out}
}
