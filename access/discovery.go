package access

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// ProviderMetadata is the part of an issuer's OpenID Connect discovery document
// (/.well-known/openid-configuration) that Concord uses or passes on in its SMART
// configuration.
type ProviderMetadata struct {
	Issuer                            string   `json:"issuer"`
	JWKSURI                           string   `json:"jwks_uri"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint                     string   `json:"token_endpoint,omitempty"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint,omitempty"`
	RegistrationEndpoint              string   `json:"registration_endpoint,omitempty"`
	IntrospectionEndpoint             string   `json:"introspection_endpoint,omitempty"`
	RevocationEndpoint                string   `json:"revocation_endpoint,omitempty"`
	ScopesSupported                   []string `json:"scopes_supported,omitempty"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported,omitempty"`
	SubjectTypesSupported             []string `json:"subject_types_supported,omitempty"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported,omitempty"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported,omitempty"`
}

// maxDocument bounds what is read from an issuer, so a broken or hostile endpoint cannot
// exhaust memory.
const maxDocument = 1 << 20

// discoveryPath is where OpenID Connect discovery lives under an issuer.
const discoveryPath = "/.well-known/openid-configuration"

// discover fetches and checks the issuer's discovery document.
func discover(ctx context.Context, client *http.Client, issuer string) (*ProviderMetadata, error) {
	u := strings.TrimSuffix(issuer, "/") + discoveryPath
	body, err := fetch(ctx, client, u)
	if err != nil {
		return nil, fmt.Errorf("%w: discovery: %v", ErrIssuerUnavailable, err)
	}
	var md ProviderMetadata
	if err := json.Unmarshal(body, &md); err != nil {
		return nil, fmt.Errorf("%w: discovery document at %s: %v", ErrIssuerUnavailable, u, err)
	}
	// OpenID Connect Discovery 1.0 §4.3: the document must name the issuer it was fetched for,
	// else one issuer could vouch for another's tokens.
	if md.Issuer != issuer {
		return nil, fmt.Errorf("%w: discovery document at %s names issuer %s, want %s", ErrIssuerUnavailable, u, quote(md.Issuer), quote(issuer))
	}
	if md.JWKSURI == "" {
		return nil, fmt.Errorf("%w: discovery document at %s has no jwks_uri", ErrIssuerUnavailable, u)
	}
	if err := checkKeyURL(issuer, md.JWKSURI); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIssuerUnavailable, err)
	}
	return &md, nil
}

// checkKeyURL refuses a key set served over plain HTTP by an HTTPS issuer: keys are what
// every signature check trusts.
func checkKeyURL(issuer, jwksURI string) error {
	ju, err := url.Parse(jwksURI)
	if err != nil || (ju.Scheme != "https" && ju.Scheme != "http") || ju.Host == "" {
		return fmt.Errorf("jwks_uri %s is not an http(s) URL", quote(jwksURI))
	}
	if strings.HasPrefix(issuer, "https://") && ju.Scheme != "https" {
		return fmt.Errorf("jwks_uri %s is not https although the issuer is", quote(jwksURI))
	}
	return nil
}

// fetch GETs a JSON document, bounded in size.
func fetch(ctx context.Context, client *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxDocument))
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %v", u, err)
	}
	if len(body) > maxDocument {
		return nil, fmt.Errorf("GET %s: response larger than %d bytes", u, maxDocument)
	}
	return body, nil
}
