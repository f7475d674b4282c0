package search

import "github.com/concord-health/concord/fhir/definitions"

// Query is a parsed FHIR search, independent of any backend.
type Query struct {
	// Type is the resource type searched; "" for a system-level search (see Types).
	Type string
	// Types restricts a system-level search (_type).
	Types []string
	// Compartment restricts the search to one compartment ("Patient", id).
	Compartment *Compartment
	// Filters are ANDed; each ORs its values.
	Filters []*Filter
	Sort    []Sort
	// Count is the page size; 0 means the server default.
	Count int
	// Cursor continues from a previous page (opaque, made by the store).
	Cursor   string
	Includes []Include
	// Total is "none", "estimate" or "accurate" ("" = accurate).
	Total string
	// Summary is "", "true", "count", "data", "text" or "false"; Elements lists _elements.
	Summary  string
	Elements []string
}

// Compartment names a compartment instance, e.g. Patient/123.
type Compartment struct {
	Type, ID string
}

// Sort is one _sort key.
type Sort struct {
	Param *definitions.SearchParam
	Desc  bool
}

// Include is one _include or _revinclude.
type Include struct {
	// Reverse marks _revinclude: resources of SourceType whose Param references a match.
	Reverse bool
	// SourceType and Param name the reference parameter (Observation:subject); Param "*"
	// means every reference parameter of SourceType.
	SourceType string
	Param      string
	// TargetType optionally restricts the referenced type (Observation:subject:Patient).
	TargetType string
	Iterate    bool
}

// Filter is one search parameter occurrence (name[:modifier]=v1,v2,…): its values are ORed.
type Filter struct {
	// Param is the parameter's definition (including _id and _lastUpdated).
	Param *definitions.SearchParam
	// ResourceType is the type Param applies to (the searched type, or a chain's target).
	ResourceType string
	// Modifier without the colon: exact, contains, missing, not, text, above, below,
	// identifier, in, not-in, of-type, or a resource type for references.
	Modifier string
	Values   []Value
	// Chain, when set, applies to the resources this reference parameter points at
	// (subject:Patient.name=x): Values is empty and Chain filters the targets.
	Chain *Filter
	// Has, when set, is a reverse chain (_has:Type:param:filter).
	Has *Has
}

// Has is a reverse chain: there exists a resource of Type whose reference parameter Param
// points at the candidate and which matches Filter.
type Has struct {
	Type   string
	Param  *definitions.SearchParam
	Filter *Filter
}

// Value is one search value, decoded for its parameter's type.
type Value struct {
	// Raw is the value as written (unescaped).
	Raw string
	// Prefix for ordered types (eq, ne, gt, lt, ge, le, sa, eb, ap); "" means eq.
	Prefix string
	// Token: System|Code; HasSystem distinguishes "|code" (no system) from "code" (any).
	System    string
	Code      string
	HasSystem bool
	// Date (µs since epoch) and number/quantity ranges implied by the value's precision.
	DateLo, DateHi int64
	Number         float64
	NumLo, NumHi   float64
	// Reference: Type/ID for a literal reference, URL for absolute or canonical ones.
	RefType, RefID, URL string
	// Composite components, in the parameter's order.
	Parts []Value
	// Missing is the :missing value.
	Missing bool
	// Codes are the codes, by system, that a token value with :in, :not-in, :above or
	// :below stands for, filled in from the terminology before the search runs (Resolve).
	// Nil until then; an empty non-nil map matches nothing.
	Codes map[string][]string
}

// NeedsCodes reports whether f's values must be resolved to code lists by a terminology
// service before a store can run it.
func (f *Filter) NeedsCodes() bool {
	if f.Param == nil || f.Param.Type != "token" {
		return false
	}
	switch f.Modifier {
	case "in", "not-in", "above", "below":
		return true
	}
	return false
}

// Resolve calls resolve for every filter of q (chained and reverse-chained ones included)
// that NeedsCodes, so it can fill in each value's Codes.
func (q *Query) Resolve(resolve func(f *Filter) error) error {
	var walk func(f *Filter) error
	walk = func(f *Filter) error {
		switch {
		case f == nil:
			return nil
		case f.Chain != nil:
			return walk(f.Chain)
		case f.Has != nil:
			return walk(f.Has.Filter)
		case f.NeedsCodes():
			return resolve(f)
		}
		return nil
	}
	for _, f := range q.Filters {
		if err := walk(f); err != nil {
			return err
		}
	}
	return nil
}
