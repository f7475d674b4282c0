// Package validation checks parsed resources against the core R4 StructureDefinitions:
// element cardinalities and the FHIRPath invariants of the resource type and of every data
// type it uses. Structure (known elements, JSON shape, primitive formats) is already checked
// by fhir.Parse; this package reports what a well-formed resource can still get wrong.
//
// Issues follow OperationOutcome: severity, an issue-type code ("required", "structure",
// "invariant", "not-supported", "processing") and a FHIRPath location such as
// "Patient.name[0].given[1]".
package validation

import (
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/fhir/fhirpath"
)

// coreConstraints is shared by every Validator: it is immutable once loaded.
var coreConstraints = sync.OnceValues(loadConstraints)

// IssueInvariant is the issue-type code of a failed constraint.
const IssueInvariant = "invariant"

// Validator validates resources against one registry. It is immutable after New, apart from
// its counters, and safe for concurrent use.
type Validator struct {
	reg *definitions.Registry
	cs  *constraintSet
	// evalFailures counts constraint evaluations that raised an error.
	evalFailures atomic.Int64
}

// New builds a validator for reg, reading and compiling every core constraint up front so
// that Validate only evaluates.
func New(reg *definitions.Registry) (*Validator, error) {
	if reg == nil {
		return nil, fmt.Errorf("validation: nil registry")
	}
	cs, err := coreConstraints()
	if err != nil {
		return nil, err
	}
	return &Validator{reg: reg, cs: cs}, nil
}

// Uncompiled lists the constraints whose published expression the FHIRPath engine cannot
// compile, as "Type key: error", sorted. They are reported as warnings wherever they apply.
func (v *Validator) Uncompiled() []string {
	var out []string
	for _, c := range v.cs.failed {
		out = append(out, fmt.Sprintf("%s %s: %v", c.Owner, c.Key, c.err))
	}
	sort.Strings(out)
	return out
}

// EvalFailures returns how many constraint evaluations have raised an error since New.
func (v *Validator) EvalFailures() int64 { return v.evalFailures.Load() }

// Validate checks a parsed resource and returns its issues, errors first; none means valid
// as far as this package checks.
func (v *Validator) Validate(res *fhir.Resource) []fhir.Issue {
	if res == nil || res.Root == nil {
		return []fhir.Issue{{Severity: fhir.SeverityError, Code: fhir.IssueInvalid, Diagnostics: "no resource"}}
	}
	w := &walker{v: v}
	root := res.Root
	w.node(root, root.Type, root, root)
	sort.SliceStable(w.issues, func(i, j int) bool {
		return rank(w.issues[i].Severity) < rank(w.issues[j].Severity)
	})
	return w.issues
}

// HasErrors reports whether issues include an error or fatal issue.
func HasErrors(issues []fhir.Issue) bool {
	for _, i := range issues {
		if i.Severity == fhir.SeverityError || i.Severity == fhir.SeverityFatal {
			return true
		}
	}
	return false
}

func rank(sev string) int {
	switch sev {
	case fhir.SeverityFatal:
		return 0
	case fhir.SeverityError:
		return 1
	case fhir.SeverityWarning:
		return 2
	}
	return 3
}

// walker is the state of one Validate call.
type walker struct {
	v      *Validator
	issues []fhir.Issue
	// unchecked records constraints already reported as not evaluable, so that a
	// constraint on every element yields one warning per resource rather than thousands.
	unchecked map[*constraint]bool
	seen      []*constraint // scratch for de-duplicating keys on one node
}

func (w *walker) add(sev, code, path, format string, args ...any) {
	w.issues = append(w.issues, fhir.Issue{Severity: sev, Code: code,
		Diagnostics: fmt.Sprintf(format, args...), Expression: []string{path}})
}

// node validates n, found at path, inside resource res whose container is root.
func (w *walker) node(n *fhir.Node, path string, res, root *fhir.Node) {
	if n != res && w.v.reg.IsResource(n.Type) {
		// A contained resource keeps its container as %rootResource; a Bundle entry or
		// Parameters resource stands alone.
		if n.Name != "contained" {
			root = n
		}
		res = n
	}
	w.invariants(n, path, res, root)
	if n.Type == "Identifier" {
		w.identifier(n, path)
	}
	if !n.IsPrimitive() {
		w.cardinality(n, path)
	}
	var prev *definitions.Element
	idx := 0
	for _, c := range n.Children {
		if c.Def == prev {
			idx++
		} else {
			prev, idx = c.Def, 0
		}
		p := path + "." + c.Name
		if c.Def != nil && c.Def.IsArray() {
			p += "[" + strconv.Itoa(idx) + "]"
		}
		w.node(c, p, res, root)
	}
}

// cardinality checks the number of each child element of a complex node against the
// definition. Children are in definition order (fhir.Parse sorts them), so one pass over
// both lists counts them; a choice element counts once whatever its type.
func (w *walker) cardinality(n *fhir.Node, path string) {
	defs := w.v.reg.Children(n.DefPath())
	kids := n.Children
	j := 0
	for _, el := range defs {
		count := 0
		for j < len(kids) && kids[j].Def == el {
			count++
			j++
		}
		if count < el.Min {
			name := el.Name
			if el.Choice {
				name += "[x]"
			}
			w.add(fhir.SeverityError, fhir.IssueRequired, path+"."+el.Name,
				"%s.%s: minimum required = %d, but only found %d", path, name, el.Min, count)
		}
		if el.Max >= 0 && count > el.Max {
			w.add(fhir.SeverityError, fhir.IssueStructure, path+"."+el.Name,
				"%s.%s: maximum allowed = %d, but found %d", path, el.Name, el.Max, count)
		}
	}
}

// constraintsFor collects the invariants that apply to n: those of its element definition
// (and of the element a contentReference points to), those of its type, and those of any
// core profile the element's type names. Keys are de-duplicated, since every snapshot
// repeats ele-1.
func (w *walker) constraintsFor(n *fhir.Node) []*constraint {
	cs := w.v.cs
	out := w.seen[:0]
	addAll := func(list []*constraint) {
	next:
		for _, c := range list {
			for _, o := range out {
				if o.Key == c.Key {
					continue next
				}
			}
			out = append(out, c)
		}
	}
	if d := n.Def; d != nil {
		addAll(cs.byPath[d.Path])
		if d.ContentRef != "" {
			addAll(cs.byPath[d.ContentRef])
		}
		for _, t := range d.Types {
			if t.Code != n.Type {
				continue
			}
			for _, p := range t.Profiles {
				addAll(cs.byProfile[p])
			}
		}
	}
	addAll(cs.byPath[n.Type])
	w.seen = out
	return out
}

func (w *walker) invariants(n *fhir.Node, path string, res, root *fhir.Node) {
	list := w.constraintsFor(n)
	if len(list) == 0 {
		return
	}
	env := &fhirpath.Env{Resource: res, RootResource: root}
	contained := n == res && n.Name == "contained"
	for _, c := range list {
		if contained && c.Key == "dom-6" {
			continue // a contained resource is shown through its container's narrative
		}
		w.evaluate(c, n, path, env)
	}
}

// evaluate checks one constraint on n.
func (w *walker) evaluate(c *constraint, n *fhir.Node, path string, env *fhirpath.Env) {
	switch {
	case c.native != nil:
		if !c.native(n) {
			w.fail(c, path)
		}
	case c.expr == nil:
		w.notEvaluable(c, path, fhir.IssueNotSupported, c.err)
	default:
		out, err := c.expr.EvaluateWith(n, env)
		if err != nil {
			w.v.evalFailures.Add(1)
			w.notEvaluable(c, path, fhir.IssueProcessing, err)
		} else if !satisfied(out) {
			w.fail(c, path)
		}
	}
}

func (w *walker) fail(c *constraint, path string) {
	sev := fhir.SeverityError
	if c.Severity == "warning" {
		sev = fhir.SeverityWarning
	}
	w.add(sev, IssueInvariant, path, "Constraint failed: %s: '%s' (defined on %s: %s)",
		c.Key, c.Human, c.Owner, c.Expression)
}

// satisfied interprets a constraint's result: only a single false fails. An empty result
// means the expression had nothing to judge (a rule about an absent element).
func satisfied(out []*fhir.Node) bool {
	if len(out) != 1 {
		return true
	}
	b, ok := out[0].Value.(bool)
	return !ok || b
}

func (w *walker) notEvaluable(c *constraint, path, code string, err error) {
	if w.unchecked[c] {
		return
	}
	if w.unchecked == nil {
		w.unchecked = map[*constraint]bool{}
	}
	w.unchecked[c] = true
	w.add(fhir.SeverityWarning, code, path, "Constraint %s (defined on %s) could not be checked: %v",
		c.Key, c.Owner, err)
}
