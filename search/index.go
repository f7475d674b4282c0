// Package search turns FHIR search into data: it extracts the index rows of a resource from
// the official SearchParameter expressions, and parses a search URL into a Query that a store
// backend compiles into its own query language.
package search

import "hash/fnv"

// ParamID identifies the search parameter `code` as it applies to `resourceType` in index
// rows. It is a 63-bit FNV-1a hash of "Type.code", so index tables store a small integer
// instead of the code, and a parameter's id never depends on load order.
func ParamID(resourceType, code string) int64 {
	h := fnv.New64a()
	h.Write([]byte(resourceType))
	h.Write([]byte{'.'})
	h.Write([]byte(code))
	return int64(h.Sum64() >> 1)
}

// TextParamID is the parameter id under which the display texts of a token parameter
// (CodeableConcept.text, Coding.display, Identifier.type.text) are indexed as strings, for
// the :text modifier.
func TextParamID(resourceType, code string) int64 { return ParamID(resourceType, code+":text") }

// IdentifierParamID is the parameter id under which the identifiers of a reference parameter
// (Reference.identifier) are indexed as tokens, for the :identifier modifier.
func IdentifierParamID(resourceType, code string) int64 {
	return ParamID(resourceType, code+":identifier")
}

// Index is every index row of one resource. Rows carry a parameter id (ParamID); the store
// adds the resource's row key.
type Index struct {
	Strings    []StringRow
	Tokens     []TokenRow
	Dates      []DateRow
	Numbers    []NumberRow
	Quantities []QuantityRow
	References []ReferenceRow
	URIs       []URIRow
	Composites []CompositeRow
	// Patients lists the ids of the patients whose compartment holds the resource (its own id
	// for a Patient).
	Patients []string
}

// StringRow is a string value. Norm is lower-cased with accents and punctuation folded, for
// the default (starts-with) and :contains matches; Exact is the value as written, for :exact.
type StringRow struct {
	Param int64
	Norm  string
	Exact string
}

// TokenRow is one coded value: Coding, Identifier, ContactPoint (system ""), code, boolean,
// id or string. System is "" when the value has none.
type TokenRow struct {
	Param  int64
	System string
	Code   string
}

// DateRow is the instant range a date, dateTime, instant, Period or Timing covers, in
// microseconds since the Unix epoch (UTC), both ends inclusive. A date value covers its whole
// precision ("2020-03" covers the month); an open Period end is math.MaxInt64 (or MinInt64 for
// an open start).
type DateRow struct {
	Param  int64
	Lo, Hi int64
}

// NumberRow is a number with the range its written precision implies ("100" covers
// [99.5, 100.5)); Value is the number itself, for sorting and eq on exact values.
type NumberRow struct {
	Param  int64
	Value  float64
	Lo, Hi float64
}

// QuantityRow is a Quantity (or Money, with System "urn:iso:std:iso:4217" and Code the
// currency). Code is the coded unit, Unit the human unit text.
type QuantityRow struct {
	Param  int64
	System string
	Code   string
	Unit   string
	Value  float64
	Lo, Hi float64
}

// ReferenceRow is a reference to another resource. For a literal relative or absolute
// reference to a resource on this server TargetType and TargetID are set; URL holds absolute
// and canonical references as written (canonical without its |version, in Version).
type ReferenceRow struct {
	Param      int64
	TargetType string
	TargetID   string
	URL        string
	Version    string
}

// URIRow is a uri, url, canonical or oid value.
type URIRow struct {
	Param int64
	URI   string
}

// CompositeRow is one value of a composite parameter: its components, taken from the same
// element, in the definition's order.
type CompositeRow struct {
	Param int64
	Parts []CompositePart
}

// CompositePart is one component of a composite value. Token and reference components use
// System/Code (a reference as Code "Type/id"), string and uri components Code (strings
// normalized as StringRow.Norm), and number, quantity and date components Lo/Hi (dates in
// microseconds), with System/Code holding a quantity's unit.
type CompositePart struct {
	System string
	Code   string
	Lo, Hi float64
}
