package interaction

import (
	"context"
	"errors"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/search"
	"github.com/concord-health/concord/terminology"
)

// maxSearchCodes bounds the codes one :in, :not-in, :above or :below value may stand for.
// A SNOMED CT branch as broad as "clinical finding" (about 100,000 concepts in the UK
// edition) still fits; a search over more is refused as too costly rather than run.
const maxSearchCodes = 250_000

// resolveCodes fills in the codes each terminology-dependent token filter of q stands for:
// the members of a value set (:in, :not-in), or a code with its descendants (:below) or
// ancestors (:above) in its code system.
func (s *Service) resolveCodes(ctx context.Context, q *search.Query) error {
	return q.Resolve(func(f *search.Filter) error {
		ts, err := s.getTerminology()
		if err != nil {
			return fhir.Errorf(500, fhir.IssueException, "terminology: %v", err)
		}
		for i := range f.Values {
			v := &f.Values[i]
			key := f.Param.Code + ":" + f.Modifier
			switch f.Modifier {
			case "in", "not-in":
				codes, err := ts.CodesIn(ctx, v.Raw, maxSearchCodes)
				if err != nil {
					return searchTermError(key, err)
				}
				v.Codes = codes
			case "above", "below":
				codes, err := ts.CodesRelated(ctx, v.System, v.Code, f.Modifier == "above", maxSearchCodes)
				if err != nil {
					return searchTermError(key, err)
				}
				v.Codes = map[string][]string{v.System: codes}
			}
		}
		return nil
	})
}

// searchTermError explains why a search's terminology could not be resolved: the client
// named something not held or not listable, which is a bad search, not a server fault.
func searchTermError(key string, err error) *fhir.Error {
	switch {
	case errors.Is(err, terminology.ErrTooManyCodes), errors.Is(err, terminology.ErrNotEnumerable):
		return fhir.Errorf(400, fhir.IssueTooCostly, "search parameter %s: %v", key, err)
	case errors.Is(err, terminology.ErrUnknownCodeSystem), errors.Is(err, terminology.ErrUnknownValueSet),
		errors.Is(err, terminology.ErrUnsupportedFilter), errors.Is(err, terminology.ErrInvalidValueSet),
		errors.Is(err, terminology.ErrCircular):
		return fhir.Errorf(400, fhir.IssueNotSupported, "search parameter %s: %v", key, err)
	}
	return fhir.Errorf(500, fhir.IssueException, "search parameter %s: %v", key, err)
}
