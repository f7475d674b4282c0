package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/fhir/packages"
	"github.com/concord-health/concord/fhir/profiles"
	"github.com/concord-health/concord/fhir/validation"
	"github.com/concord-health/concord/interaction"
	"github.com/concord-health/concord/terminology"
)

// validationFlags are the serve and import flags that configure validation: which
// implementation guides to load and what writes do with what fails.
type validationFlags struct {
	mode, sources *string
	packages      listFlag
	unknownExt    *string
}

func addValidationFlags(fs *flag.FlagSet) *validationFlags {
	f := &validationFlags{
		mode: fs.String("validate", envDefault("validate", "off"),
			"validate resources before storing them: off, warn (store and report issues) or enforce (reject with 422) (CONCORD_VALIDATE)"),
		sources: fs.String("validate-sources", envDefault("validate-sources", ""),
			"per-source modes overriding --validate, e.g. import=off,http=enforce (sources: http, import) (CONCORD_VALIDATE_SOURCES)"),
	}
	f.unknownExt = addUnknownExtensionsFlag(fs)
	f.packages.addEnv("packages")
	fs.Var(&f.packages, "packages", "FHIR packages to load profiles and terminology from: .tgz files or folders of JSON/XML conformance resources; repeat or separate with commas (CONCORD_PACKAGES)")
	return f
}

func addUnknownExtensionsFlag(fs *flag.FlagSet) *string {
	return fs.String("unknown-extensions", envDefault("unknown-extensions", "error"),
		"an extension whose definition no loaded package holds is an error (as in the reference validator) or a warning (CONCORD_UNKNOWN_EXTENSIONS)")
}

// config is what loadConformance needs from the flags.
func (f *validationFlags) config() conformanceConfig {
	return conformanceConfig{packages: f.packages, unknownExtensions: *f.unknownExt}
}

// conformanceConfig says what validation loads and how strict it is.
type conformanceConfig struct {
	packages []string
	// unknownExtensions is "error" (the default) or "warning".
	unknownExtensions string
}

// policy reads the flags; check it before opening the store, so a typo fails fast.
func (f *validationFlags) policy() (interaction.ValidationPolicy, error) {
	return interaction.ParseValidationPolicy(*f.mode, *f.sources)
}

// listFlag is a repeatable flag whose values may also be comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

func (l *listFlag) addEnv(name string) {
	if v := envDefault(name, ""); v != "" {
		l.Set(v)
	}
}

// conformance is what validation draws on: the core R4 definitions and terminology plus
// whatever packages and the store add.
type conformance struct {
	profiles *profiles.Set
	terms    *terminology.Service
	// canonicals resolves the other resources validation looks up by canonical URL
	// (Questionnaires).
	canonicals *validation.CanonicalStore
	validator  *validation.Validator
	log        *slog.Logger
}

// loadConformance loads the core definitions and terminology and the given packages. A
// package that cannot be read stops the start; a file in it that cannot be read, or a
// profile whose snapshot cannot be generated, is logged.
func loadConformance(cfg conformanceConfig, log *slog.Logger) (*conformance, error) {
	var warnUnknown bool
	switch cfg.unknownExtensions {
	case "", "error":
	case "warning":
		warnUnknown = true
	default:
		return nil, fmt.Errorf("--unknown-extensions %q: want error or warning", cfg.unknownExtensions)
	}
	ts, err := terminology.Core()
	if err != nil {
		return nil, err
	}
	c := &conformance{profiles: profiles.New(), terms: ts, canonicals: validation.NewCanonicalStore(), log: log}
	for _, p := range cfg.packages {
		pkg, err := packages.Load(p)
		if err != nil {
			return nil, fmt.Errorf("package %s: %w", p, err)
		}
		for _, prob := range pkg.Problems {
			log.Warn("package file not loaded", "package", p, "problem", prob)
		}
		n := 0
		for _, res := range pkg.Resources {
			if c.add(res) {
				n++
			}
		}
		log.Info("package loaded", "package", p, "name", pkg.Name, "version", pkg.Version, "resources", n)
	}
	c.checkProfiles()
	v, err := validation.NewWith(definitions.R4(), validation.Options{Profiles: c.profiles, Terminology: c.terms, Resources: c.canonicals,
		UnknownExtensionsAreWarnings: warnUnknown})
	if err != nil {
		return nil, err
	}
	c.validator = v
	return c, nil
}

// attachConformance loads what cfg names and the SNOMED CT edition saved in the data
// directory, and makes svc validate and answer terminology operations with them (attach).
func attachConformance(ctx context.Context, svc *interaction.Service, cfg conformanceConfig, data string, log *slog.Logger) error {
	conf, err := loadConformance(cfg, log)
	if err != nil {
		return err
	}
	if err := openTerminology(data, conf.terms, log); err != nil {
		return err
	}
	return conf.attach(ctx, svc)
}

// add takes up one conformance resource, reporting whether validation or the terminology
// uses it.
func (c *conformance) add(res *fhir.Resource) bool {
	var err error
	switch res.Type {
	case "StructureDefinition":
		err = c.profiles.Add(res)
	case "ValueSet", "CodeSystem", "ConceptMap":
		err = c.terms.Add(res)
	case "Questionnaire":
		err = c.canonicals.Add(res)
	default:
		return false
	}
	if err != nil {
		c.log.Warn("conformance resource not loaded", "resource", res.Type+"/"+res.ID, "url", res.Root.Text("url"), "err", err)
		return false
	}
	return true
}

// checkProfiles builds every loaded profile's snapshot now, so that problems show at start
// rather than on the first resource that claims the profile.
func (c *conformance) checkProfiles() {
	for _, u := range c.profiles.URLs() {
		sd, err := c.profiles.Get(u)
		switch {
		case err != nil:
			c.log.Error("profile unusable", "url", u, "err", err)
		case len(sd.Problems) > 0:
			c.log.Warn("profile snapshot has problems", "url", u, "problems", strings.Join(sd.Problems, "; "))
		}
	}
}

// conformanceTypes are the stored resource types validation and the terminology operations
// take up.
var conformanceTypes = []string{"CodeSystem", "ValueSet", "ConceptMap", "StructureDefinition", "Questionnaire"}

// attach makes the service validate and answer terminology operations with c, takes up the
// conformance resources already in the store (and the Questionnaires that
// QuestionnaireResponses are checked against), and keeps taking up those written later
// through the API.
func (c *conformance) attach(ctx context.Context, svc *interaction.Service) error {
	for _, typ := range conformanceTypes {
		n := 0
		err := eachStored(ctx, svc, typ, func(res *fhir.Resource) {
			if c.add(res) {
				n++
			}
		})
		if err != nil {
			return fmt.Errorf("reading stored %s resources: %w", typ, err)
		}
		if n > 0 {
			c.log.Info("stored conformance resources loaded", "type", typ, "count", n)
		}
		svc.OnCommit(typ, func(res *fhir.Resource) { c.add(res) })
	}
	c.checkProfiles()
	svc.UseValidator(c.validator)
	svc.UseTerminology(c.terms)
	return nil
}

// eachStored calls fn for every stored resource of a type, page by page.
func eachStored(ctx context.Context, svc *interaction.Service, typ string, fn func(*fhir.Resource)) error {
	req := &interaction.Request{Method: "GET", Path: typ, Query: url.Values{"_count": {"200"}}}
	for {
		resp := svc.Do(ctx, req)
		if resp.Err != nil {
			return resp.Err
		}
		b, err := fhir.Parse(resp.Body)
		if err != nil {
			return err
		}
		for _, e := range b.Root.Child("entry") {
			if r := e.First("resource"); r != nil {
				fn(&fhir.Resource{Type: r.Type, ID: r.Text("id"), Root: r})
			}
		}
		next := ""
		for _, l := range b.Root.Child("link") {
			if l.Text("relation") == "next" {
				next = l.Text("url")
			}
		}
		if next == "" {
			return nil
		}
		u, err := url.Parse(next)
		if err != nil {
			return err
		}
		req = &interaction.Request{Method: "GET", Path: typ, Query: u.Query()}
	}
}
