package access

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Scope is one OAuth scope. A SMART resource scope (patient/…, user/…, system/…) has a
// Context; every other scope (openid, launch/patient, an issuer's own) has only Name.
type Scope struct {
	Name         string     // as written in the token
	Context      string     // "patient", "user" or "system"; "" for other scopes
	ResourceType string     // a FHIR resource type or "*"
	Actions      string     // granted interactions as SMART v2 letters, in "cruds" order
	Params       url.Values // v2 restrictions: the resource must match every parameter
}

// Scopes is the set of scopes a token carries.
//
// Scopes are an upper bound that nothing widens: enforcement must grant the intersection of
// what the scopes allow and what the sharing agreements allow for the principal's
// organisation, role and purpose, and apply a scope's Params as extra search filters ANDed
// with the request's own. A request can narrow its scopes (by asking for less) but no
// header, query parameter, agreement or launch context may add a resource type, action or
// patient the scopes do not grant. A patient/ scope is further confined to the compartment
// of the principal's Patient; with no Patient in context it grants nothing.
type Scopes []Scope

// Scope contexts.
const (
	ContextPatient = "patient"
	ContextUser    = "user"
	ContextSystem  = "system"
)

const actionOrder = "cruds"

var resourceTypeName = regexp.MustCompile(`^[A-Z][A-Za-z]{0,63}$`)

// ParseScopes parses a space-separated scope string (the "scope" claim). Malformed SMART
// resource scopes are errors, not ignored, so a typo cannot silently change what a token
// grants; scopes outside SMART's grammar are kept by name and grant no resource access.
func ParseScopes(s string) (Scopes, error) {
	fields := strings.Fields(s)
	out := make(Scopes, 0, len(fields))
	for _, f := range fields {
		sc, err := ParseScope(f)
		if err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	return out, nil
}

// ParseScope parses one scope: SMART v2 (patient/Observation.rs,
// patient/Observation.rs?category=laboratory, user/*.cruds) or v1 (system/*.read,
// user/Patient.write, patient/*.*, translated to rs, cud and cruds).
func ParseScope(s string) (Scope, error) {
	bad := func(format string, args ...any) (Scope, error) {
		return Scope{}, fmt.Errorf("%w %s: %s", ErrInvalidScope, quote(s), fmt.Sprintf(format, args...))
	}
	ctx, rest, ok := strings.Cut(s, "/")
	if !ok || (ctx != ContextPatient && ctx != ContextUser && ctx != ContextSystem) {
		// openid, fhirUser, launch, launch/patient, offline_access and issuers' own scopes.
		return Scope{Name: s}, nil
	}
	rest, query, hasQuery := strings.Cut(rest, "?")
	typ, actions, ok := strings.Cut(rest, ".")
	if !ok {
		return bad("want %s/Type.actions", ctx)
	}
	if typ != "*" && !resourceTypeName.MatchString(typ) {
		return bad("resource type %s is not a FHIR resource type name or *", quote(typ))
	}
	sc := Scope{Name: s, Context: ctx, ResourceType: typ}
	switch actions {
	case "read":
		sc.Actions = "rs"
	case "write":
		sc.Actions = "cud"
	case "*":
		sc.Actions = actionOrder
	default:
		if actions == "" {
			return bad("no actions after the dot")
		}
		last := -1
		for _, a := range actions {
			i := strings.IndexRune(actionOrder, a)
			switch {
			case i < 0:
				return bad("action %q is not one of c, r, u, d, s", a)
			case i == last:
				return bad("action %q repeated", a)
			case i < last:
				return bad("actions must be in the order c, r, u, d, s")
			}
			last = i
		}
		sc.Actions = actions
	}
	if hasQuery {
		if actions == "read" || actions == "write" || actions == "*" {
			return bad("restrictions need SMART v2 actions (cruds)")
		}
		params, err := url.ParseQuery(query)
		if err != nil {
			return bad("restriction %s: %v", quote(query), err)
		}
		if len(params) == 0 {
			return bad("empty restriction after ?")
		}
		for k, vs := range params {
			if k == "" {
				return bad("restriction without a parameter name")
			}
			for _, v := range vs {
				if v == "" {
					return bad("restriction %s has no value", quote(k))
				}
			}
		}
		sc.Params = params
	}
	return sc, nil
}

// Has reports whether the scopes include name exactly (openid, launch/patient…).
func (s Scopes) Has(name string) bool {
	for _, sc := range s {
		if sc.Name == name {
			return true
		}
	}
	return false
}

// Allows reports whether some scope of the given context (patient, user, system) grants
// action (one of c r u d s) on resourceType, possibly only under restrictions: call
// Restrictions to learn them.
func (s Scopes) Allows(context, resourceType string, action rune) bool {
	_, ok := s.Restrictions(context, resourceType, action)
	return ok
}

// Restrictions returns what the scopes of context grant for action on resourceType. ok is
// false when nothing grants it. Otherwise filters is nil when some scope grants it without
// restriction, else the resource must match at least one of the filters (each a set of
// search parameters that must all match). The filters are the scopes' own: do not modify them.
func (s Scopes) Restrictions(context, resourceType string, action rune) (filters []url.Values, ok bool) {
	if action > 0x7f || !strings.ContainsRune(actionOrder, action) {
		return nil, false
	}
	for _, sc := range s {
		if sc.Context != context || !strings.ContainsRune(sc.Actions, action) ||
			(sc.ResourceType != "*" && sc.ResourceType != resourceType) {
			continue
		}
		if sc.Params == nil {
			return nil, true
		}
		filters = append(filters, sc.Params)
		ok = true
	}
	return filters, ok
}

// HasContext reports whether any resource scope is of the given context.
func (s Scopes) HasContext(context string) bool {
	for _, sc := range s {
		if sc.Context == context {
			return true
		}
	}
	return false
}

// String gives the scopes back as a space-separated list, as written.
func (s Scopes) String() string {
	names := make([]string, len(s))
	for i, sc := range s {
		names[i] = sc.Name
	}
	return strings.Join(names, " ")
}
