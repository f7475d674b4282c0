package access

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// VerifierConfig says which tokens a Verifier accepts.
type VerifierConfig struct {
	// Issuer must equal the tokens' iss exactly (https://login.example.org/realms/nhs); its
	// discovery document is read from Issuer + "/.well-known/openid-configuration".
	Issuer string
	// Audience: a token's aud must contain one of these (the FHIR base URL, or the client id
	// the issuer registered for Concord).
	Audience []string
	// Claims maps the token's claims to the Principal; the zero value means DefaultClaims.
	Claims ClaimMap
	// Leeway absorbs clock skew in exp, nbf and iat: default 30s, at most 5m.
	Leeway time.Duration
	// HTTPClient fetches discovery and keys; default: a client with a 10s timeout.
	HTTPClient *http.Client
	// AllowedAlgs lists the signature algorithms accepted (default DefaultAlgs); only
	// asymmetric ones may be named.
	AllowedAlgs []string
	// KeyRefresh is how old the key set may grow before it is refetched (default 1h).
	KeyRefresh time.Duration
	// KeyMinInterval is the shortest gap between two key set fetches (default 30s): tokens
	// with an unknown kid within it are refused without asking the issuer.
	KeyMinInterval time.Duration
}

// Verifier checks bearer tokens (signed JWTs) from one OpenID Connect issuer and maps
// them to Principals. It is safe for concurrent use.
type Verifier struct {
	issuer   string
	audience []string
	claims   ClaimMap
	leeway   time.Duration
	algs     map[string]bool
	keys     *keySource
	meta     *ProviderMetadata
	now      func() time.Time
	cache    verified
}

// verified remembers tokens already checked, so a client repeating its token pays for the
// signature once: the check is mostly public-key arithmetic (~0.1–0.2 ms), more than many
// reads cost. Entries live until the token expires, at most cacheTTL, which bounds how long
// a key withdrawn by the issuer keeps vouching for tokens seen before.
type verified struct {
	mu      sync.Mutex
	entries map[[32]byte]cachedPrincipal
}

type cachedPrincipal struct {
	p     *Principal
	until time.Time
}

const (
	cacheTTL     = time.Minute
	cacheEntries = 10000
)

func (c *verified) get(sum [32]byte, now time.Time) (*Principal, bool) {
	c.mu.Lock()
	e, ok := c.entries[sum]
	c.mu.Unlock()
	if !ok || !now.Before(e.until) {
		return nil, false
	}
	p := *e.p
	return &p, true
}

func (c *verified) put(sum [32]byte, p *Principal, until time.Time, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[[32]byte]cachedPrincipal{}
	}
	if len(c.entries) >= cacheEntries {
		for k, e := range c.entries {
			if !now.Before(e.until) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= cacheEntries {
			clear(c.entries)
		}
	}
	cp := *p
	c.entries[sum] = cachedPrincipal{p: &cp, until: until}
}

// maxKidless is how many keys a token without a kid may be tried against.
const maxKidless = 4

// noDowngrade refuses redirects from https to http: discovery and keys are what every
// signature check trusts.
func noDowngrade(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("too many redirects")
	}
	if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("redirect from https to %s refused", req.URL.Scheme)
	}
	return nil
}

// maxTokenSize bounds what Verify will look at; CIS2 tokens with many roles stay well under.
const maxTokenSize = 64 << 10

// NewVerifier reads the issuer's discovery document and key set and returns a Verifier
// for its tokens. It fails when the issuer cannot be reached, so a misconfiguration shows
// at start rather than as refused requests.
func NewVerifier(ctx context.Context, cfg VerifierConfig) (*Verifier, error) {
	v, err := newVerifier(cfg)
	if err != nil {
		return nil, err
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second, CheckRedirect: noDowngrade}
	}
	if v.meta, err = discover(ctx, client, v.issuer); err != nil {
		return nil, err
	}
	v.keys.url = v.meta.JWKSURI
	v.keys.client = client
	if err := v.keys.load(ctx); err != nil {
		return nil, fmt.Errorf("%w: key set: %v", ErrIssuerUnavailable, err)
	}
	return v, nil
}

// NewVerifierFromKeys returns a Verifier that checks tokens against a fixed key set (the
// development issuer's, in process) instead of fetching one.
func NewVerifierFromKeys(cfg VerifierConfig, keys jwk.Set) (*Verifier, error) {
	v, err := newVerifier(cfg)
	if err != nil {
		return nil, err
	}
	list := make([]jwk.Key, 0, keys.Len())
	for i := range keys.Len() {
		k, _ := keys.Key(i)
		list = append(list, k)
	}
	v.keys.keys = newKeySet(list)
	if len(v.keys.keys) == 0 {
		return nil, errors.New("access: the key set holds no usable signature key")
	}
	return v, nil
}

func newVerifier(cfg VerifierConfig) (*Verifier, error) {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("access: issuer %s is not an http(s) URL", quote(cfg.Issuer))
	}
	if len(cfg.Audience) == 0 {
		return nil, errors.New("access: no audience configured; tokens meant for other services would be accepted")
	}
	for _, a := range cfg.Audience {
		if a == "" {
			return nil, errors.New("access: empty audience")
		}
	}
	leeway := cfg.Leeway
	switch {
	case leeway == 0:
		leeway = 30 * time.Second
	case leeway < 0 || leeway > 5*time.Minute:
		return nil, fmt.Errorf("access: leeway %s outside 0–5m", leeway)
	}
	names := cfg.AllowedAlgs
	if len(names) == 0 {
		names = DefaultAlgs
	}
	algs := map[string]bool{}
	for _, a := range names {
		if !asymmetricAlgs[a] {
			return nil, fmt.Errorf("access: algorithm %s cannot be allowed: only asymmetric signature algorithms (RS*, PS*, ES*, EdDSA) are", quote(a))
		}
		algs[a] = true
	}
	claims := cfg.Claims
	if claims == (ClaimMap{}) {
		claims = DefaultClaims
	}
	refresh, minGap := cfg.KeyRefresh, cfg.KeyMinInterval
	if refresh <= 0 {
		refresh = time.Hour
	}
	if minGap <= 0 {
		minGap = 30 * time.Second
	}
	v := &Verifier{
		issuer:   cfg.Issuer,
		audience: append([]string(nil), cfg.Audience...),
		claims:   claims,
		leeway:   leeway,
		algs:     algs,
		now:      time.Now,
	}
	v.keys = &keySource{refresh: refresh, minGap: minGap, now: func() time.Time { return v.now() }}
	return v, nil
}

// Issuer is the issuer whose tokens the Verifier accepts.
func (v *Verifier) Issuer() string { return v.issuer }

// Metadata is the issuer's discovery document; nil for a Verifier made from fixed keys.
func (v *Verifier) Metadata() *ProviderMetadata { return v.meta }

// header is the JOSE header of a compact JWS.
type header struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
	B64  json.RawMessage `json:"b64"`
}

// Verify checks a bearer token (signature, issuer, audience, validity period) and returns
// its Principal, which the caller may keep (its Scopes are shared: do not modify them). A
// refused token gives a *TokenError (errors.Is(err, ErrInvalidToken)); an unreachable
// issuer gives ErrIssuerUnavailable.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Principal, error) {
	sum := sha256.Sum256([]byte(raw))
	now := v.now()
	if p, ok := v.cache.get(sum, now); ok {
		return p, nil
	}
	p, err := v.verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	until := p.Expires.Add(v.leeway)
	if limit := now.Add(cacheTTL); limit.Before(until) {
		until = limit
	}
	v.cache.put(sum, p, until, now)
	return p, nil
}

func (v *Verifier) verify(ctx context.Context, raw string) (*Principal, error) {
	if len(raw) > maxTokenSize {
		return nil, tokenErr(ErrMalformed, "token is %d bytes, more than %d", len(raw), maxTokenSize)
	}
	parts := strings.Split(raw, ".")
	switch len(parts) {
	case 3:
	case 5:
		return nil, tokenErr(ErrMalformed, "token has 5 parts: an encrypted JWE, not a signed JWT")
	default:
		return nil, tokenErr(ErrMalformed, "token has %d dot-separated parts, want 3 (header.payload.signature)", len(parts))
	}
	var segs [3][]byte
	for i, name := range []string{"header", "payload", "signature"} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return nil, tokenErr(ErrMalformed, "%s is not unpadded base64url: %v", name, err)
		}
		segs[i] = b
	}
	var h header
	if err := json.Unmarshal(segs[0], &h); err != nil {
		return nil, tokenErr(ErrMalformed, "header is not a JSON object with string alg, kid and typ: %v", err)
	}
	switch {
	case h.Alg == "":
		return nil, tokenErr(ErrMalformed, "header has no alg")
	case strings.EqualFold(h.Alg, "none"):
		return nil, tokenErr(ErrAlgorithm, "alg %s (an unsigned token) is never accepted", quote(h.Alg))
	case !v.algs[h.Alg]:
		return nil, tokenErr(ErrAlgorithm, "alg %s is not accepted (accepted: %s)", quote(h.Alg), strings.Join(v.algNames(), ", "))
	case h.Crit != nil || h.B64 != nil:
		return nil, tokenErr(ErrMalformed, "header has crit or b64 extensions, which are not supported")
	}
	switch strings.ToLower(h.Typ) {
	case "", "jwt", "at+jwt", "application/jwt", "application/at+jwt":
	default:
		return nil, tokenErr(ErrMalformed, "typ %s is not an access or ID token", quote(h.Typ))
	}
	if len(segs[2]) == 0 {
		return nil, tokenErr(ErrSignature, "token has no signature")
	}

	keys, err := v.keys.lookup(ctx, h.Kid, h.Alg)
	if err != nil {
		return nil, err
	}
	if h.Kid == "" && len(keys) > maxKidless {
		// Trying every key for every such token would let anyone spend our CPU.
		return nil, tokenErr(ErrUnknownKey, "token names no kid and the issuer has %d %s keys", len(keys), h.Alg)
	}
	alg, ok := jwa.LookupSignatureAlgorithm(h.Alg)
	if !ok {
		return nil, tokenErr(ErrAlgorithm, "alg %s is not supported by this server", quote(h.Alg))
	}
	verified := false
	for _, k := range keys {
		if _, err := jws.Verify([]byte(raw), jws.WithKey(alg, k.key), jws.WithAlgorithmMatch(true)); err == nil {
			verified = true
			break
		}
	}
	if !verified {
		if h.Kid == "" {
			return nil, tokenErr(ErrSignature, "signature does not verify with any of the issuer's %s keys", h.Alg)
		}
		return nil, tokenErr(ErrSignature, "signature does not verify with the issuer's key %s", quote(h.Kid))
	}

	dec := json.NewDecoder(bytes.NewReader(segs[1]))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil || claims == nil || dec.More() {
		if err == nil {
			err = errors.New("not a single JSON object")
		}
		return nil, tokenErr(ErrMalformed, "payload is not a JSON object: %v", err)
	}
	return v.principal(claims)
}

// principal checks the registered claims and maps the rest.
func (v *Verifier) principal(claims map[string]any) (*Principal, error) {
	iss, _ := claims["iss"].(string)
	if iss != v.issuer {
		return nil, tokenErr(ErrIssuer, "issuer %s, want %s", quote(iss), quote(v.issuer))
	}
	aud, err := audiences(claims["aud"])
	if err != nil {
		return nil, tokenErr(ErrAudience, "%v", err)
	}
	if !v.audienceOK(aud) {
		shown := make([]string, len(aud))
		for i, a := range aud {
			shown[i] = quote(a)
		}
		return nil, tokenErr(ErrAudience, "audience [%s] does not include %s", strings.Join(shown, " "), strings.Join(v.audience, " or "))
	}
	now := v.now()
	exp, ok, err := numericDate(claims, "exp")
	switch {
	case err != nil:
		return nil, tokenErr(ErrClaims, "%v", err)
	case !ok:
		return nil, tokenErr(ErrClaims, "token has no exp; tokens without an expiry are not accepted")
	case now.After(exp.Add(v.leeway)):
		return nil, tokenErr(ErrExpired, "token expired at %s (now %s, leeway %s)", stamp(exp), stamp(now), v.leeway)
	}
	if nbf, ok, err := numericDate(claims, "nbf"); err != nil {
		return nil, tokenErr(ErrClaims, "%v", err)
	} else if ok && now.Add(v.leeway).Before(nbf) {
		return nil, tokenErr(ErrNotYetValid, "token not valid before %s (now %s, leeway %s)", stamp(nbf), stamp(now), v.leeway)
	}
	if iat, ok, err := numericDate(claims, "iat"); err != nil {
		return nil, tokenErr(ErrClaims, "%v", err)
	} else if ok && now.Add(v.leeway).Before(iat) {
		return nil, tokenErr(ErrNotYetValid, "token issued in the future, at %s (now %s, leeway %s)", stamp(iat), stamp(now), v.leeway)
	}
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return nil, tokenErr(ErrClaims, "token has no sub")
	}
	jti, _ := claims["jti"].(string)
	p := &Principal{Subject: sub, Issuer: iss, TokenID: jti, Expires: exp}
	if err := v.claims.mapClaims(claims, p); err != nil {
		return nil, &TokenError{Kind: ErrClaims, Reason: err.Error(), Err: err}
	}
	return p, nil
}

func (v *Verifier) audienceOK(aud []string) bool {
	for _, a := range aud {
		for _, want := range v.audience {
			if a == want {
				return true
			}
		}
	}
	return false
}

func (v *Verifier) algNames() []string {
	var out []string
	for _, a := range DefaultAlgs {
		if v.algs[a] {
			out = append(out, a)
		}
	}
	if v.algs["Ed25519"] {
		out = append(out, "Ed25519")
	}
	return out
}

// audiences reads aud, which RFC 7519 allows as one string or an array.
func audiences(v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, errors.New("token has no aud")
	case string:
		return []string{v}, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("aud holds %s, not a string", jsonKind(e))
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("aud is %s, not a string or an array", jsonKind(v))
}

// numericDate reads a NumericDate claim (seconds since the epoch, fractions allowed).
func numericDate(claims map[string]any, name string) (time.Time, bool, error) {
	v, ok := claims[name]
	if !ok || v == nil {
		return time.Time{}, false, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false, fmt.Errorf("%s is %s, not a number of seconds", name, jsonKind(v))
	}
	f, err := n.Float64()
	if err != nil || math.IsInf(f, 0) || f < 0 || f > 1e11 {
		return time.Time{}, false, fmt.Errorf("%s %s is not a usable time", name, quote(n.String()))
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true, nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
