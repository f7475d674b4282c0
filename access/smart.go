package access

import (
	"encoding/json"
	"fmt"
	"slices"
)

// SMART App Launch capabilities (https://hl7.org/fhir/smart-app-launch/conformance.html),
// in the order the configuration lists them.
var smartCapabilities = []string{
	"launch-ehr", "launch-standalone", "authorize-post",
	"client-public", "client-confidential-symmetric", "client-confidential-asymmetric",
	"sso-openid-connect",
	"context-banner", "context-style",
	"context-ehr-patient", "context-ehr-encounter",
	"context-standalone-patient", "context-standalone-encounter",
	"permission-offline", "permission-online",
	"permission-patient", "permission-user", "permission-v1", "permission-v2",
}

// SMARTConfiguration returns the document served at the FHIR base's
// /.well-known/smart-configuration, describing the issuer p (a Verifier's Metadata, or the
// development issuer's).
//
// Only what is true is advertised. From the issuer's discovery document come the
// endpoints, grant types, PKCE methods (never "plain") and the capabilities they imply:
// client-public (token endpoint auth "none"), client-confidential-symmetric
// (client_secret_basic or _post; the OpenID default when none is listed),
// client-confidential-asymmetric (private_key_jwt), sso-openid-connect and
// launch-standalone (an authorization endpoint with the code grant and PKCE S256),
// permission-offline (refresh tokens and offline_access). Concord itself honours SMART v1
// and v2 patient and user scopes, hence permission-v1, -v2, -patient and -user. What an
// issuer cannot announce in OpenID terms — launch-ehr, the context-* capabilities,
// authorize-post, permission-online — must be asserted by the operator who configured it;
// an unknown or impossible assertion is an error. The development issuer has no
// authorization or token endpoint (tokens come from `concord token`), so its configuration
// names no OAuth flow at all. An issuer that supports PKCE without saying so can be
// described by setting p.CodeChallengeMethodsSupported before the call.
func SMARTConfiguration(p *ProviderMetadata, asserted ...string) ([]byte, error) {
	has := map[string]bool{"permission-v1": true, "permission-v2": true, "permission-patient": true, "permission-user": true}

	grants := []string{}
	declared := p.GrantTypesSupported
	if len(declared) == 0 && p.AuthorizationEndpoint != "" {
		declared = []string{"authorization_code"} // the OpenID Connect default, less implicit
	}
	for _, g := range declared {
		if g == "authorization_code" || g == "client_credentials" || g == "refresh_token" {
			grants = append(grants, g)
		}
	}
	pkce := []string{}
	for _, m := range p.CodeChallengeMethodsSupported {
		if m == "S256" { // SMART forbids "plain"
			pkce = append(pkce, m)
		}
	}
	codeFlow := p.AuthorizationEndpoint != "" && p.TokenEndpoint != "" && slices.Contains(grants, "authorization_code")
	if codeFlow && len(pkce) > 0 {
		has["launch-standalone"] = true
		has["sso-openid-connect"] = true
	}
	if p.TokenEndpoint != "" {
		methods := p.TokenEndpointAuthMethodsSupported
		if len(methods) == 0 {
			methods = []string{"client_secret_basic"}
		}
		for _, m := range methods {
			switch m {
			case "none":
				has["client-public"] = true
			case "client_secret_basic", "client_secret_post":
				has["client-confidential-symmetric"] = true
			case "private_key_jwt":
				has["client-confidential-asymmetric"] = true
			}
		}
		if slices.Contains(grants, "refresh_token") && slices.Contains(p.ScopesSupported, "offline_access") {
			has["permission-offline"] = true
		}
	}
	for _, c := range asserted {
		if !slices.Contains(smartCapabilities, c) {
			return nil, fmt.Errorf("access: %s is not a SMART capability", quote(c))
		}
		switch c {
		case "launch-ehr", "launch-standalone", "authorize-post", "sso-openid-connect",
			"context-ehr-patient", "context-ehr-encounter", "context-standalone-patient", "context-standalone-encounter",
			"context-banner", "context-style", "permission-online", "permission-offline":
			if !codeFlow || len(pkce) == 0 {
				return nil, fmt.Errorf("access: %s needs an issuer with an authorization endpoint, a token endpoint, the code grant and PKCE S256", c)
			}
		case "client-public", "client-confidential-symmetric", "client-confidential-asymmetric":
			if p.TokenEndpoint == "" {
				return nil, fmt.Errorf("access: %s needs an issuer with a token endpoint", c)
			}
		}
		has[c] = true
	}
	caps := []string{}
	for _, c := range smartCapabilities {
		if has[c] {
			caps = append(caps, c)
		}
	}

	doc := struct {
		Issuer                            string   `json:"issuer,omitempty"`
		JWKSURI                           string   `json:"jwks_uri,omitempty"`
		AuthorizationEndpoint             string   `json:"authorization_endpoint,omitempty"`
		TokenEndpoint                     string   `json:"token_endpoint,omitempty"`
		GrantTypesSupported               []string `json:"grant_types_supported"`
		TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported,omitempty"`
		RegistrationEndpoint              string   `json:"registration_endpoint,omitempty"`
		ScopesSupported                   []string `json:"scopes_supported,omitempty"`
		ResponseTypesSupported            []string `json:"response_types_supported,omitempty"`
		IntrospectionEndpoint             string   `json:"introspection_endpoint,omitempty"`
		RevocationEndpoint                string   `json:"revocation_endpoint,omitempty"`
		CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
		Capabilities                      []string `json:"capabilities"`
	}{
		JWKSURI:                       p.JWKSURI,
		AuthorizationEndpoint:         p.AuthorizationEndpoint,
		TokenEndpoint:                 p.TokenEndpoint,
		GrantTypesSupported:           grants,
		RegistrationEndpoint:          p.RegistrationEndpoint,
		ScopesSupported:               p.ScopesSupported,
		ResponseTypesSupported:        p.ResponseTypesSupported,
		IntrospectionEndpoint:         p.IntrospectionEndpoint,
		RevocationEndpoint:            p.RevocationEndpoint,
		CodeChallengeMethodsSupported: pkce,
		Capabilities:                  caps,
	}
	if p.TokenEndpoint != "" {
		doc.TokenEndpointAuthMethodsSupported = p.TokenEndpointAuthMethodsSupported
	}
	if has["sso-openid-connect"] {
		doc.Issuer = p.Issuer // SMART: present exactly when sso-openid-connect is
	}
	return json.MarshalIndent(doc, "", "  ")
}
