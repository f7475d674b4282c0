package access

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Principal is who a verified token speaks for, and in what capacity.
type Principal struct {
	Subject      string // sub: the user, or the client of a system token
	Name         string
	Organization string // ODS code of the organisation the user acts for
	Role         string // NHS national RBAC job role code, e.g. R8000
	Purpose      string // v3 PurposeOfUse code: TREAT, ETREAT (break-glass)…
	Patient      string // SMART launch context: the patient the app was launched for
	Scopes       Scopes
	System       bool // a backend service (only system/ scopes), not a person
	Issuer       string
	TokenID      string // jti, for audit and replay checks
	Expires      time.Time
}

// ClaimMap says which claims of a token carry the principal's details. Each field names a
// claim, or a path into nested objects with dots ("realm_access.roles"); a field may list
// alternatives separated by commas, the first present wins. An empty field is not mapped.
//
// A role claim may be a string or an array of strings: from an array the one NHS national
// RBAC job role code (R followed by four digits) is taken; a token naming several is refused
// as ambiguous. A role written as an NHS role triple (S8000:G8000:R8000) gives its job role.
type ClaimMap struct {
	Organization string
	Role         string
	Purpose      string
	Patient      string
	Name         string
	Scope        string // default "scope"

	// RoleList names a claim holding an NHS CIS2-style array of role objects
	// ({"person_roleid", "org_code", "role_code"…}); when set, the organisation and role come
	// from the entry whose person_roleid equals the SelectedRole claim (or the only entry),
	// and Organization and Role are not read.
	RoleList     string
	SelectedRole string
}

// Claim maps for common issuers.
var (
	// DefaultClaims reads the tokens of this project's own issuer (concord token).
	DefaultClaims = ClaimMap{
		Organization: "org",
		Role:         "role",
		Purpose:      "purpose",
		Patient:      "patient,launch_patient",
		Name:         "name",
		Scope:        "scope",
	}
	// CIS2Claims reads NHS Care Identity Service 2: nhsid_nrbac_roles (from the
	// nationalrbacaccess scope) and selected_roleid (from the selectedrole scope). CIS2 gives
	// nhsid_nrbac_roles through its UserInfo endpoint; the gateway or authorisation server in
	// front of Concord must copy both into the access token.
	CIS2Claims = ClaimMap{
		RoleList:     "nhsid_nrbac_roles",
		SelectedRole: "selected_roleid",
		Purpose:      "purpose",
		Patient:      "patient,launch_patient",
		Name:         "name",
		Scope:        "scope",
	}
	// KeycloakClaims reads Keycloak: realm roles, and the ODS code from a user attribute
	// mapped to an "org" claim.
	KeycloakClaims = ClaimMap{
		Organization: "org",
		Role:         "realm_access.roles",
		Purpose:      "purpose",
		Patient:      "patient,launch_patient",
		Name:         "name,preferred_username",
		Scope:        "scope",
	}
	// EntraClaims reads Microsoft Entra ID: app roles in "roles", delegated scopes in
	// "scp", and the ODS code from an optional claim or directory extension mapped to "org".
	EntraClaims = ClaimMap{
		Organization: "org",
		Role:         "roles",
		Purpose:      "purpose",
		Patient:      "patient,launch_patient",
		Name:         "name",
		Scope:        "scp,scope",
	}
)

var jobRoleCode = regexp.MustCompile(`^R[0-9]{4}$`)

// lookup finds the first present alternative of spec in claims.
func lookup(claims map[string]any, spec string) (string, any, bool) {
	for _, name := range strings.Split(spec, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		// A claim named with dots (a URL-named custom claim) wins over a nested path.
		if v, ok := claims[name]; ok && v != nil {
			return name, v, true
		}
		var cur any = claims
		found := true
		for _, part := range strings.Split(name, ".") {
			m, ok := cur.(map[string]any)
			if !ok {
				found = false
				break
			}
			if cur, ok = m[part]; !ok || cur == nil {
				found = false
				break
			}
		}
		if found {
			return name, cur, true
		}
	}
	return "", nil, false
}

// stringClaim reads a claim that must be one string (a one-element array is accepted).
func stringClaim(claims map[string]any, spec string) (string, error) {
	name, v, ok := lookup(claims, spec)
	if !ok {
		return "", nil
	}
	switch v := v.(type) {
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case []any:
		if len(v) == 1 {
			if s, ok := v[0].(string); ok {
				return s, nil
			}
		}
		return "", fmt.Errorf("claim %s: want one string, got %d values", quote(name), len(v))
	}
	return "", fmt.Errorf("claim %s: want a string, got %s", quote(name), jsonKind(v))
}

// roleClaim reads a role from a string or an array of strings.
func roleClaim(claims map[string]any, spec string) (string, error) {
	name, v, ok := lookup(claims, spec)
	if !ok {
		return "", nil
	}
	switch v := v.(type) {
	case string:
		return jobRole(v), nil
	case []any:
		var roles []string
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return "", fmt.Errorf("claim %s: want strings, got %s", quote(name), jsonKind(e))
			}
			if len(v) == 1 || jobRoleCode.MatchString(jobRole(s)) {
				roles = append(roles, jobRole(s))
			}
		}
		switch len(roles) {
		case 0:
			return "", nil
		case 1:
			return roles[0], nil
		}
		return "", fmt.Errorf("claim %s names %d job roles (%s) and the token selects none", quote(name), len(roles), strings.Join(roles, ", "))
	}
	return "", fmt.Errorf("claim %s: want a string or an array of strings, got %s", quote(name), jsonKind(v))
}

// jobRole takes the job role code out of an NHS role triple (S8000:G8000:R8000); other
// values are kept as they are.
func jobRole(code string) string {
	code = strings.TrimSpace(code)
	if !strings.Contains(code, ":") {
		return code
	}
	parts := strings.Split(code, ":")
	for i := len(parts) - 1; i >= 0; i-- {
		if jobRoleCode.MatchString(parts[i]) {
			return parts[i]
		}
	}
	return code
}

// cis2Role picks the selected entry of a CIS2 role list and returns its ODS code and job role.
func cis2Role(claims map[string]any, listSpec, selectedSpec string) (org, role string, err error) {
	name, v, ok := lookup(claims, listSpec)
	if !ok {
		return "", "", nil
	}
	list, ok := v.([]any)
	if !ok {
		return "", "", fmt.Errorf("claim %s: want an array of role objects, got %s", quote(name), jsonKind(v))
	}
	selected := ""
	if selectedSpec != "" {
		if selected, err = stringClaim(claims, selectedSpec); err != nil {
			return "", "", err
		}
	}
	var chosen map[string]any
	for i, e := range list {
		entry, ok := e.(map[string]any)
		if !ok {
			return "", "", fmt.Errorf("claim %s[%d]: want a role object, got %s", quote(name), i, jsonKind(e))
		}
		id, _ := entry["person_roleid"].(string)
		if selected != "" && id == selected {
			chosen = entry
			break
		}
	}
	switch {
	case chosen != nil:
	case selected != "":
		return "", "", fmt.Errorf("selected role %s is not among the %d roles of claim %s", quote(selected), len(list), quote(name))
	case len(list) == 1:
		chosen, _ = list[0].(map[string]any)
	case len(list) == 0:
		return "", "", nil
	default:
		return "", "", fmt.Errorf("claim %s lists %d roles and the token selects none", quote(name), len(list))
	}
	org, _ = chosen["org_code"].(string)
	code, _ := chosen["role_code"].(string)
	if org == "" || code == "" {
		return "", "", fmt.Errorf("the selected role of claim %s lacks org_code or role_code", quote(name))
	}
	return org, jobRole(code), nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// mapClaims fills the principal's details from verified claims.
func (m ClaimMap) mapClaims(claims map[string]any, p *Principal) error {
	var err error
	if p.Name, err = stringClaim(claims, m.Name); err != nil {
		return err
	}
	if p.Purpose, err = stringClaim(claims, m.Purpose); err != nil {
		return err
	}
	if p.Patient, err = stringClaim(claims, m.Patient); err != nil {
		return err
	}
	if m.RoleList != "" {
		if p.Organization, p.Role, err = cis2Role(claims, m.RoleList, m.SelectedRole); err != nil {
			return err
		}
	} else {
		if p.Organization, err = stringClaim(claims, m.Organization); err != nil {
			return err
		}
		if p.Role, err = roleClaim(claims, m.Role); err != nil {
			return err
		}
	}
	scopeSpec := m.Scope
	if scopeSpec == "" {
		scopeSpec = "scope"
	}
	if name, v, ok := lookup(claims, scopeSpec); ok {
		var text string
		switch v := v.(type) {
		case string:
			text = v
		case []any: // some issuers (Okta, Entra's scp in places) give an array
			parts := make([]string, 0, len(v))
			for _, e := range v {
				s, ok := e.(string)
				if !ok {
					return fmt.Errorf("claim %s: want strings, got %s", quote(name), jsonKind(e))
				}
				parts = append(parts, s)
			}
			text = strings.Join(parts, " ")
		default:
			return fmt.Errorf("claim %s: want a space-separated string, got %s", quote(name), jsonKind(v))
		}
		if p.Scopes, err = ParseScopes(text); err != nil {
			return err
		}
	}
	p.System = p.Scopes.HasContext(ContextSystem) &&
		!p.Scopes.HasContext(ContextUser) && !p.Scopes.HasContext(ContextPatient)
	return nil
}
