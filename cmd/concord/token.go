package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/concord-health/concord/access"
)

const tokenUsage = `usage:
  concord token [--data DIR] [--issuer URL] --system [--scope …] [--ttl 1h]
  concord token [--data DIR] [--issuer URL] --user ID --org ODS --role CODE
                [--purpose TREAT] [--patient ID] [--name NAME] [--scope …] [--ttl 1h]

Prints a bearer token signed by the development issuer, whose key is kept in
DIR/access/dev-issuer-key.json (created on first use). A system token's scope defaults to
system/*.cruds; a user token's to user/*.cruds, or patient/*.cruds with --patient, and its
purpose to TREAT. --scope may be repeated or hold several space-separated scopes.
--issuer must be the base URL of the server that will check the token (CONCORD_ISSUER).`

// scopeFlag collects scopes from repeated flags, each possibly holding several.
type scopeFlag []string

func (s *scopeFlag) String() string { return strings.Join(*s, " ") }

func (s *scopeFlag) Set(v string) error {
	*s = append(*s, strings.Fields(v)...)
	return nil
}

func tokenCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, tokenUsage) }
	data := fs.String("data", envDefault("data", "./data"), "data directory holding the issuer key (CONCORD_DATA)")
	issuer := fs.String("issuer", envDefault("issuer", "http://127.0.0.1:8080"), "the server's base URL, which its tokens name as issuer (CONCORD_ISSUER)")
	system := fs.Bool("system", false, "a backend service token with full system access")
	user := fs.String("user", "", "the user id (sub)")
	name := fs.String("name", "", "the user's display name")
	org := fs.String("org", "", "ODS code of the user's organisation")
	role := fs.String("role", "", "NHS national RBAC job role code, e.g. R8000")
	purpose := fs.String("purpose", "", "PurposeOfUse code: TREAT (default for users), ETREAT for break-glass…")
	patient := fs.String("patient", "", "patient id in launch context")
	ttl := fs.Duration("ttl", time.Hour, "token lifetime")
	var scopes scopeFlag
	fs.Var(&scopes, "scope", "SMART scope, e.g. user/*.rs or patient/Observation.rs?category=laboratory (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("concord token: unexpected argument %q", fs.Arg(0))
	}
	if !*system && *user == "" {
		fs.Usage()
		return errors.New("concord token needs --system or --user")
	}
	if !*system && *purpose == "" {
		*purpose = "TREAT"
	}
	dev, err := access.OpenDevIssuer(*data)
	if err != nil {
		return err
	}
	tok, err := dev.Issue(access.TokenRequest{
		Issuer:  *issuer,
		System:  *system,
		User:    *user,
		Name:    *name,
		Org:     *org,
		Role:    *role,
		Purpose: *purpose,
		Patient: *patient,
		Scopes:  scopes,
		TTL:     *ttl,
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
