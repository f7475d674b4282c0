package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/concord-health/concord/access"
)

// runToken runs concord token and verifies the printed token as the server at issuer would.
func runToken(t *testing.T, data, issuer string, args ...string) (*access.Principal, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := tokenCmd(append([]string{"--data", data}, args...), &stdout, &stderr); err != nil {
		return nil, err
	}
	out := stdout.String()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") || strings.Count(out, ".") != 2 {
		t.Fatalf("stdout %q: want the token alone on one line", out)
	}
	dev, err := access.OpenDevIssuer(data)
	if err != nil {
		t.Fatal(err)
	}
	v, err := dev.Verifier(issuer)
	if err != nil {
		t.Fatal(err)
	}
	return v.Verify(context.Background(), strings.TrimSuffix(out, "\n"))
}

func TestTokenCmd(t *testing.T) {
	data := t.TempDir()
	const issuer = "http://127.0.0.1:8080"
	t.Setenv("CONCORD_ISSUER", "")
	os.Unsetenv("CONCORD_ISSUER")

	p, err := runToken(t, data, issuer, "--system")
	if err != nil {
		t.Fatal(err)
	}
	if !p.System || p.Scopes.String() != "system/*.cruds" || !p.Scopes.Allows("system", "Patient", 'c') {
		t.Errorf("system token: %+v", p)
	}
	if fi, err := os.Stat(filepath.Join(data, "access", "dev-issuer-key.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", fi, err)
	}

	p, err = runToken(t, data, issuer, "--user", "u42", "--org", "A81001", "--role", "R8000", "--patient", "pat-1", "--ttl", "10m")
	if err != nil {
		t.Fatal(err)
	}
	if p.System || p.Subject != "u42" || p.Organization != "A81001" || p.Role != "R8000" || p.Purpose != "TREAT" ||
		p.Patient != "pat-1" || p.Scopes.String() != "patient/*.cruds" {
		t.Errorf("user token: %+v", p)
	}
	if d := time.Until(p.Expires); d > 10*time.Minute || d < 9*time.Minute {
		t.Errorf("--ttl 10m: expires in %s", d)
	}

	p, err = runToken(t, data, issuer, "--user", "u42", "--org", "RBA", "--role", "R8001", "--purpose", "ETREAT",
		"--scope", "user/Patient.rs user/Observation.rs?category=laboratory", "--scope", "openid")
	if err != nil {
		t.Fatal(err)
	}
	if p.Purpose != "ETREAT" || p.Scopes.String() != "user/Patient.rs user/Observation.rs?category=laboratory openid" ||
		p.Scopes.Allows("user", "Condition", 'r') {
		t.Errorf("scoped token: %+v", p)
	}

	// The issuer named at issue is the one the verifier must expect.
	t.Setenv("CONCORD_ISSUER", "https://concord.example.nhs.uk")
	if _, err := runToken(t, data, issuer, "--system"); !errors.Is(err, access.ErrIssuer) {
		t.Errorf("token for another issuer verified: %v", err)
	}
	if _, err := runToken(t, data, "https://concord.example.nhs.uk", "--system"); err != nil {
		t.Error(err)
	}
}

func TestTokenCmdErrors(t *testing.T) {
	data := t.TempDir()
	for name, args := range map[string][]string{
		"neither system nor user": {},
		"user without org":        {"--user", "u1", "--role", "R8000"},
		"user without role":       {"--user", "u1", "--org", "A81001"},
		"system with user scope":  {"--system", "--scope", "user/*.rs"},
		"bad scope":               {"--system", "--scope", "system/*.rz"},
		"bad ttl":                 {"--system", "--ttl", "-1h"},
		"stray argument":          {"--system", "extra"},
		"unknown flag":            {"--system", "--admin"},
	} {
		var stdout, stderr bytes.Buffer
		err := tokenCmd(append([]string{"--data", data}, args...), &stdout, &stderr)
		if err == nil {
			t.Errorf("%s: succeeded", name)
		}
		if stdout.Len() != 0 {
			t.Errorf("%s: printed %q", name, stdout.String())
		}
	}
}
