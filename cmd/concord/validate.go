package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/validation"
)

const validateUsage = `usage: concord validate [--packages PATH…] [--profile URL] FILE…

Validates each resource file (JSON or XML) against the core R4 definitions, the profiles it
claims in meta.profile and the --profile given, with the profiles and terminology of the
--packages loaded, and prints one line per file: {"file": …, "valid": true|false, "outcome":
OperationOutcome}. The exit status is 1 when any file has an error.`

// errInvalid reports that at least one file did not validate (its outcome is already printed).
var errInvalid = errors.New("validation found errors")

// validateCmd runs "concord validate". A --profile that is not loaded is an error in each
// file's outcome rather than ignored.
func validateCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	profile := fs.String("profile", "", "canonical URL of a profile to validate against, besides the core definitions and the profiles each resource claims in meta.profile")
	unknownExt := addUnknownExtensionsFlag(fs)
	var pkgs listFlag
	pkgs.addEnv("packages")
	fs.Var(&pkgs, "packages", "FHIR packages to load profiles and terminology from: .tgz files or folders of JSON/XML conformance resources; repeat or separate with commas (CONCORD_PACKAGES)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), validateUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("no files to validate")
	}
	conf, err := loadConformance(conformanceConfig{packages: pkgs, unknownExtensions: *unknownExt}, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	v := conf.validator
	failed := false
	for _, path := range fs.Args() {
		issues := validateFile(v, path, *profile)
		ok := !validation.HasErrors(issues)
		failed = failed || !ok
		line := []byte(`{"file":`)
		line = fhir.AppendJSONString(line, path)
		line = fmt.Appendf(line, `,"valid":%t,"outcome":`, ok)
		line = append(line, fhir.OperationOutcome(issues...)...)
		line = append(line, "}\n"...)
		if _, err := stdout.Write(line); err != nil {
			return err
		}
	}
	if failed {
		return errInvalid
	}
	return nil
}

func validateFile(v *validation.Validator, path, profile string) []fhir.Issue {
	data, err := os.ReadFile(path)
	if err != nil {
		return []fhir.Issue{{Severity: fhir.SeverityError, Code: fhir.IssueProcessing, Diagnostics: err.Error()}}
	}
	res, err := parseResource(data)
	if err != nil {
		var fe *fhir.Error
		if errors.As(err, &fe) {
			return fe.Issues
		}
		return []fhir.Issue{{Severity: fhir.SeverityError, Code: fhir.IssueInvalid, Diagnostics: err.Error()}}
	}
	if profile != "" {
		return v.ValidateProfiles(res, profile)
	}
	return v.Validate(res)
}

// parseResource reads a resource in JSON or in XML, told apart by the first character after
// any byte order mark and white space: XML begins with '<', JSON never does.
func parseResource(data []byte) (*fhir.Resource, error) {
	rest := bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\uFEFF")), " \t\r\n")
	if len(rest) > 0 && rest[0] == '<' {
		return fhir.ParseXML(data)
	}
	return fhir.Parse(data)
}
