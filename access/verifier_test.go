package access

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

func TestVerifyValid(t *testing.T) {
	for _, alg := range []string{"RS256", "PS256", "ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			ti := newTestIssuer(t)
			key := newKey(t, alg, "k-"+alg)
			ti.publish(t, key)
			v := ti.verifier(t, VerifierConfig{})
			claims := ti.claims()
			p, err := v.Verify(context.Background(), sign(t, key, alg, claims))
			if err != nil {
				t.Fatal(err)
			}
			want := Principal{Subject: "user-1", Name: "Dr Jane Smith", Organization: "A81001", Role: "R8000",
				Purpose: "TREAT", Patient: "p1", Issuer: ti.srv.URL, TokenID: "jti-1",
				Expires: time.Unix(claims["exp"].(int64), 0).UTC()}
			got := *p
			got.Scopes = nil
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("principal\n got %+v\nwant %+v", got, want)
			}
			if p.System {
				t.Error("a user token is not a system token")
			}
			if !p.Scopes.Allows(ContextUser, "Patient", 'r') || p.Scopes.Allows(ContextUser, "Patient", 'c') {
				t.Errorf("scopes %s: want user read, not create", p.Scopes)
			}
			if f, ok := p.Scopes.Restrictions(ContextPatient, "Observation", 's'); !ok || len(f) != 1 || f[0].Get("category") != "laboratory" {
				t.Errorf("patient/Observation restrictions = %v, %v", f, ok)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	ti := newTestIssuer(t)
	key := newKey(t, "RS256", "k1")
	ecKey := newKey(t, "ES256", "k2")
	ti.publish(t, key, ecKey)
	v := ti.verifier(t, VerifierConfig{})

	with := func(change func(map[string]any)) string {
		c := ti.claims()
		change(c)
		return sign(t, key, "RS256", c)
	}
	hour := time.Hour
	valid := sign(t, key, "RS256", ti.claims())
	parts := strings.Split(valid, ".")
	pub, _ := key.PublicKey()
	pubJSON, _ := json.Marshal(pub)

	tests := []struct {
		name  string
		token string
		kind  error
		msg   string
	}{
		{"forged signature, same kid", sign(t, newKey(t, "RS256", "k1"), "RS256", ti.claims()), ErrSignature, `key "k1"`},
		{"forged ES256 key claiming kid k2", func() string {
			k := newKey(t, "ES256", "k2")
			return sign(t, k, "ES256", ti.claims())
		}(), ErrSignature, `key "k2"`},
		{"alg none", compact(map[string]any{"alg": "none", "kid": "k1"}, ti.claims(), nil), ErrAlgorithm, "unsigned"},
		{"alg None", compact(map[string]any{"alg": "None"}, ti.claims(), []byte("x")), ErrAlgorithm, "unsigned"},
		{"HS256 keyed with the public key", func() string {
			h := map[string]any{"alg": "HS256", "kid": "k1", "typ": "JWT"}
			tok := compact(h, ti.claims(), nil)
			in := tok[:strings.LastIndex(tok, ".")]
			mac := hmac.New(sha256.New, pubJSON)
			mac.Write([]byte(in))
			return compact(h, ti.claims(), mac.Sum(nil))
		}(), ErrAlgorithm, "HS256"},
		{"RS256 header on an EC kid", func() string {
			c, _ := json.Marshal(ti.claims())
			return compact(map[string]any{"alg": "RS256", "kid": "k2"}, c, []byte("sig"))
		}(), ErrUnknownKey, `kid "k2"`},
		{"unknown kid", compact(map[string]any{"alg": "RS256", "kid": "nope"}, ti.claims(), []byte("sig")), ErrUnknownKey, `"nope"`},
		{"tampered payload", parts[0] + "." + strings.Split(with(func(c map[string]any) { c["role"] = "R0001" }), ".")[1] + "." + parts[2], ErrSignature, ""},
		{"wrong issuer", with(func(c map[string]any) { c["iss"] = "https://evil.example" }), ErrIssuer, `"https://evil.example"`},
		{"issuer with trailing slash", with(func(c map[string]any) { c["iss"] = ti.srv.URL + "/" }), ErrIssuer, "want"},
		{"wrong audience", with(func(c map[string]any) { c["aud"] = []string{"other-api"} }), ErrAudience, `["other-api"] does not include concord`},
		{"no audience", with(func(c map[string]any) { delete(c, "aud") }), ErrAudience, "no aud"},
		{"expired", with(func(c map[string]any) { c["exp"] = time.Now().Add(-hour).Unix() }), ErrExpired, "expired at"},
		{"nbf in the future", with(func(c map[string]any) { c["nbf"] = time.Now().Add(hour).Unix() }), ErrNotYetValid, "not valid before"},
		{"iat in the future", with(func(c map[string]any) { c["iat"] = time.Now().Add(hour).Unix() }), ErrNotYetValid, "issued in the future"},
		{"no exp", with(func(c map[string]any) { delete(c, "exp") }), ErrClaims, "no exp"},
		{"exp as a string", with(func(c map[string]any) { c["exp"] = "tomorrow" }), ErrClaims, "not a number"},
		{"no sub", with(func(c map[string]any) { delete(c, "sub") }), ErrClaims, "no sub"},
		{"malformed scope", with(func(c map[string]any) { c["scope"] = "user/Patient.xyz" }), ErrClaims, "action"},
		{"two roles and no selection", with(func(c map[string]any) { c["role"] = []string{"R8000", "R8001"} }), ErrClaims, "selects none"},
		{"empty", "", ErrMalformed, "1 dot-separated parts"},
		{"two parts", parts[0] + "." + parts[1], ErrMalformed, "2 dot-separated parts"},
		{"four parts", valid + ".x", ErrMalformed, "4 dot-separated parts"},
		{"JWE", "a.b.c.d.e", ErrMalformed, "JWE"},
		{"bad base64 header", "!!!." + parts[1] + "." + parts[2], ErrMalformed, "header is not unpadded base64url"},
		{"padded base64 payload", parts[0] + "." + parts[1] + "==." + parts[2], ErrMalformed, "payload is not unpadded base64url"},
		{"bad base64 signature", parts[0] + "." + parts[1] + ".a+b/", ErrMalformed, "signature is not"},
		{"header not JSON", compact([]byte("{alg"), ti.claims(), []byte("s")), ErrMalformed, "header is not a JSON object"},
		{"header a JSON string", compact("RS256", ti.claims(), []byte("s")), ErrMalformed, "header is not a JSON object"},
		{"no alg", compact(map[string]any{"kid": "k1"}, ti.claims(), []byte("s")), ErrMalformed, "no alg"},
		{"payload not JSON, validly signed", signBytes(t, key, "RS256", []byte("not json")), ErrMalformed, "payload is not a JSON object"},
		{"payload two objects, validly signed", signBytes(t, key, "RS256", []byte("{} {}")), ErrMalformed, "payload is not a JSON object"},
		{"crit header", compact(map[string]any{"alg": "RS256", "kid": "k1", "crit": []string{"exp"}}, ti.claims(), []byte("s")), ErrMalformed, "crit"},
		{"logout token typ", compact(map[string]any{"alg": "RS256", "kid": "k1", "typ": "logout+jwt"}, ti.claims(), []byte("s")), ErrMalformed, "typ"},
		{"no signature", parts[0] + "." + parts[1] + ".", ErrSignature, "no signature"},
		{"oversized", strings.Repeat("a", maxTokenSize+1), ErrMalformed, "more than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := v.Verify(context.Background(), tc.token)
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			if !errors.Is(err, ErrInvalidToken) || !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want %v", err, tc.kind)
			}
			var te *TokenError
			if !errors.As(err, &te) {
				t.Fatalf("err %T is not a *TokenError", err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %q, want it to mention %q", err, tc.msg)
			}
			if sig := strings.Split(tc.token, "."); len(sig) == 3 && len(sig[2]) > 8 && strings.Contains(err.Error(), sig[2]) {
				t.Errorf("error repeats the signature: %q", err)
			}
		})
	}
}

func TestVerifyLeeway(t *testing.T) {
	ti := newTestIssuer(t)
	key := newKey(t, "ES256", "k1")
	ti.publish(t, key)
	v := ti.verifier(t, VerifierConfig{Leeway: time.Minute})
	c := ti.claims()
	c["exp"] = time.Now().Add(-30 * time.Second).Unix()
	c["nbf"] = time.Now().Add(30 * time.Second).Unix()
	if _, err := v.Verify(context.Background(), sign(t, key, "ES256", c)); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	c["exp"] = time.Now().Add(-2 * time.Minute).Unix()
	if _, err := v.Verify(context.Background(), sign(t, key, "ES256", c)); !errors.Is(err, ErrExpired) {
		t.Fatalf("beyond leeway: %v", err)
	}
}

func TestVerifierConfig(t *testing.T) {
	ti := newTestIssuer(t)
	ti.publish(t, newKey(t, "ES256", "k1"))
	for name, cfg := range map[string]VerifierConfig{
		"HS256 allowed":  {Issuer: ti.srv.URL, Audience: []string{"a"}, AllowedAlgs: []string{"RS256", "HS256"}},
		"none allowed":   {Issuer: ti.srv.URL, Audience: []string{"a"}, AllowedAlgs: []string{"none"}},
		"no audience":    {Issuer: ti.srv.URL},
		"no issuer":      {Audience: []string{"a"}},
		"huge leeway":    {Issuer: ti.srv.URL, Audience: []string{"a"}, Leeway: time.Hour},
		"not a URL":      {Issuer: "login.example.org", Audience: []string{"a"}},
		"empty audience": {Issuer: ti.srv.URL, Audience: []string{""}},
	} {
		if _, err := NewVerifier(context.Background(), cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestAllowedAlgs(t *testing.T) {
	ti := newTestIssuer(t)
	rsaKey, ecKey := newKey(t, "RS256", "r"), newKey(t, "ES256", "e")
	ti.publish(t, rsaKey, ecKey)
	v := ti.verifier(t, VerifierConfig{AllowedAlgs: []string{"ES256"}})
	if _, err := v.Verify(context.Background(), sign(t, ecKey, "ES256", ti.claims())); err != nil {
		t.Fatal(err)
	}
	_, err := v.Verify(context.Background(), sign(t, rsaKey, "RS256", ti.claims()))
	if !errors.Is(err, ErrAlgorithm) || !strings.Contains(err.Error(), "accepted: ES256") {
		t.Fatalf("RS256 when only ES256 is allowed: %v", err)
	}
}

func TestKeyRotation(t *testing.T) {
	ti := newTestIssuer(t)
	old, next := newKey(t, "RS256", "old"), newKey(t, "ES256", "new")
	ti.publish(t, old)
	v := ti.verifier(t, VerifierConfig{KeyMinInterval: time.Minute, KeyRefresh: time.Hour})
	clock := newFakeClock()
	v.keys.now = clock.now
	ctx := context.Background()
	oldTok := sign(t, old, "RS256", ti.claims())
	if _, err := v.Verify(ctx, oldTok); err != nil {
		t.Fatal(err)
	}
	if n := ti.jwksHits.Load(); n != 1 {
		t.Fatalf("JWKS fetched %d times, want 1", n)
	}

	// The issuer publishes a new key and signs with it: the unknown kid triggers a refetch.
	ti.publish(t, old, next)
	clock.advance(2 * time.Minute)
	newTok := sign(t, next, "ES256", ti.claims())
	if _, err := v.Verify(ctx, newTok); err != nil {
		t.Fatalf("token of the new key: %v", err)
	}
	if n := ti.jwksHits.Load(); n != 2 {
		t.Fatalf("JWKS fetched %d times, want 2", n)
	}
	// Tokens of the old key stay valid while it is published.
	if _, err := v.Verify(ctx, oldTok); err != nil {
		t.Fatalf("old key still published: %v", err)
	}

	// The old key is withdrawn; once the set is stale it is refetched in the background,
	// the cached keys serving meanwhile, and then old tokens fail.
	ti.publish(t, next)
	clock.advance(2 * time.Hour)
	another := func(jti string) string {
		c := ti.claims()
		c["jti"] = jti // a token not seen before, so not remembered
		return sign(t, old, "RS256", c)
	}
	if _, err := v.Verify(ctx, another("jti-2")); err != nil {
		t.Fatalf("while the refresh runs: %v", err)
	}
	waitIdle(t, v)
	if _, err := v.Verify(ctx, another("jti-3")); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("withdrawn key: %v", err)
	}
	if _, err := v.Verify(ctx, newTok); err != nil {
		t.Fatal(err)
	}
	// A token already verified is remembered for at most cacheTTL.
	if _, err := v.Verify(ctx, oldTok); err != nil {
		t.Fatalf("remembered token: %v", err)
	}
	v.now = func() time.Time { return time.Now().Add(cacheTTL + time.Second) }
	if _, err := v.Verify(ctx, oldTok); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("withdrawn key after the cache: %v", err)
	}
}

func TestVerifiedCache(t *testing.T) {
	ti := newTestIssuer(t)
	key := newKey(t, "ES256", "k1")
	ti.publish(t, key)
	v := ti.verifier(t, VerifierConfig{})
	c := ti.claims()
	c["exp"] = time.Now().Add(10 * time.Second).Unix()
	tok := sign(t, key, "ES256", c)
	p1, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	p1.Organization = "changed by the caller"
	p2, err := v.Verify(context.Background(), tok)
	if err != nil || p2.Organization != "A81001" {
		t.Fatalf("cached principal: %+v %v", p2, err)
	}
	// The cache never outlives the token.
	v.now = func() time.Time { return time.Now().Add(45 * time.Second) }
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired token served from the cache: %v", err)
	}
}

func TestUnknownKidFlood(t *testing.T) {
	ti := newTestIssuer(t)
	key := newKey(t, "ES256", "real")
	ti.publish(t, key)
	v := ti.verifier(t, VerifierConfig{KeyMinInterval: time.Minute})
	clock := newFakeClock()
	v.keys.now = clock.now
	clock.advance(2 * time.Minute) // one refetch is due

	var wg sync.WaitGroup
	errs := make(chan error, 500)
	for i := range 500 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := compact(map[string]any{"alg": "ES256", "kid": fmt.Sprintf("forged-%d", i)}, ti.claims(), []byte("sig"))
			_, err := v.Verify(context.Background(), tok)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("forged kid: %v", err)
		}
	}
	if n := ti.jwksHits.Load(); n != 2 {
		t.Fatalf("500 forged kids caused %d key set fetches, want 2 (start and one refetch)", n)
	}
	// The real key still works throughout.
	if _, err := v.Verify(context.Background(), sign(t, key, "ES256", ti.claims())); err != nil {
		t.Fatal(err)
	}
}

func TestIssuerUnavailable(t *testing.T) {
	ctx := context.Background()
	t.Run("JWKS down at start", func(t *testing.T) {
		ti := newTestIssuer(t)
		ti.jwksDown.Store(true)
		_, err := NewVerifier(ctx, VerifierConfig{Issuer: ti.srv.URL, Audience: []string{"concord"}})
		if !errors.Is(err, ErrIssuerUnavailable) || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "/jwks") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("issuer unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		_, err := NewVerifier(ctx, VerifierConfig{Issuer: url, Audience: []string{"concord"}})
		if !errors.Is(err, ErrIssuerUnavailable) || !strings.Contains(err.Error(), "discovery") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("discovery names another issuer", func(t *testing.T) {
		ti := newTestIssuer(t)
		ti.discoIss = "https://other.example"
		_, err := NewVerifier(ctx, VerifierConfig{Issuer: ti.srv.URL, Audience: []string{"concord"}})
		if !errors.Is(err, ErrIssuerUnavailable) || !strings.Contains(err.Error(), "other.example") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("JWKS down later", func(t *testing.T) {
		ti := newTestIssuer(t)
		key := newKey(t, "ES256", "k1")
		ti.publish(t, key)
		v := ti.verifier(t, VerifierConfig{KeyMinInterval: time.Minute})
		clock := newFakeClock()
		v.keys.now = clock.now
		ti.jwksDown.Store(true)
		clock.advance(2 * time.Hour)

		// Known keys keep serving when a refresh fails.
		good := sign(t, key, "ES256", ti.claims())
		if _, err := v.Verify(ctx, good); err != nil {
			t.Fatal(err)
		}
		waitIdle(t, v)
		if _, err := v.Verify(ctx, good); err != nil {
			t.Fatal(err)
		}
		// An unknown kid cannot be resolved: the issuer is unavailable, the token not invalid.
		clock.advance(2 * time.Minute)
		tok := sign(t, newKey(t, "ES256", "k2"), "ES256", ti.claims())
		for range 2 { // fetching, then within the rate limit after the failure
			_, err := v.Verify(ctx, tok)
			if !errors.Is(err, ErrIssuerUnavailable) || errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), "503") {
				t.Fatalf("err = %v", err)
			}
		}
	})
}

func TestVerifierFromKeysIgnoresUnusableKeys(t *testing.T) {
	set := jwk.NewSet()
	sym, err := jwk.Import([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	set.AddKey(sym)
	if _, err := NewVerifierFromKeys(VerifierConfig{Issuer: "http://x", Audience: []string{"a"}}, set); err == nil {
		t.Fatal("a set of only a symmetric key was accepted")
	}
}

func TestParseKeySetSkipsUnknownKeys(t *testing.T) {
	k := newKey(t, "ES256", "ok")
	pub, _ := k.PublicKey()
	good, _ := json.Marshal(pub)
	body := fmt.Sprintf(`{"keys":[{"kty":"XYZ","kid":"odd"},{"kty":"oct","k":"c2VjcmV0","kid":"sym"},{"kty":"RSA","kid":"enc","use":"enc","n":"AQAB","e":"AQAB"},%s]}`, good)
	ks, err := parseKeySet([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(ks) != 1 || len(ks["ok"]) != 1 {
		t.Fatalf("key set = %v, want only kid ok", ks)
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{"ES256", "RS256"} {
		b.Run(alg, func(b *testing.B) {
			ti := newTestIssuer(b)
			key := newKey(b, alg, "k")
			ti.publish(b, key)
			v, err := NewVerifier(context.Background(), VerifierConfig{Issuer: ti.srv.URL, Audience: []string{"concord"}})
			if err != nil {
				b.Fatal(err)
			}
			tok := sign(b, key, alg, ti.claims())
			b.Run("first", func(b *testing.B) {
				for b.Loop() {
					if _, err := v.verify(context.Background(), tok); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("repeated", func(b *testing.B) {
				for b.Loop() {
					if _, err := v.Verify(context.Background(), tok); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func TestTokenWithoutKid(t *testing.T) {
	ti := newTestIssuer(t)
	keys := []jwk.Key{newKey(t, "ES256", "a"), newKey(t, "ES256", "b")}
	ti.publish(t, keys...)
	v := ti.verifier(t, VerifierConfig{})
	c, _ := json.Marshal(ti.claims())
	for _, k := range keys {
		k.Remove(jwk.KeyIDKey)
	}
	// Signed by the second key, no kid in the header: each ES256 key is tried.
	tok := signBytes(t, keys[1], "ES256", c)
	if hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0]); strings.Contains(string(hdr), `"kid":"b"`) {
		t.Fatalf("header still names the kid: %s", hdr)
	}
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}

	many := make([]jwk.Key, maxKidless+1)
	for i := range many {
		many[i] = newKey(t, "ES256", fmt.Sprint("k", i))
	}
	ti.publish(t, many...)
	v = ti.verifier(t, VerifierConfig{})
	many[0].Remove(jwk.KeyIDKey)
	_, err := v.Verify(context.Background(), signBytes(t, many[0], "ES256", c))
	if !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), "names no kid") {
		t.Fatalf("kid-less token against %d keys: %v", len(many), err)
	}
}

func TestRedirectDowngrade(t *testing.T) {
	https := httptest.NewTLSServer(http.RedirectHandler("http://127.0.0.1:1/jwks", http.StatusFound))
	defer https.Close()
	client := https.Client()
	client.CheckRedirect = noDowngrade
	_, err := fetch(context.Background(), client, https.URL+"/jwks")
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("https to http redirect: %v", err)
	}
}
