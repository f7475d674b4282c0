package access

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestClaimMaps(t *testing.T) {
	cis2Roles := []any{
		map[string]any{"person_orgid": "555254239107", "person_roleid": "555254240100", "org_code": "RBA",
			"role_name": `"Clinical":"Clinical Provision":"Nurse Access Role"`, "role_code": "S8000:G8000:R8001"},
		map[string]any{"person_orgid": "555254239108", "person_roleid": "555254242102", "org_code": "A81001",
			"role_name": `"Clinical":"Clinical Provision":"Clinical Practitioner Access Role"`, "role_code": "S8000:G8000:R8000",
			"activity_codes": []any{"B0570", "B0278"}},
	}
	tests := []struct {
		name     string
		claims   ClaimMap
		set      map[string]any
		drop     []string
		org      string
		role     string
		userName string
		scopes   string
		err      string
	}{
		{name: "CIS2 selected role", claims: CIS2Claims,
			set: map[string]any{"nhsid_nrbac_roles": cis2Roles, "selected_roleid": "555254242102"}, drop: []string{"org", "role"},
			org: "A81001", role: "R8000", userName: "Dr Jane Smith"},
		{name: "CIS2 the other role", claims: CIS2Claims,
			set: map[string]any{"nhsid_nrbac_roles": cis2Roles, "selected_roleid": "555254240100"},
			org: "RBA", role: "R8001"},
		{name: "CIS2 single role, none selected", claims: CIS2Claims,
			set: map[string]any{"nhsid_nrbac_roles": cis2Roles[:1]}, org: "RBA", role: "R8001"},
		{name: "CIS2 two roles, none selected", claims: CIS2Claims,
			set: map[string]any{"nhsid_nrbac_roles": cis2Roles}, err: "lists 2 roles and the token selects none"},
		{name: "CIS2 selection not among the roles", claims: CIS2Claims,
			set: map[string]any{"nhsid_nrbac_roles": cis2Roles, "selected_roleid": "999"}, err: `selected role "999" is not among`},
		{name: "CIS2 roles not an array", claims: CIS2Claims,
			set: map[string]any{"nhsid_nrbac_roles": "R8000"}, err: "want an array of role objects"},
		{name: "CIS2 role without org", claims: CIS2Claims,
			set: map[string]any{"nhsid_nrbac_roles": []any{map[string]any{"person_roleid": "1", "role_code": "R8000"}}}, err: "lacks org_code"},
		{name: "Keycloak realm roles", claims: KeycloakClaims,
			set:  map[string]any{"realm_access": map[string]any{"roles": []any{"offline_access", "uma_authorization", "R8003"}}, "preferred_username": "nurse1"},
			drop: []string{"role", "name"}, org: "A81001", role: "R8003", userName: "nurse1"},
		{name: "Keycloak no NHS role", claims: KeycloakClaims,
			set: map[string]any{"realm_access": map[string]any{"roles": []any{"offline_access", "uma_authorization"}}}, drop: []string{"role"},
			org: "A81001", role: ""},
		{name: "Keycloak two NHS roles", claims: KeycloakClaims,
			set: map[string]any{"realm_access": map[string]any{"roles": []any{"R8000", "R8003"}}}, err: "names 2 job roles (R8000, R8003)"},
		{name: "Entra app roles and scp", claims: EntraClaims,
			set: map[string]any{"roles": []any{"R8000"}, "scp": "user/*.rs"}, drop: []string{"role", "scope"},
			org: "A81001", role: "R8000", scopes: "user/*.rs"},
		{name: "scope as an array", claims: DefaultClaims,
			set: map[string]any{"scope": []any{"user/*.rs", "openid"}}, org: "A81001", role: "R8000", scopes: "user/*.rs openid"},
		{name: "URL-named claim", claims: ClaimMap{Organization: "https://example.org/ods", Role: "role"},
			set: map[string]any{"https://example.org/ods": "RBA"}, org: "RBA", role: "R8000"},
		{name: "role triple in a plain claim", claims: DefaultClaims,
			set: map[string]any{"role": "S8000:G8000:R8001"}, org: "A81001", role: "R8001"},
		{name: "org not a string", claims: DefaultClaims, set: map[string]any{"org": map[string]any{"code": "RBA"}}, err: `claim "org": want a string, got an object`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ti := newTestIssuer(t)
			key := newKey(t, "ES256", "k1")
			ti.publish(t, key)
			v := ti.verifier(t, VerifierConfig{Claims: tc.claims})
			c := ti.claims()
			for _, k := range tc.drop {
				delete(c, k)
			}
			for k, val := range tc.set {
				c[k] = val
			}
			p, err := v.Verify(context.Background(), sign(t, key, "ES256", c))
			if tc.err != "" {
				if !errors.Is(err, ErrClaims) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Organization != tc.org || p.Role != tc.role {
				t.Errorf("org, role = %q, %q; want %q, %q", p.Organization, p.Role, tc.org, tc.role)
			}
			if tc.userName != "" && p.Name != tc.userName {
				t.Errorf("name = %q, want %q", p.Name, tc.userName)
			}
			if tc.scopes != "" && p.Scopes.String() != tc.scopes {
				t.Errorf("scopes = %q, want %q", p.Scopes, tc.scopes)
			}
		})
	}
}

func TestSystemPrincipal(t *testing.T) {
	ti := newTestIssuer(t)
	key := newKey(t, "ES256", "k1")
	ti.publish(t, key)
	v := ti.verifier(t, VerifierConfig{})
	for scope, system := range map[string]bool{
		"system/*.cruds":                true,
		"system/Patient.rs openid":      true,
		"system/*.rs user/*.rs":         false,
		"user/*.rs":                     false,
		"openid":                        false,
		"patient/*.rs system/Patient.r": false,
	} {
		c := ti.claims()
		c["scope"] = scope
		p, err := v.Verify(context.Background(), sign(t, key, "ES256", c))
		if err != nil {
			t.Fatal(err)
		}
		if p.System != system {
			t.Errorf("scope %q: System = %v", scope, p.System)
		}
	}
}
