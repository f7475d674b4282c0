package main

import (
	"flag"

	"github.com/concord-health/concord/interaction"
)

// validationFlags are the serve and import flags that configure validate-on-write.
type validationFlags struct {
	mode, sources *string
}

func addValidationFlags(fs *flag.FlagSet) *validationFlags {
	return &validationFlags{
		mode: fs.String("validate", envDefault("validate", "off"),
			"validate resources before storing them: off, warn (store and report issues) or enforce (reject with 422) (CONCORD_VALIDATE)"),
		sources: fs.String("validate-sources", envDefault("validate-sources", ""),
			"per-source modes overriding --validate, e.g. import=off,http=enforce (sources: http, import) (CONCORD_VALIDATE_SOURCES)"),
	}
}

// policy reads the flags; check it before opening the store, so a typo fails fast.
func (f *validationFlags) policy() (interaction.ValidationPolicy, error) {
	return interaction.ParseValidationPolicy(*f.mode, *f.sources)
}
