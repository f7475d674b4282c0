package interaction

import (
	"context"
	"fmt"
	"net/url"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/search"
	"github.com/concord-health/concord/store"
)

// MatchInTx returns the ids of the resources of a type that a search (a query string such
// as "identifier=sys|val") matches, as the transaction tx sees them.
func (s *Service) MatchInTx(ctx context.Context, tx store.Tx, typ, query string) ([]string, error) {
	vals, err := url.ParseQuery(query)
	if err != nil {
		return nil, err
	}
	q, _, err := search.Parse(s.reg, typ, vals, true)
	if err != nil {
		return nil, err
	}
	if err := s.resolveCodes(ctx, q); err != nil {
		return nil, err
	}
	return tx.Match(ctx, q, maxMatches)
}

// maxMatches bounds the ids MatchInTx and MovePatientData read.
const maxMatches = 100_000

// MovePatientData re-points, in tx, every resource of the Patient compartment of Patient
// from (Encounters, Observations, documents… but not Patients) to Patient to: after a
// merge the surviving record keeps everything the retired one held. It returns the number
// of resources given a new version.
func (s *Service) MovePatientData(ctx context.Context, tx store.Tx, from, to string) (int, error) {
	if from == to {
		return 0, nil
	}
	refs := map[string]string{"Patient/" + from: "Patient/" + to}
	moved := 0
	for _, typ := range s.reg.CompartmentTypes("Patient") {
		if typ == "Patient" {
			continue // links between the two records say what the merge did
		}
		q := &search.Query{Type: typ, Compartment: &search.Compartment{Type: "Patient", ID: from}}
		ids, err := tx.Match(ctx, q, maxMatches)
		if err != nil {
			return moved, fmt.Errorf("%s in the compartment of Patient/%s: %w", typ, from, err)
		}
		for _, id := range ids {
			rec, err := tx.Current(ctx, typ, id)
			if err != nil {
				return moved, err
			}
			res, err := fhir.Parse(rec.Body)
			if err != nil {
				return moved, err
			}
			if err := rewriteRefs(res.Root, refs, nil); err != nil {
				return moved, err
			}
			body := res.Bytes()
			if string(body) == string(rec.Body) {
				continue
			}
			if _, err := tx.Put(ctx, &store.Put{Resource: res, Index: s.index.Extract(res)}); err != nil {
				return moved, err
			}
			moved++
		}
	}
	return moved, nil
}
