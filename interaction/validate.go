package interaction

import (
	"context"
	"errors"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/store"
)

// validate is $validate at type level (POST Type/$validate) and instance level
// (Type/id/$validate: POST with the resource to check, or GET to check the stored version).
// The body is the resource itself or a Parameters resource with "resource", "mode" and
// "profile". Validation that runs answers 200 with its OperationOutcome whatever it finds;
// input that cannot be read as a resource is a 400, as for any write.
func (s *Service) validate(ctx context.Context, req *Request, typ, id string) *Response {
	var res *fhir.Resource
	profile, mode := req.Query.Get("profile"), req.Query.Get("mode")
	switch {
	case req.Method == "GET" || (len(req.Body) == 0 && req.Resource == nil && id != ""):
		rec, err := s.store.Read(ctx, typ, id)
		if err != nil {
			return s.readResponse(req, nil, err)
		}
		r, err := fhir.Parse(rec.Body)
		if err != nil {
			return failure(err)
		}
		res = r
	default:
		body, err := fhir.Parse(req.Body)
		if err != nil {
			return failure(fhir.AsError(err))
		}
		if body.Type == "Parameters" {
			for _, p := range body.Root.Child("parameter") {
				switch p.Text("name") {
				case "resource":
					if r := p.First("resource"); r != nil {
						res = &fhir.Resource{Type: r.Type, ID: r.Text("id"), Root: r}
					}
				case "mode":
					mode = p.Text("valueCode")
				case "profile":
					profile = p.Text("valueUri") + p.Text("valueCanonical")
				}
			}
			if res == nil {
				return failure(fhir.Errorf(400, fhir.IssueRequired, "the Parameters have no resource to validate"))
			}
		} else {
			res = body
		}
	}
	if res.Type != typ {
		return failure(fhir.Errorf(400, fhir.IssueInvalid, "resourceType %s does not match the URL's type %s", res.Type, typ))
	}
	switch mode {
	case "", "create", "update", "delete":
	default:
		return failure(fhir.Errorf(400, fhir.IssueInvalid, "unknown $validate mode %q", mode))
	}
	if mode == "update" && id != "" && res.ID != id {
		return failure(fhir.Errorf(400, fhir.IssueInvalid, "mode update: the resource id %q is not %q", res.ID, id))
	}
	if mode == "delete" {
		// Nothing stops the delete of a stored resource yet (no referential integrity checks):
		// the answer is whether there is one to delete.
		if _, err := s.store.Read(ctx, typ, id); err != nil && !errors.Is(err, store.ErrGone) {
			return s.readResponse(req, nil, err)
		}
		return &Response{Status: 200, Body: fhir.OperationOutcome()}
	}
	v, err := s.getValidator()
	if err != nil {
		return failure(err)
	}
	if profile != "" {
		// A profile that is not loaded is an error issue in the outcome, not a failed call.
		return &Response{Status: 200, Body: fhir.OperationOutcome(v.ValidateProfiles(res, profile)...)}
	}
	return &Response{Status: 200, Body: fhir.OperationOutcome(v.Validate(res)...)}
}
