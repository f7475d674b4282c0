package access

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// Asymmetric signature algorithms a Verifier can be allowed to accept. Symmetric (HS*) and
// "none" are never among them: a verifier that accepted HS256 could be fooled by a token
// "signed" with the issuer's public key as the HMAC secret.
var asymmetricAlgs = map[string]bool{
	"RS256": true, "RS384": true, "RS512": true,
	"PS256": true, "PS384": true, "PS512": true,
	"ES256": true, "ES384": true, "ES512": true,
	"EdDSA": true, "Ed25519": true,
}

// DefaultAlgs are the algorithms a Verifier accepts unless told otherwise.
var DefaultAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// maxKeys bounds a key set; issuers publish a handful.
const maxKeys = 100

// verifyKey is a public key from an issuer's set, with what it may verify.
type verifyKey struct {
	key jwk.Key
	kid string
	alg string // the JWK's own "alg", if it names one
	fit func(alg string) bool
}

// publicKey checks a key from a set and prepares it for verification; ok is false for
// keys that cannot verify signatures (encryption keys, symmetric keys, unknown types).
func publicKey(k jwk.Key) (verifyKey, bool) {
	if _, unsupported := k.(jwk.UnsupportedKey); unsupported {
		return verifyKey{}, false
	}
	if use, ok := k.KeyUsage(); ok && use != "sig" {
		return verifyKey{}, false
	}
	if ops, ok := k.KeyOps(); ok {
		verify := false
		for _, op := range ops {
			verify = verify || op == jwk.KeyOpVerify
		}
		if !verify {
			return verifyKey{}, false
		}
	}
	pub, err := k.PublicKey()
	if err != nil {
		return verifyKey{}, false
	}
	var raw any
	if err := jwk.Export(pub, &raw); err != nil {
		return verifyKey{}, false
	}
	vk := verifyKey{key: pub}
	vk.kid, _ = pub.KeyID()
	if a, ok := pub.Algorithm(); ok {
		vk.alg = a.String()
	}
	switch raw := raw.(type) {
	case *rsa.PublicKey:
		if raw.N.BitLen() < 2048 {
			return verifyKey{}, false
		}
		vk.fit = func(alg string) bool { return alg[:2] == "RS" || alg[:2] == "PS" }
	case *ecdsa.PublicKey:
		want := map[elliptic.Curve]string{elliptic.P256(): "ES256", elliptic.P384(): "ES384", elliptic.P521(): "ES512"}[raw.Curve]
		if want == "" {
			return verifyKey{}, false
		}
		vk.fit = func(alg string) bool { return alg == want }
	case ed25519.PublicKey:
		vk.fit = func(alg string) bool { return alg == "EdDSA" || alg == "Ed25519" }
	default:
		return verifyKey{}, false
	}
	return vk, true
}

// keySet is an issuer's keys by kid.
type keySet map[string][]verifyKey

func newKeySet(keys []jwk.Key) keySet {
	ks := keySet{}
	for _, k := range keys {
		if vk, ok := publicKey(k); ok {
			ks[vk.kid] = append(ks[vk.kid], vk)
		}
	}
	return ks
}

// candidates are the keys that may have made a signature with alg and kid. A token without
// a kid may be checked against every key of the algorithm's type.
func (ks keySet) candidates(kid, alg string) []verifyKey {
	var pool []verifyKey
	if kid != "" {
		pool = ks[kid]
	} else {
		for _, keys := range ks {
			pool = append(pool, keys...)
		}
	}
	var out []verifyKey
	for _, k := range pool {
		if k.fit(alg) && (k.alg == "" || k.alg == alg) {
			out = append(out, k)
		}
	}
	return out
}

// parseKeySet reads a JWKS document key by key, so one key of a type this build does not
// know does not hide the others.
func parseKeySet(body []byte) (keySet, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("key set: %v", err)
	}
	if doc.Keys == nil {
		return nil, fmt.Errorf("key set has no \"keys\" array")
	}
	if len(doc.Keys) > maxKeys {
		return nil, fmt.Errorf("key set has %d keys, more than %d", len(doc.Keys), maxKeys)
	}
	keys := make([]jwk.Key, 0, len(doc.Keys))
	for _, raw := range doc.Keys {
		k, err := jwk.ParseKey(raw)
		if err != nil {
			continue
		}
		keys = append(keys, k)
	}
	return newKeySet(keys), nil
}

// keySource holds an issuer's keys: fetched from its jwks_uri and refreshed, or fixed.
//
// Keys are refetched when they are older than refresh (in the background; the old ones
// serve meanwhile) and when a token names a kid not in the set (the issuer may have
// rotated). Fetches are at least minGap apart, so a flood of tokens with made-up kids costs
// the issuer one request per minGap at most.
type keySource struct {
	url     string // "" for a fixed set
	client  *http.Client
	refresh time.Duration
	minGap  time.Duration
	now     func() time.Time

	mu        sync.Mutex
	keys      keySet
	fetched   time.Time // last successful fetch
	attempted time.Time // last fetch started
	lastErr   error     // of the last fetch
	inflight  *fetchCall
	fetches   int // fetches started, for tests and metrics
}

type fetchCall struct {
	done chan struct{}
	err  error
}

// fetchTimeout bounds one key set fetch, independent of the request that caused it.
const fetchTimeout = 15 * time.Second

// load fetches the key set once, synchronously.
func (s *keySource) load(ctx context.Context) error {
	s.mu.Lock()
	call := s.startLocked()
	s.mu.Unlock()
	select {
	case <-call.done:
		return call.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startLocked starts a fetch, or joins the one running.
func (s *keySource) startLocked() *fetchCall {
	if s.inflight != nil {
		return s.inflight
	}
	call := &fetchCall{done: make(chan struct{})}
	s.inflight = call
	s.attempted = s.now()
	s.fetches++
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		defer cancel()
		var ks keySet
		body, err := fetch(ctx, s.client, s.url)
		if err == nil {
			ks, err = parseKeySet(body)
		}
		s.mu.Lock()
		if err == nil {
			s.keys, s.fetched = ks, s.now()
		}
		s.lastErr, call.err, s.inflight = err, err, nil
		s.mu.Unlock()
		close(call.done)
	}()
	return call
}

// lookup returns the keys that may have signed a token with this kid and alg.
func (s *keySource) lookup(ctx context.Context, kid, alg string) ([]verifyKey, error) {
	s.mu.Lock()
	keys := s.keys.candidates(kid, alg)
	if s.url == "" {
		s.mu.Unlock()
		if len(keys) == 0 {
			return nil, s.unknown(kid, alg, "")
		}
		return keys, nil
	}
	now := s.now()
	mayFetch := s.inflight != nil || now.Sub(s.attempted) >= s.minGap
	if len(keys) > 0 {
		if now.Sub(s.fetched) >= s.refresh && mayFetch {
			s.startLocked() // refresh behind the scenes; these keys serve meanwhile
		}
		s.mu.Unlock()
		return keys, nil
	}
	if !mayFetch {
		ago, lastErr := now.Sub(s.attempted).Round(time.Second), s.lastErr
		s.mu.Unlock()
		if lastErr != nil {
			return nil, fmt.Errorf("%w: key set (fetch %s ago failed, next try after %s): %v", ErrIssuerUnavailable, ago, s.minGap, lastErr)
		}
		return nil, s.unknown(kid, alg, fmt.Sprintf(" (key set fetched %s ago; not refetched sooner than every %s)", ago, s.minGap))
	}
	call := s.startLocked()
	s.mu.Unlock()
	select {
	case <-call.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: waiting for the key set: %v", ErrIssuerUnavailable, ctx.Err())
	}
	if call.err != nil {
		return nil, fmt.Errorf("%w: key set: %v", ErrIssuerUnavailable, call.err)
	}
	s.mu.Lock()
	keys = s.keys.candidates(kid, alg)
	s.mu.Unlock()
	if len(keys) == 0 {
		return nil, s.unknown(kid, alg, "")
	}
	return keys, nil
}

func (s *keySource) unknown(kid, alg, note string) error {
	if kid == "" {
		return tokenErr(ErrUnknownKey, "no %s key in the issuer's key set for a token without kid%s", alg, note)
	}
	return tokenErr(ErrUnknownKey, "no %s key with kid %s in the issuer's key set%s", alg, quote(kid), note)
}
