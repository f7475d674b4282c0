package fhirpath

import (
	"sort"

	"github.com/concord-health/concord/fhir"
)

func init() {
	// sort() (FHIRPath 2.0): each argument is a key evaluated per item; a key written with
	// a leading unary minus sorts descending, which also works for keys that cannot be
	// negated (strings), so the minus is read from the expression, not evaluated.
	def("sort", 0, 64, func(ev *evaluator, n *ast, in, _ []*fhir.Node) ([]*fhir.Node, error) {
		if len(in) <= 1 {
			return in, nil
		}
		type key struct {
			expr *ast
			desc bool
		}
		keys := make([]key, len(n.args))
		for i, a := range n.args {
			keys[i] = key{expr: a}
			if a.kind == nNeg {
				keys[i] = key{expr: a.left, desc: true}
			}
		}
		// values[i][k] is item i's k-th key; nil when the key is empty
		values := make([][]*fhir.Node, len(in))
		for i, v := range in {
			if len(keys) == 0 {
				values[i] = []*fhir.Node{v}
				continue
			}
			values[i] = make([]*fhir.Node, len(keys))
			for k, ky := range keys {
				r, err := ev.lambda(ky.expr, v, i)
				if err != nil {
					return nil, err
				}
				s, err := singleton(r, "sort() key")
				if err != nil {
					return nil, err
				}
				values[i][k] = s
			}
		}
		order := make([]int, len(in))
		for i := range order {
			order[i] = i
		}
		var cmpErr error
		sort.SliceStable(order, func(x, y int) bool {
			a, b := values[order[x]], values[order[y]]
			for k := range a {
				if a[k] == nil || b[k] == nil {
					// an empty key sorts first in either direction
					if (a[k] == nil) != (b[k] == nil) {
						return a[k] == nil
					}
					continue
				}
				c, err := sortCompare(a[k], b[k])
				if err != nil {
					if cmpErr == nil {
						cmpErr = err
					}
					return false
				}
				if len(keys) > 0 && keys[k].desc {
					c = -c
				}
				if c != 0 {
					return c < 0
				}
			}
			return false
		})
		if cmpErr != nil {
			return nil, cmpErr
		}
		out := make([]*fhir.Node, len(in))
		for i, j := range order {
			out[i] = in[j]
		}
		return out, nil
	})
}

// sortCompare orders two sort keys: booleans false before true, values of unknown relative
// order (dates of different precision) as equal.
func sortCompare(a, b *fhir.Node) (int, error) {
	if kindOf(a) == kBool && kindOf(b) == kBool {
		x, y := a.Value.(bool), b.Value.(bool)
		switch {
		case x == y:
			return 0, nil
		case !x:
			return -1, nil
		}
		return 1, nil
	}
	c, _, err := compare(a, b)
	return c, err
}
