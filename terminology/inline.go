package terminology

import (
	"context"
	"errors"

	"github.com/concord-health/concord/fhir"
)

// InlineValueSet is a ValueSet resource compiled for one request ($expand or
// $validate-code given the value set itself) against the Service's code systems and value
// sets, without being held.
type InlineValueSet struct {
	cv *compiled
}

// inlineURL names an inline value set that has no url of its own in messages.
const inlineURL = "(inline value set)"

// CompileValueSet compiles a ValueSet resource without holding it.
func (s *Service) CompileValueSet(ctx context.Context, res *fhir.Resource) (*InlineValueSet, error) {
	if res == nil || res.Root == nil || res.Type != "ValueSet" {
		return nil, errors.New("terminology: not a ValueSet")
	}
	root := res.Root
	if root.Text("url") == "" {
		// Clients often send an inline value set without a url; a stand-in lets it be read
		// like any other. The copy shares the children, which are not modified.
		c := *root
		c.Children = append([]*fhir.Node{{Name: "url", Type: "uri", Value: inlineURL}}, root.Children...)
		root = &c
	}
	vs, err := newValueSet(root)
	if err != nil {
		return nil, err
	}
	cv := &compiled{url: vs.url, version: vs.version, deps: map[string]struct{}{}}
	s.mu.RLock()
	defer s.mu.RUnlock()
	c := &compiler{s: s, inProgress: map[string]bool{vs.url + "|" + vs.version: true}}
	c.build(ctx, cv, vs)
	return &InlineValueSet{cv: cv}, nil
}

// Expand lists the value set's codes, as Service.Expand.
func (v *InlineValueSet) Expand(opts ExpandOptions) (*Expansion, error) {
	// Only an implicit value set lists lazily under a context, and an inline one never is.
	return v.cv.expand(context.Background(), opts)
}

// ValidateCode checks a coding against the value set, as Service.ValidateCode.
func (v *InlineValueSet) ValidateCode(ctx context.Context, c Coding) Result {
	return v.cv.validate(ctx, c)
}

// ValidateCodeableConcept checks the codings of a CodeableConcept, as
// Service.ValidateCodeableConcept.
func (v *InlineValueSet) ValidateCodeableConcept(ctx context.Context, codings []Coding) Result {
	return v.cv.validateConcept(ctx, v.cv.url, codings)
}
