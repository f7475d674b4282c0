package validation

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/fhir/fhirpath"
)

// constraint is one invariant of an ElementDefinition, compiled.
type constraint struct {
	Key        string
	Severity   string // "error" or "warning"
	Human      string
	Expression string
	// Owner is the StructureDefinition the constraint was read from.
	Owner string
	expr  *fhirpath.Expr
	// native replaces expr for constraints checked in Go (nativeChecks).
	native func(*fhir.Node) bool
	err    error // compile error; the constraint is then reported as not evaluable
}

// constraintSet holds the invariants of the core definitions: by element path
// ("Patient.contact", "HumanName") and, for the core profiles of data types (SimpleQuantity,
// MoneyQuantity), by canonical URL.
type constraintSet struct {
	byPath    map[string][]*constraint
	byProfile map[string][]*constraint
	failed    []*constraint // constraints whose expression does not compile
}

type rawSD struct {
	ResourceType string `json:"resourceType"`
	URL          string `json:"url"`
	Type         string `json:"type"`
	Kind         string `json:"kind"`
	Derivation   string `json:"derivation"`
	Snapshot     struct {
		Element []struct {
			Path       string `json:"path"`
			Constraint []struct {
				Key        string `json:"key"`
				Severity   string `json:"severity"`
				Human      string `json:"human"`
				Expression string `json:"expression"`
			} `json:"constraint"`
		} `json:"element"`
	} `json:"snapshot"`
}

// loadConstraints reads the constraints of every core StructureDefinition and compiles each
// distinct (type, key) once. Expressions are shared between types where the text is the
// same (ele-1 is on every element), so compiling is by text.
func loadConstraints() (*constraintSet, error) {
	cs := &constraintSet{byPath: map[string][]*constraint{}, byProfile: map[string][]*constraint{}}
	compiled := map[string]*constraint{} // type + "|" + key
	byText := map[string]*fhirpath.Expr{}
	textErr := map[string]error{}
	for _, file := range []string{"profiles-types.json.gz", "profiles-resources.json.gz"} {
		data, err := definitions.ReadFile(file)
		if err != nil {
			return nil, err
		}
		var b struct {
			Entry []struct {
				Resource json.RawMessage `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(data, &b); err != nil {
			return nil, fmt.Errorf("validation: %s: %w", file, err)
		}
		for _, e := range b.Entry {
			if !bytes.Contains(e.Resource[:min(len(e.Resource), 200)], []byte(`"StructureDefinition"`)) {
				continue
			}
			var sd rawSD
			if err := json.Unmarshal(e.Resource, &sd); err != nil {
				return nil, fmt.Errorf("validation: %s: %w", file, err)
			}
			if sd.ResourceType != "StructureDefinition" || sd.Kind == "logical" || len(sd.Snapshot.Element) == 0 {
				continue
			}
			profile := sd.Derivation == "constraint"
			owner := sd.Type
			if profile {
				owner = sd.URL[strings.LastIndexByte(sd.URL, '/')+1:]
			}
			for i, el := range sd.Snapshot.Element {
				if profile && i > 0 {
					break // a profile's own rules on data types sit on its root
				}
				for _, rc := range el.Constraint {
					if rc.Expression == "" {
						continue
					}
					id := owner + "|" + rc.Key
					c := compiled[id]
					if c == nil || c.Expression != rc.Expression {
						c = &constraint{Key: rc.Key, Severity: rc.Severity, Human: rc.Human, Expression: rc.Expression, Owner: owner}
						if x, ok := byText[rc.Expression]; ok {
							c.expr = x
						} else if err, ok := textErr[rc.Expression]; ok {
							c.err = err
						} else if x, err := fhirpath.Compile(rc.Expression); err != nil {
							c.err = err
							textErr[rc.Expression] = err
						} else {
							c.expr = x
							byText[rc.Expression] = x
						}
						if fn := nativeChecks[id]; fn != nil {
							c.native, c.err = fn, nil
						}
						if c.err != nil {
							cs.failed = append(cs.failed, c)
						}
						compiled[id] = c
					}
					if profile {
						cs.byProfile[sd.URL] = append(cs.byProfile[sd.URL], c)
					} else {
						cs.byPath[el.Path] = append(cs.byPath[el.Path], c)
					}
				}
			}
		}
	}
	return cs, nil
}
