// Package fhirpath compiles and evaluates FHIRPath (http://hl7.org/fhirpath/N1) over
// Concord's element model.
//
// Compile parses an expression once (a lexer and a precedence-climbing parser following the
// normative grammar) into an immutable tree; Evaluate walks it against a fhir.Node tree. An
// *Expr may be evaluated by many goroutines at once.
//
// # Values
//
// A FHIRPath collection is a []*fhir.Node. Items taken from the input tree are returned as
// they are (the same pointers), so callers can tell which element matched; the nodes must be
// treated as read-only. Values the engine makes itself (literals, arithmetic, function
// results) are new nodes whose Type is a System type and whose Name is "":
//
//	System.Boolean   Value bool
//	System.String    Value string
//	System.Integer   Value json.Number (decimal digits)
//	System.Decimal   Value json.Number (as written or as computed, never in exponent form)
//	System.Date      Value string, "2015", "2015-02" or "2015-02-04" (no '@')
//	System.DateTime  Value string, "2015-02-04T14:34:28.123+10:00", any precision
//	System.Time      Value string, "14:34:28" (no '@T')
//	System.Quantity  no Value; Children "value" (System.Decimal) and "unit" (System.String:
//	                 a UCUM code or a calendar keyword such as "year")
//
// FHIR primitives (Type "string", "dateTime", "decimal"…) take part in operators as the
// System type they map to (FHIRPath §2.6), and FHIR Quantity and its specialisations as
// System.Quantity. Type tests on complex types use the registry's type hierarchy ("Age is
// Quantity" holds); FHIR primitives match their own type only ("code is string" is false, as
// the official FHIRPath tests require). An unqualified System name ("DateTime", "String")
// also matches the FHIR primitives that map to it, because the official search expressions
// are written that way ("value.as(DateTime)"). as and the as() function filter like ofType
// instead of failing on several items, because search expressions apply them to repeating
// elements ("useContext.value as CodeableConcept").
//
// resolve() needs no database: a literal reference "Patient/123" (relative, absolute or with
// _history) yields a new node of Type and Name "Patient" with an "id" child, so "resolve() is
// Patient" works; "#id" yields the matching contained resource of %resource; a reference equal
// to the fullUrl of an entry of a Bundle %rootResource yields that entry's resource. Env.Resolve
// may supply real resources instead.
package fhirpath

import (
	"fmt"
	"time"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
)

// Expr is a compiled FHIRPath expression. It is immutable and safe for concurrent use.
type Expr struct {
	src  string
	root *ast
}

// Compile parses an expression. Syntax errors and calls to unknown functions are reported
// as *SyntaxError.
func Compile(expr string) (*Expr, error) {
	root, err := parse(expr)
	if err != nil {
		return nil, err
	}
	return &Expr{src: expr, root: root}, nil
}

// CompileFor is Compile with the semantic checks the FHIRPath specification allows when the
// type of the input is known: resourceType names the focus's type (a resource or data type of
// the R4 definitions). Path steps naming no element ("Patient.name.given1", or
// "Observation.valueQuantity" where FHIRPath writes "value"), string functions on non-strings,
// non-Boolean iif() criteria, unknown type specifiers, $index or $total outside the functions
// defining them and order-dependent functions on children() or descendants() are reported as
// *SemanticError. Whatever cannot be typed statically is accepted.
func CompileFor(expr, resourceType string) (*Expr, error) {
	e, err := Compile(expr)
	if err != nil {
		return nil, err
	}
	if definitions.R4().Type(resourceType) == nil {
		return nil, &SemanticError{Expr: expr, Msg: fmt.Sprintf("unknown type %q", resourceType)}
	}
	if err := typeCheck(expr, e.root, resourceType, resourceType); err != nil {
		return nil, err
	}
	return e, nil
}

// MustCompile is Compile for expressions known to be valid; it panics on error.
func MustCompile(expr string) *Expr {
	e, err := Compile(expr)
	if err != nil {
		panic(err)
	}
	return e
}

// String returns the source text.
func (e *Expr) String() string { return e.src }

// Env is the environment of one evaluation. The zero value (or nil) evaluates with %resource,
// %rootResource and %context all the focus.
type Env struct {
	// Resource is %resource; nil means the focus.
	Resource *fhir.Node
	// RootResource is %rootResource (the Bundle or container holding Resource); nil means
	// Resource.
	RootResource *fhir.Node
	// Context is %context; nil means the focus.
	Context *fhir.Node
	// Vars are further %name constants holding one item each.
	Vars map[string]*fhir.Node
	// Collections are %name constants holding any number of items; they take precedence
	// over Vars.
	Collections map[string][]*fhir.Node
	// Resolve, when set, is asked first by resolve() for each reference string; returning
	// nil falls back to the built-in resolution.
	Resolve func(reference string) *fhir.Node
	// MemberOf answers memberOf(valueSet) for a code, Coding or CodeableConcept; known
	// false (or a nil MemberOf) gives an empty result: no terminology, no answer.
	MemberOf func(item *fhir.Node, valueSet string) (member, known bool)
	// ConformsTo answers conformsTo(profile); known false raises an error, as for an
	// unknown profile. Without it, only the core type definitions can be asked about.
	ConformsTo func(item *fhir.Node, profile string) (conforms, known bool)
	// Trace receives trace() output; nil discards it.
	Trace func(name string, items []*fhir.Node)
	// Now is the instant now(), today() and timeOfDay() report; zero means the wall clock,
	// read once per evaluation.
	Now time.Time
}

// EvalError is an error raised while evaluating, such as a collection where a single item is
// required.
type EvalError struct {
	Msg string
}

func (e *EvalError) Error() string { return "fhirpath: " + e.Msg }

func errf(format string, args ...any) error {
	return &EvalError{Msg: fmt.Sprintf(format, args...)}
}

// Evaluate evaluates the expression with focus as $this, %resource, %rootResource and
// %context.
func (e *Expr) Evaluate(focus *fhir.Node) ([]*fhir.Node, error) {
	return e.EvaluateWith(focus, nil)
}

// EvaluateWith evaluates the expression on focus in an environment.
func (e *Expr) EvaluateWith(focus *fhir.Node, env *Env) (out []*fhir.Node, err error) {
	ev := newEvaluator(focus, env)
	defer func() {
		// A defect in a function must not take a server down: report it as an error.
		if r := recover(); r != nil {
			out, err = nil, errf("internal error evaluating %q: %v", e.src, r)
		}
		ev.release()
	}()
	var this []*fhir.Node
	if focus != nil {
		ev.focusBuf[0] = focus
		this = ev.focusBuf[:]
	}
	out, err = ev.eval(e.root, this)
	if len(out) > 0 && &out[0] == &ev.focusBuf[0] {
		out = []*fhir.Node{focus} // the buffer goes back to the pool with the evaluator
	}
	return out, err
}
