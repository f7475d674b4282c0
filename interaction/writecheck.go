package interaction

import (
	"fmt"
	"sort"
	"strings"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/validation"
)

// ValidationMode says what a write does with the resource it is about to store.
type ValidationMode string

const (
	// ValidateOff stores resources that pass fhir.Parse's structural checks.
	ValidateOff ValidationMode = "off"
	// ValidateWarn validates, stores anyway, and reports the issues in the response's
	// OperationOutcome (Prefer: return=OperationOutcome, or a Bundle entry's outcome).
	ValidateWarn ValidationMode = "warn"
	// ValidateEnforce rejects a resource with validation errors: 422 and nothing written.
	ValidateEnforce ValidationMode = "enforce"
)

// Sources of writes, for per-source validation modes. Integration channels name themselves
// (e.g. "hl7v2/pas").
const (
	SourceHTTP   = "http"   // the REST API
	SourceImport = "import" // concord import and other bulk loads
)

// ValidationPolicy picks the validation mode of each write by its source.
type ValidationPolicy struct {
	Default ValidationMode
	Sources map[string]ValidationMode
}

// Mode returns the mode for writes from source; a channel ("hl7v2/pas") without a mode of
// its own takes its kind's ("hl7v2").
func (p ValidationPolicy) Mode(source string) ValidationMode {
	if m, ok := p.Sources[source]; ok {
		return m
	}
	if kind, _, ok := strings.Cut(source, "/"); ok {
		if m, ok := p.Sources[kind]; ok {
			return m
		}
	}
	if p.Default == "" {
		return ValidateOff
	}
	return p.Default
}

// ParseValidationMode reads "off", "warn" or "enforce".
func ParseValidationMode(s string) (ValidationMode, error) {
	switch m := ValidationMode(strings.TrimSpace(s)); m {
	case ValidateOff, ValidateWarn, ValidateEnforce:
		return m, nil
	}
	return "", fmt.Errorf("validation mode %q: want off, warn or enforce", s)
}

// ParseValidationPolicy reads a default mode and per-source overrides written as
// "source=mode,source=mode" ("import=off,hl7v2/pas=warn").
func ParseValidationPolicy(def, sources string) (ValidationPolicy, error) {
	p := ValidationPolicy{}
	m, err := ParseValidationMode(def)
	if err != nil {
		return p, err
	}
	p.Default = m
	for _, part := range strings.Split(sources, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		src, mode, ok := strings.Cut(part, "=")
		src = strings.TrimSpace(src)
		if !ok || src == "" {
			return p, fmt.Errorf("validation source %q: want source=mode", part)
		}
		m, err := ParseValidationMode(mode)
		if err != nil {
			return p, fmt.Errorf("validation source %s: %w", src, err)
		}
		if p.Sources == nil {
			p.Sources = map[string]ValidationMode{}
		}
		p.Sources[src] = m
	}
	return p, nil
}

// String writes the policy back in the form ParseValidationPolicy reads.
func (p ValidationPolicy) String() string {
	var parts []string
	for src, m := range p.Sources {
		parts = append(parts, src+"="+string(m))
	}
	sort.Strings(parts)
	s := string(p.Mode(""))
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ",") + ")"
	}
	return s
}

// UseValidator sets the validator for $validate and validate-on-write (one holding the
// profiles and terminology the server loaded). Without one, the core R4 validator is made
// on first use. Call it before the Service serves requests.
func (s *Service) UseValidator(v *validation.Validator) {
	s.validatorOnce.Do(func() {})
	s.validator, s.validatorErr = v, nil
}

func (s *Service) getValidator() (*validation.Validator, error) {
	s.validatorOnce.Do(func() { s.validator, s.validatorErr = validation.New(s.reg) })
	return s.validator, s.validatorErr
}

// checkWrite applies the write rules of the resource's type, then validates it as the
// request's source demands. In
// enforce mode a resource with errors is a 422 carrying every issue; in warn mode the
// issues are returned for the response. where prefixes issue locations for Bundle entries
// ("Bundle.entry[2].resource").
func (s *Service) checkWrite(req *Request, res *fhir.Resource, where string) ([]fhir.Issue, *fhir.Error) {
	if res == nil {
		return nil, nil
	}
	for _, rule := range s.rules[res.Type] {
		if e := rule(res); e != nil {
			if where != "" {
				relocate(e.Issues, res.Type, where)
			}
			return nil, e
		}
	}
	mode := s.Validation.Mode(req.source())
	if mode == ValidateOff {
		return nil, nil
	}
	v, err := s.getValidator()
	if err != nil {
		return nil, fhir.Errorf(500, fhir.IssueException, "validator: %v", err)
	}
	issues := v.Validate(res)
	if len(issues) == 0 {
		return nil, nil
	}
	if where != "" {
		relocate(issues, res.Type, where)
	}
	if mode == ValidateEnforce && validation.HasErrors(issues) {
		return nil, &fhir.Error{Status: 422, Issues: issues}
	}
	return issues, nil
}

// relocate rewrites issue locations from the resource's root ("Patient.name[0]") to its
// place in a Bundle ("Bundle.entry[3].resource.name[0]"); an issue without a location gets
// the resource's.
func relocate(issues []fhir.Issue, typ, where string) {
	for i := range issues {
		if len(issues[i].Expression) == 0 {
			issues[i].Expression = []string{where} // an issue about the whole resource
			continue
		}
		exprs := make([]string, len(issues[i].Expression))
		for j, e := range issues[i].Expression {
			if rest, ok := strings.CutPrefix(e, typ); ok && (rest == "" || rest[0] == '.' || rest[0] == '[') {
				e = where + rest
			} else {
				e = where + "." + e
			}
			exprs[j] = e
		}
		issues[i].Expression = exprs
	}
}

// checkEntries validates the resources a transaction creates and updates before anything
// is written. In enforce mode every entry with errors is reported in one 422.
func (s *Service) checkEntries(req *Request, entries []*entry) error {
	if s.Validation.Mode(req.source()) == ValidateOff && len(s.rules) == 0 {
		return nil
	}
	var rejected []fhir.Issue
	for _, e := range entries {
		if e.res == nil || (e.method != "POST" && e.method != "PUT") {
			continue
		}
		issues, ferr := s.checkWrite(req, e.res, e.where()+".resource")
		if ferr != nil {
			rejected = append(rejected, ferr.Issues...)
			continue
		}
		e.issues = issues
	}
	if len(rejected) > 0 {
		return &fhir.Error{Status: 422, Issues: rejected}
	}
	return nil
}
