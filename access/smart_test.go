package access

import (
	"encoding/json"
	"slices"
	"testing"
)

func smartDoc(t *testing.T, p *ProviderMetadata, asserted ...string) map[string]any {
	t.Helper()
	b, err := SMARTConfiguration(p, asserted...)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func capabilities(doc map[string]any) []string {
	var out []string
	for _, c := range doc["capabilities"].([]any) {
		out = append(out, c.(string))
	}
	return out
}

func TestSMARTConfigurationDevIssuer(t *testing.T) {
	d, err := OpenDevIssuer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	doc := smartDoc(t, d.Metadata("http://127.0.0.1:8080"))
	if got, want := capabilities(doc), []string{"permission-patient", "permission-user", "permission-v1", "permission-v2"}; !slices.Equal(got, want) {
		t.Errorf("capabilities %v, want %v", got, want)
	}
	for _, absent := range []string{"authorization_endpoint", "token_endpoint", "issuer"} {
		if _, ok := doc[absent]; ok {
			t.Errorf("%s advertised by an issuer without it", absent)
		}
	}
	if doc["jwks_uri"] != "http://127.0.0.1:8080/.well-known/jwks.json" {
		t.Errorf("jwks_uri %v", doc["jwks_uri"])
	}
	if _, err := SMARTConfiguration(d.Metadata("http://127.0.0.1:8080"), "launch-ehr"); err == nil {
		t.Error("launch-ehr asserted for an issuer with no authorization endpoint")
	}
}

func TestSMARTConfigurationExternal(t *testing.T) {
	keycloak := &ProviderMetadata{
		Issuer:                            "https://kc.example/realms/nhs",
		JWKSURI:                           "https://kc.example/realms/nhs/protocol/openid-connect/certs",
		AuthorizationEndpoint:             "https://kc.example/realms/nhs/protocol/openid-connect/auth",
		TokenEndpoint:                     "https://kc.example/realms/nhs/protocol/openid-connect/token",
		RevocationEndpoint:                "https://kc.example/realms/nhs/protocol/openid-connect/revoke",
		ScopesSupported:                   []string{"openid", "offline_access", "profile"},
		ResponseTypesSupported:            []string{"code", "id_token"},
		GrantTypesSupported:               []string{"authorization_code", "implicit", "refresh_token", "password", "client_credentials"},
		TokenEndpointAuthMethodsSupported: []string{"private_key_jwt", "client_secret_basic", "client_secret_post", "none"},
		CodeChallengeMethodsSupported:     []string{"plain", "S256"},
	}
	doc := smartDoc(t, keycloak, "launch-ehr", "context-ehr-patient")
	want := []string{"launch-ehr", "launch-standalone", "client-public", "client-confidential-symmetric", "client-confidential-asymmetric",
		"sso-openid-connect", "context-ehr-patient", "permission-offline", "permission-patient", "permission-user", "permission-v1", "permission-v2"}
	if got := capabilities(doc); !slices.Equal(got, want) {
		t.Errorf("capabilities\n got %v\nwant %v", got, want)
	}
	if got := doc["code_challenge_methods_supported"].([]any); len(got) != 1 || got[0] != "S256" {
		t.Errorf("PKCE methods %v: plain must not be advertised", got)
	}
	if got := doc["grant_types_supported"].([]any); len(got) != 3 {
		t.Errorf("grant types %v: want authorization_code, refresh_token, client_credentials", got)
	}
	if doc["issuer"] != keycloak.Issuer || doc["token_endpoint"] != keycloak.TokenEndpoint {
		t.Errorf("doc %v", doc)
	}

	// No PKCE advertised: no launch, until the operator says the issuer does S256.
	entra := *keycloak
	entra.CodeChallengeMethodsSupported = nil
	entra.TokenEndpointAuthMethodsSupported = nil
	got := capabilities(smartDoc(t, &entra))
	if slices.Contains(got, "launch-standalone") || !slices.Contains(got, "client-confidential-symmetric") || slices.Contains(got, "client-public") {
		t.Errorf("without PKCE: %v", got)
	}
	if _, err := SMARTConfiguration(&entra, "launch-ehr"); err == nil {
		t.Error("launch-ehr without PKCE S256 accepted")
	}
	entra.CodeChallengeMethodsSupported = []string{"S256"}
	if got := capabilities(smartDoc(t, &entra)); !slices.Contains(got, "launch-standalone") {
		t.Errorf("with S256: %v", got)
	}
	if _, err := SMARTConfiguration(keycloak, "launch-everything"); err == nil {
		t.Error("unknown capability accepted")
	}
}
