package access

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// testIssuer is an OpenID Connect issuer on httptest: discovery, and a key set that tests
// change to rotate keys or take down.
type testIssuer struct {
	srv      *httptest.Server
	mu       sync.Mutex
	keys     []jwk.Key // published (public)
	jwksHits atomic.Int64
	jwksDown atomic.Bool
	discoIss string // issuer named by discovery; default the server URL
}

func newTestIssuer(t testing.TB) *testIssuer {
	t.Helper()
	ti := &testIssuer{}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		iss := ti.discoIss
		if iss == "" {
			iss = ti.srv.URL
		}
		json.NewEncoder(w).Encode(map[string]any{
			"issuer":                   iss,
			"jwks_uri":                 ti.srv.URL + "/jwks",
			"authorization_endpoint":   ti.srv.URL + "/auth",
			"token_endpoint":           ti.srv.URL + "/token",
			"response_types_supported": []string{"code"},
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		ti.jwksHits.Add(1)
		if ti.jwksDown.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		ti.mu.Lock()
		set := jwk.NewSet()
		for _, k := range ti.keys {
			set.AddKey(k)
		}
		ti.mu.Unlock()
		json.NewEncoder(w).Encode(set)
	})
	ti.srv = httptest.NewServer(mux)
	t.Cleanup(ti.srv.Close)
	return ti
}

// publish replaces the published key set with the public halves of keys.
func (ti *testIssuer) publish(t testing.TB, keys ...jwk.Key) {
	t.Helper()
	var pubs []jwk.Key
	for _, k := range keys {
		pub, err := k.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		pubs = append(pubs, pub)
	}
	ti.mu.Lock()
	ti.keys = pubs
	ti.mu.Unlock()
}

func (ti *testIssuer) verifier(t *testing.T, cfg VerifierConfig) *Verifier {
	t.Helper()
	cfg.Issuer = ti.srv.URL
	if cfg.Audience == nil {
		cfg.Audience = []string{"concord"}
	}
	v, err := NewVerifier(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var (
	rsaOnce sync.Once
	rsaKeys []*rsa.PrivateKey
	rsaNext atomic.Int64
)

// newKey makes a private signing key of the kind alg needs, with the given kid. RSA keys
// come from a small pool generated once, since generating them is slow under -race.
func newKey(t testing.TB, alg, kid string) jwk.Key {
	t.Helper()
	var raw any
	var err error
	switch alg {
	case "RS256", "PS256":
		rsaOnce.Do(func() {
			for range 3 {
				k, err := rsa.GenerateKey(rand.Reader, 2048)
				if err != nil {
					panic(err)
				}
				rsaKeys = append(rsaKeys, k)
			}
		})
		raw = rsaKeys[int(rsaNext.Add(1))%len(rsaKeys)] // distinct for up to three keys in a test
	case "ES256":
		raw, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, raw, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("no key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	k, err := jwk.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Set(jwk.KeyIDKey, kid); err != nil {
		t.Fatal(err)
	}
	return k
}

// claims are valid claims for ti, with a user in a GP practice.
func (ti *testIssuer) claims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss":     ti.srv.URL,
		"sub":     "user-1",
		"aud":     "concord",
		"iat":     now.Unix(),
		"nbf":     now.Unix(),
		"exp":     now.Add(time.Hour).Unix(),
		"jti":     "jti-1",
		"name":    "Dr Jane Smith",
		"org":     "A81001",
		"role":    "R8000",
		"purpose": "TREAT",
		"scope":   "openid user/*.rs patient/Observation.rs?category=laboratory",
		"patient": "p1",
	}
}

// sign makes a compact JWS of claims with key under alg, its kid in the header.
func sign(t testing.TB, key jwk.Key, alg string, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return signBytes(t, key, alg, payload)
}

func signBytes(t testing.TB, key jwk.Key, alg string, payload []byte) string {
	t.Helper()
	a, ok := jwa.LookupSignatureAlgorithm(alg)
	if !ok {
		t.Fatalf("unknown alg %s", alg)
	}
	hdr := jws.NewHeaders()
	kid, _ := key.KeyID()
	hdr.Set(jws.KeyIDKey, kid)
	hdr.Set(jws.TypeKey, "JWT")
	tok, err := jws.Sign(payload, jws.WithKey(a, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

// compact assembles a token from raw parts, for tokens no library would make.
func compact(header, payload any, sig []byte) string {
	enc := func(v any) string {
		b, ok := v.([]byte)
		if !ok {
			b, _ = json.Marshal(v)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(header) + "." + enc(payload) + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// fakeClock is a settable time for the key cache.
type fakeClock struct{ t atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.t.Store(time.Now().UnixNano())
	return c
}
func (c *fakeClock) now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.t.Add(int64(d)) }

// waitIdle waits for a background key fetch to finish.
func waitIdle(t *testing.T, v *Verifier) {
	t.Helper()
	for range 500 {
		v.keys.mu.Lock()
		idle := v.keys.inflight == nil
		v.keys.mu.Unlock()
		if idle {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatal("key fetch did not finish")
}
