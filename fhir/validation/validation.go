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
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"strings"
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
	// pv checks what the core walk does not: profiles, extensions, references, bindings.
	pv *profileValidator
	// resources resolves the Questionnaires QuestionnaireResponses answer.
	resources CanonicalResolver
}

// New builds a validator for reg, reading and compiling every core constraint up front so
// that Validate only evaluates.
func New(reg *definitions.Registry) (*Validator, error) {
	if reg == nil {
		return nil, fmt.Errorf("validation: nil registry")
	}
	return NewWith(reg, Options{})
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
	v.checkProfiles(w, root, nil)
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
	// bundles are the Bundles enclosing the node being walked, innermost last: references
	// resolve in the innermost one.
	bundles []*bundleScope
	// env is the FHIRPath environment of the resource being walked, made once per
	// resource rather than per element.
	env *fhirpath.Env
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
	switch {
	case n.Type == "Identifier":
		w.identifier(n, path)
	case n.Type == "Attachment":
		w.attachment(n, path)
	case n.Type == "Reference" && len(w.bundles) > 0:
		w.bundleReference(w.bundles[len(w.bundles)-1], n, path, res, root)
	case n == res && n.Type == "Bundle":
		b := w.bundle(n, path)
		w.bundles = append(w.bundles, b)
		defer func() {
			w.reachability(n, b)
			w.bundles = w.bundles[:len(w.bundles)-1]
		}()
	case (n.Type == "uri" || n.Type == "url" || n.Type == "canonical") && len(w.bundles) > 0:
		w.bundleURI(w.bundles[len(w.bundles)-1], n, root)
	}
	if n == res {
		w.containedIDs(n, path)
		switch n.Type {
		case "QuestionnaireResponse":
			w.questionnaireResponse(n, path, root)
		case "Questionnaire":
			w.questionnaire(n, path)
		}
	}
	if v, ok := n.Value.(string); ok && len(v) > maxString && n.Type != "base64Binary" && n.Type != "xhtml" {
		w.add(fhir.SeverityError, fhir.IssueInvalid, path,
			"value is longer than permitted maximum length of 1 MB (%d bytes)", maxString)
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

// maxString is the longest string value R4 allows (datatypes.html#string).
const maxString = 1 << 20

// attachment checks that the stated size of inline data is its decoded length.
func (w *walker) attachment(n *fhir.Node, path string) {
	data, size := n.Text("data"), n.Text("size")
	if data == "" || size == "" {
		return
	}
	stated, err := strconv.ParseInt(size, 10, 64)
	if err != nil {
		return
	}
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(data), ""))
	if err != nil {
		return // the parser reports data that is not base64
	}
	if int64(len(raw)) != stated {
		w.add(fhir.SeverityError, fhir.IssueStructure, path,
			"Stated Attachment Size %d does not match actual attachment size %d", stated, len(raw))
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
	if w.env == nil || w.env.Resource != res || w.env.RootResource != root {
		w.env = w.v.env(res, root)
	}
	env := w.env
	contained := n == res && n.Name == "contained"
	for _, c := range list {
		if contained && c.Key == "dom-6" {
			continue // a contained resource is shown through its container's narrative
		}
		if c.Key == "dom-3" && n == res {
			// Checked in Go: the published expression cannot see links from the narrative.
			if ids := containedUnreferenced(n); len(ids) > 0 {
				w.fail(c, path)
				w.issues[len(w.issues)-1].Diagnostics += " (not referenced: " + strings.Join(ids, ", ") + ")"
			}
			continue
		}
		if c.Key == "que-12" && c.Owner == "Questionnaire" {
			c = correctedQue12()
		}
		w.evaluate(c, n, path, env)
	}
}

// correctedQue12 is que-12 as R4B publishes it: R4's expression asks for enableBehavior from
// three enableWhen on, while its own rule (and R4B's) says from two.
var correctedQue12 = sync.OnceValue(func() *constraint {
	const text = "enableWhen.count() > 1 implies enableBehavior.exists()"
	x, err := fhirpath.Compile(text)
	if err != nil {
		panic(err) // a constant expression: a defect of this file
	}
	return &constraint{Key: "que-12", Severity: "error", Owner: "Questionnaire", Expression: text, expr: x,
		Human: "If there are more than one enableWhen, enableBehavior must be specified"}
})

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
