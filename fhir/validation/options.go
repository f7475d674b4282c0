package validation

import (
	"fmt"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/fhir/profiles"
)

// Options configure what NewWith checks beyond the core rules.
type Options struct {
	// Profiles resolves profiles, extension definitions and reference target profiles;
	// nil means the core R4 definitions only (profiles.Core()).
	Profiles *profiles.Set
	// Terminology decides bindings; nil means bindings are not checked.
	Terminology CodeChecker
	// Resources resolves other canonical resources (the Questionnaire a QuestionnaireResponse
	// answers); nil means only contained ones are found.
	Resources CanonicalResolver
	// UnknownExtensionsAreWarnings reports an extension whose definition is not loaded as a
	// warning rather than an error (the reference validator's default). For feeds that carry
	// other jurisdictions' extensions whose packages are not loaded. Unknown modifier
	// extensions stay errors: what they change cannot be known.
	UnknownExtensionsAreWarnings bool
}

// NewWith builds a validator for reg that also checks resources against the profiles
// opts.Profiles resolves.
func NewWith(reg *definitions.Registry, opts Options) (*Validator, error) {
	if reg == nil {
		return nil, fmt.Errorf("validation: nil registry")
	}
	cs, err := coreConstraints()
	if err != nil {
		return nil, err
	}
	src := opts.Profiles
	if src == nil {
		if src, err = profiles.Core(); err != nil {
			return nil, err
		}
	}
	return &Validator{reg: reg, cs: cs, pv: &profileValidator{src: src, terms: opts.Terminology, unknownExtWarn: opts.UnknownExtensionsAreWarnings},
		resources: opts.Resources}, nil
}

// ValidateProfiles validates res as Validate does, and also against each of profileURLs;
// a profile that cannot be resolved is an error.
func (v *Validator) ValidateProfiles(res *fhir.Resource, profileURLs ...string) []fhir.Issue {
	if res == nil || res.Root == nil {
		return v.Validate(res)
	}
	w := &walker{v: v}
	root := res.Root
	w.node(root, root.Type, root, root)
	v.checkProfiles(w, root, profileURLs)
	sortIssues(w.issues)
	return w.issues
}

const coreURL = "http://hl7.org/fhir/StructureDefinition/"
