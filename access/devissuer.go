package access

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// DevAudience is the audience of the development issuer's tokens.
const DevAudience = "concord"

// JWKSPath is where the development issuer publishes its keys, under its base URL.
const JWKSPath = "/.well-known/jwks.json"

// DevKeyFile is the development issuer's signing key, relative to the data directory.
const DevKeyFile = "access/dev-issuer-key.json"

// MaxDevTTL bounds the lifetime of a development token.
const MaxDevTTL = 366 * 24 * time.Hour

// DevIssuer signs tokens with a key kept in the data directory. It stands in for an
// identity provider when none is configured: anyone who can read the key file can mint any
// token, so it suits development and single-machine installs, not shared deployments.
type DevIssuer struct {
	key  jwk.Key // private
	pub  jwk.Key
	alg  jwa.SignatureAlgorithm
	kid  string
	path string
}

// OpenDevIssuer loads the signing key from DIR/access/dev-issuer-key.json, creating an
// ES256 key there (mode 0600) the first time. A key file readable by others is refused.
func OpenDevIssuer(dataDir string) (*DevIssuer, error) {
	path := filepath.Join(dataDir, filepath.FromSlash(DevKeyFile))
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := createDevKey(path); err != nil {
			return nil, err
		}
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("access: development issuer key: %w", err)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("access: development issuer key: %w", err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			return nil, fmt.Errorf("access: development issuer key %s is readable by others (mode %04o); chmod 600 it", path, perm)
		}
	}
	d, err := devIssuerFromJWK(data)
	if err != nil {
		return nil, fmt.Errorf("access: development issuer key %s: %w", path, err)
	}
	d.path = path
	return d, nil
}

func devIssuerFromJWK(data []byte) (*DevIssuer, error) {
	key, err := jwk.ParseKey(data)
	if err != nil {
		return nil, err
	}
	if private, err := jwk.IsPrivateKey(key); err != nil || !private {
		return nil, errors.New("not a private key")
	}
	var raw any
	if err := jwk.Export(key, &raw); err != nil {
		return nil, err
	}
	d := &DevIssuer{key: key}
	switch raw := raw.(type) {
	case *ecdsa.PrivateKey:
		if raw.Curve != elliptic.P256() {
			return nil, errors.New("an EC key must be on P-256 (ES256)")
		}
		d.alg = jwa.ES256()
	case *rsa.PrivateKey:
		if raw.N.BitLen() < 2048 {
			return nil, errors.New("an RSA key must have at least 2048 bits (RS256)")
		}
		d.alg = jwa.RS256()
	default:
		return nil, fmt.Errorf("unsupported key type %T: want EC P-256 or RSA", raw)
	}
	if a, ok := key.Algorithm(); ok && a.String() != d.alg.String() {
		return nil, fmt.Errorf("key names alg %s, want %s", a, d.alg)
	}
	// The kid is the key's RFC 7638 thumbprint unless the file names one: stable across
	// restarts, so tokens outlive them.
	if err := jwk.AssignKeyID(key); err != nil {
		return nil, err
	}
	d.kid, _ = key.KeyID()
	if d.pub, err = key.PublicKey(); err != nil {
		return nil, err
	}
	for k, v := range map[string]any{jwk.AlgorithmKey: d.alg, jwk.KeyUsageKey: "sig"} {
		if err := d.pub.Set(k, v); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// createDevKey writes a new ES256 key to path atomically: written and synced under a
// temporary name, then linked into place, so a reader never sees half a key and two
// processes starting together end up sharing one.
func createDevKey(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("access: %w", err)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	key, err := jwk.Import(priv)
	if err != nil {
		return err
	}
	if err := jwk.AssignKeyID(key); err != nil {
		return err
	}
	if err := key.Set(jwk.AlgorithmKey, jwa.ES256()); err != nil {
		return err
	}
	if err := key.Set(jwk.KeyUsageKey, "sig"); err != nil {
		return err
	}
	data, err := json.MarshalIndent(key, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".dev-issuer-key-*") // created 0600
	if err != nil {
		return fmt.Errorf("access: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("access: %w", err)
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("access: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("access: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("access: %w", err)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // another process made one first; use theirs
		}
		// Some file systems have no hard links: rename, which replaces only in a race.
		if _, statErr := os.Stat(path); statErr == nil {
			return nil
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("access: %w", err)
		}
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Path is the key file, for the warning a server logs when it relies on this issuer.
func (d *DevIssuer) Path() string { return d.path }

// KeyID is the kid of the signing key.
func (d *DevIssuer) KeyID() string { return d.kid }

// PublicKeys is the issuer's key set, as published.
func (d *DevIssuer) PublicKeys() jwk.Set {
	set := jwk.NewSet()
	set.AddKey(d.pub)
	return set
}

// Verifier checks this issuer's tokens in process, for the server at baseURL.
func (d *DevIssuer) Verifier(baseURL string) (*Verifier, error) {
	return NewVerifierFromKeys(VerifierConfig{Issuer: issuerURL(baseURL), Audience: []string{DevAudience}}, d.PublicKeys())
}

// Metadata is the issuer's discovery document when it is served at baseURL. It has no
// authorization or token endpoint: tokens come from `concord token`.
func (d *DevIssuer) Metadata(baseURL string) *ProviderMetadata {
	iss := issuerURL(baseURL)
	return &ProviderMetadata{
		Issuer:                           iss,
		JWKSURI:                          iss + JWKSPath,
		ResponseTypesSupported:           []string{},
		SubjectTypesSupported:            []string{"public"},
		IDTokenSigningAlgValuesSupported: []string{d.alg.String()},
		ScopesSupported:                  []string{"system/*.cruds", "user/*.cruds", "patient/*.cruds"},
	}
}

// Handler serves the discovery document and key set under baseURL's path
// (/.well-known/openid-configuration and /.well-known/jwks.json), so that a Verifier made
// with NewVerifier checks this issuer's tokens as it would any other issuer's.
func (d *DevIssuer) Handler(baseURL string) http.Handler {
	prefix := ""
	if u, err := url.Parse(issuerURL(baseURL)); err == nil {
		prefix = u.Path
	}
	meta, _ := json.Marshal(d.Metadata(baseURL))
	keys, _ := json.Marshal(d.PublicKeys())
	docs := map[string][]byte{prefix + discoveryPath: meta, prefix + JWKSPath: keys}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := docs[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write(body)
	})
}

// issuerURL is the issuer named by a base URL; a trailing slash is dropped so that
// http://host:8080 and http://host:8080/ name the same issuer.
func issuerURL(baseURL string) string { return strings.TrimSuffix(baseURL, "/") }

// TokenRequest describes a development token.
type TokenRequest struct {
	Issuer   string // the server's base URL, e.g. http://127.0.0.1:8080
	Audience string // default DevAudience
	System   bool   // a backend service token; default scope system/*.cruds
	User     string // sub of a user token (a system token's defaults to "concord-system")
	Name     string
	Org      string // ODS code
	Role     string // NHS national RBAC job role code
	Purpose  string // v3 PurposeOfUse code
	Patient  string // launch context; confines the default scopes to patient/*.cruds
	Scopes   []string
	TTL      time.Duration // default 1h, at most MaxDevTTL
}

var purposeCode = regexp.MustCompile(`^[A-Z][A-Z0-9]*$`)

// Issue signs a token. User tokens need User, Org and Role, and their default scope is
// user/*.cruds (patient/*.cruds with a Patient); system tokens take only system/ scopes.
func (d *DevIssuer) Issue(req TokenRequest) (string, error) {
	iss := issuerURL(req.Issuer)
	if u, err := url.Parse(iss); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("access: issuer %s is not an http(s) URL", quote(req.Issuer))
	}
	ttl := req.TTL
	switch {
	case ttl == 0:
		ttl = time.Hour
	case ttl < 0 || ttl > MaxDevTTL:
		return "", fmt.Errorf("access: token lifetime %s outside (0, %s]", ttl, MaxDevTTL)
	}
	if req.Purpose != "" && !purposeCode.MatchString(req.Purpose) {
		return "", fmt.Errorf("access: purpose %s is not a PurposeOfUse code (TREAT, ETREAT…)", quote(req.Purpose))
	}
	sub := req.User
	scopes := req.Scopes
	if req.System {
		if sub == "" {
			sub = "concord-system"
		}
		if len(scopes) == 0 {
			scopes = []string{"system/*.cruds"}
		}
	} else {
		if req.User == "" || req.Org == "" || req.Role == "" {
			return "", errors.New("access: a user token needs a user, an organisation (ODS code) and a role")
		}
		if len(scopes) == 0 {
			scopes = []string{"user/*.cruds"}
			if req.Patient != "" {
				scopes = []string{"patient/*.cruds"}
			}
		}
	}
	parsed, err := ParseScopes(strings.Join(scopes, " "))
	if err != nil {
		return "", fmt.Errorf("access: %w", err)
	}
	switch {
	case req.System && (parsed.HasContext(ContextUser) || parsed.HasContext(ContextPatient)):
		return "", errors.New("access: a system token takes only system/ scopes")
	case !req.System && parsed.HasContext(ContextSystem):
		return "", errors.New("access: a user token cannot take system/ scopes")
	case parsed.HasContext(ContextPatient) && req.Patient == "":
		return "", errors.New("access: patient/ scopes need a patient in context")
	}
	aud := req.Audience
	if aud == "" {
		aud = DevAudience
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	now := time.Now().Truncate(time.Second)
	claims := map[string]any{
		"iss":   iss,
		"sub":   sub,
		"aud":   aud,
		"iat":   now.Unix(),
		"nbf":   now.Unix(),
		"exp":   now.Add(ttl).Unix(),
		"jti":   hex.EncodeToString(jti[:]),
		"scope": parsed.String(),
	}
	for name, v := range map[string]string{"name": req.Name, "org": req.Org, "role": req.Role, "purpose": req.Purpose, "patient": req.Patient} {
		if v != "" {
			claims[name] = v
		}
	}
	if req.System {
		claims["client_id"] = sub
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, d.kid); err != nil {
		return "", err
	}
	if err := hdr.Set(jws.TypeKey, "at+jwt"); err != nil {
		return "", err
	}
	tok, err := jws.Sign(payload, jws.WithKey(d.alg, d.key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("access: signing: %w", err)
	}
	return string(tok), nil
}
