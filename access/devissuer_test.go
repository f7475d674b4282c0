package access

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDevIssuerKeyFile(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenDevIssuer(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "access", "dev-issuer-key.json")
	if d.Path() != path {
		t.Errorf("Path = %s", d.Path())
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %04o, want 0600", fi.Mode().Perm())
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("leftover files beside the key: %v", entries)
	}
	again, err := OpenDevIssuer(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.KeyID() != d.KeyID() || d.KeyID() == "" {
		t.Errorf("kid changed across opens: %q, %q", d.KeyID(), again.KeyID())
	}
	// A token from one open verifies with the key set of the other.
	tok, err := d.Issue(TokenRequest{Issuer: "http://127.0.0.1:8080", System: true})
	if err != nil {
		t.Fatal(err)
	}
	v, err := again.Verifier("http://127.0.0.1:8080/")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDevIssuer(dir); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Fatalf("world-readable key: %v", err)
	}
}

func TestDevIssuerConcurrentCreate(t *testing.T) {
	dir := t.TempDir()
	kids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range kids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := OpenDevIssuer(dir)
			if err != nil {
				t.Error(err)
				return
			}
			kids[i] = d.KeyID()
		}()
	}
	wg.Wait()
	for _, k := range kids {
		if k != kids[0] {
			t.Fatalf("concurrent opens made different keys: %v", kids)
		}
	}
}

func TestDevIssuerRejectsBadKey(t *testing.T) {
	for name, content := range map[string]string{
		"not JSON":   "nonsense",
		"public key": `{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`,
		"symmetric":  `{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}`,
	} {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "access"), 0o700)
		os.WriteFile(filepath.Join(dir, filepath.FromSlash(DevKeyFile)), []byte(content), 0o600)
		if _, err := OpenDevIssuer(dir); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDevIssuerTokens(t *testing.T) {
	d, err := OpenDevIssuer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const base = "http://127.0.0.1:8080"
	v, err := d.Verifier(base)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	tok, err := d.Issue(TokenRequest{Issuer: base, System: true})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if !p.System || p.Subject != "concord-system" || !p.Scopes.Allows(ContextSystem, "Patient", 'd') || p.Scopes.String() != "system/*.cruds" {
		t.Errorf("system principal %+v", p)
	}
	if d := time.Until(p.Expires); d < 59*time.Minute || d > time.Hour {
		t.Errorf("default lifetime: expires in %s", d)
	}

	tok, err = d.Issue(TokenRequest{Issuer: base, User: "u1", Org: "A81001", Role: "R8000", Purpose: "TREAT", TTL: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	p, err = v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if p.System || p.Subject != "u1" || p.Organization != "A81001" || p.Role != "R8000" || p.Purpose != "TREAT" ||
		p.Scopes.String() != "user/*.cruds" || p.TokenID == "" {
		t.Errorf("user principal %+v", p)
	}

	tok, err = d.Issue(TokenRequest{Issuer: base, User: "u1", Org: "A81001", Role: "R8000", Patient: "p9"})
	if err != nil {
		t.Fatal(err)
	}
	if p, err = v.Verify(ctx, tok); err != nil || p.Patient != "p9" || p.Scopes.String() != "patient/*.cruds" {
		t.Errorf("patient context: %+v %v", p, err)
	}

	// A token for another base URL is another issuer's.
	tok, _ = d.Issue(TokenRequest{Issuer: "http://other:8080", System: true})
	if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrIssuer) {
		t.Errorf("other issuer: %v", err)
	}

	for name, req := range map[string]TokenRequest{
		"no issuer":                 {System: true},
		"user without org":          {Issuer: base, User: "u1", Role: "R8000"},
		"user without role":         {Issuer: base, User: "u1", Org: "A81001"},
		"no user":                   {Issuer: base, Org: "A81001", Role: "R8000"},
		"system with user scopes":   {Issuer: base, System: true, Scopes: []string{"user/*.rs"}},
		"user with system scopes":   {Issuer: base, User: "u1", Org: "A81001", Role: "R8000", Scopes: []string{"system/*.rs"}},
		"patient scope, no patient": {Issuer: base, User: "u1", Org: "A81001", Role: "R8000", Scopes: []string{"patient/*.rs"}},
		"bad scope":                 {Issuer: base, System: true, Scopes: []string{"system/*.rx"}},
		"bad purpose":               {Issuer: base, System: true, Purpose: "treat me"},
		"negative ttl":              {Issuer: base, System: true, TTL: -time.Second},
		"ttl too long":              {Issuer: base, System: true, TTL: 2 * MaxDevTTL},
	} {
		if _, err := d.Issue(req); err == nil {
			t.Errorf("%s: issued", name)
		}
	}
}

// The development issuer's documents let the ordinary discovery path verify its tokens.
func TestDevIssuerHandler(t *testing.T) {
	d, err := OpenDevIssuer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	defer srv.Close()
	base := srv.URL + "/concord"
	h = d.Handler(base)

	v, err := NewVerifier(context.Background(), VerifierConfig{Issuer: base, Audience: []string{DevAudience}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := d.Issue(TokenRequest{Issuer: base, User: "u1", Org: "A81001", Role: "R8000"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if m := v.Metadata(); m.JWKSURI != base+JWKSPath || m.TokenEndpoint != "" {
		t.Errorf("metadata %+v", m)
	}
	for path, status := range map[string]int{"/concord/.well-known/jwks.json": 200, "/.well-known/jwks.json": 404, "/concord/other": 404} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != status {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, status)
		}
	}
	resp, err := http.Post(srv.URL+"/concord/.well-known/jwks.json", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}
}
