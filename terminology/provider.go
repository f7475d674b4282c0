package terminology

import (
	"context"
	"errors"
)

// CodeSystemProvider answers for one version of one code system. FHIR CodeSystem resources
// are held as providers; a large external system (SNOMED CT, dm+d, ICD-10) implements it
// over its own store. Implementations must be safe for concurrent use, and must not call
// back into the Service: value sets are compiled under its lock.
type CodeSystemProvider interface {
	// URL is the code system's canonical URL (Coding.system).
	URL() string
	// Version is the code system version, "" when it has none.
	Version() string
	// Complete reports whether the provider knows every code of the system: when false, a
	// code it does not find may still exist, so no decision can be made about it.
	Complete() bool
	// CaseSensitive reports whether codes differing only in case are different codes.
	CaseSensitive() bool
	// Lookup finds a concept by code.
	Lookup(ctx context.Context, code string) (Concept, bool, error)
	// Filter prepares one ValueSet.compose filter (property, op as in the FHIR
	// filter-operator code system, value). An error says the provider cannot evaluate it.
	Filter(ctx context.Context, property, op, value string) (ConceptFilter, error)
	// Concepts calls yield for each concept in the system's order until yield returns
	// false. A provider too large to list returns an error wrapping ErrNotEnumerable.
	Concepts(ctx context.Context, yield func(Concept) bool) error
}

// ConceptFilter is a prepared filter over one code system.
type ConceptFilter interface {
	// Match reports whether the concept with this code passes the filter.
	Match(ctx context.Context, code string) (bool, error)
	// Concepts calls yield for each concept that passes, like CodeSystemProvider.Concepts.
	Concepts(ctx context.Context, yield func(Concept) bool) error
}

// ErrUnsupportedFilter is wrapped by providers for a filter property or operator they do
// not implement.
var ErrUnsupportedFilter = errors.New("filter not supported")
