// Package icd10 turns ICD-10 releases into FHIR CodeSystem resources for the terminology
// service: the NHS ICD-10 5th Edition data files from NHS TRUD (Load) and the WHO
// classification in ClaML (LoadClaML). Codes keep their dotted form (A00.0); chapters (I,
// II, …), blocks (A00-A09, from ClaML) and categories nest as the classification does, so
// $lookup, $subsumes, $expand and is-a filters work through the service's usual code.
//
// The results are saved under the data directory (Save) and read back at start-up (Open).
package icd10

import (
	"errors"
	"fmt"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/terminology/release"
)

// Canonical URLs.
const (
	// URLUK names the NHS edition (ICD-10 5th Edition, UK): the system NHS England's
	// terminology server publishes it under and UK FHIR interfaces use.
	URLUK = "http://hl7.org/fhir/sid/icd-10-uk"
	// URLWHO names the WHO classification (HL7's identifier for ICD-10).
	URLWHO = "http://hl7.org/fhir/sid/icd-10"
)

// Where Save writes and Open reads, relative to the data directory.
const (
	FileUK  = "terminology/icd10.json"
	FileWHO = "terminology/icd10-who.json"
)

// ErrNoIndex is returned (wrapped) by Open when the data directory holds neither code
// system.
var ErrNoIndex = release.ErrNoIndex

// Save writes a code system made by Load (to FileUK) or LoadClaML (to FileWHO) under the
// data directory, replacing the one saved before atomically.
func Save(dataDir string, cs *fhir.Resource) error {
	if cs == nil || cs.Root == nil || cs.Type != "CodeSystem" {
		return errors.New("icd10: not a CodeSystem")
	}
	switch url := cs.Root.Text("url"); url {
	case URLUK:
		return release.Save(dataDir, FileUK, cs)
	case URLWHO:
		return release.Save(dataDir, FileWHO, cs)
	default:
		return fmt.Errorf("icd10: code system %s is not ICD-10 (%s or %s)", url, URLUK, URLWHO)
	}
}

// Open reads the code systems saved under the data directory: the NHS edition, the WHO
// classification, or both. When neither is there the error wraps ErrNoIndex.
func Open(dataDir string) ([]*fhir.Resource, error) {
	var out []*fhir.Resource
	var missing []error
	for _, name := range []string{FileUK, FileWHO} {
		res, err := release.Open(dataDir, name)
		switch {
		case errors.Is(err, release.ErrNoIndex):
			missing = append(missing, err)
		case err != nil:
			return nil, fmt.Errorf("icd10: %w", err)
		default:
			out = append(out, res)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("icd10: %w", errors.Join(missing...))
	}
	return out, nil
}

// Concept properties, shared by both loaders where they mean the same.
const (
	propKind          = "kind"
	propNotSelectable = "notSelectable"
	propUsage         = "usage"
)

var (
	defKind = release.PropertyDef{Code: propKind, Type: "code",
		Description: "Class kind, as ClaML names it: chapter, block or category"}
	defNotSelectable = release.PropertyDef{Code: propNotSelectable, Type: "boolean",
		URI:         "http://hl7.org/fhir/concept-properties#notSelectable",
		Description: "Chapters and blocks group codes and are not codes to record"}
	defUsage = release.PropertyDef{Code: propUsage, Type: "code",
		Description: "Dual classification: dagger (aetiology) or asterisk (manifestation); absent for other codes"}
)

// chapter is an ICD-10 chapter: its number and the range of 3-character categories it holds.
type chapter struct {
	numeral, first, last, title string
}

// chapters are the chapters of ICD-10 (Volume 1, Fifth Edition 2016), which the NHS data
// files do not carry: the NHS code system is nested under them so that is-a filters and
// $subsumes can work by chapter.
var chapters = []chapter{
	{"I", "A00", "B99", "Certain infectious and parasitic diseases"},
	{"II", "C00", "D48", "Neoplasms"},
	{"III", "D50", "D89", "Diseases of the blood and blood-forming organs and certain disorders involving the immune mechanism"},
	{"IV", "E00", "E90", "Endocrine, nutritional and metabolic diseases"},
	{"V", "F00", "F99", "Mental and behavioural disorders"},
	{"VI", "G00", "G99", "Diseases of the nervous system"},
	{"VII", "H00", "H59", "Diseases of the eye and adnexa"},
	{"VIII", "H60", "H95", "Diseases of the ear and mastoid process"},
	{"IX", "I00", "I99", "Diseases of the circulatory system"},
	{"X", "J00", "J99", "Diseases of the respiratory system"},
	{"XI", "K00", "K93", "Diseases of the digestive system"},
	{"XII", "L00", "L99", "Diseases of the skin and subcutaneous tissue"},
	{"XIII", "M00", "M99", "Diseases of the musculoskeletal system and connective tissue"},
	{"XIV", "N00", "N99", "Diseases of the genitourinary system"},
	{"XV", "O00", "O99", "Pregnancy, childbirth and the puerperium"},
	{"XVI", "P00", "P96", "Certain conditions originating in the perinatal period"},
	{"XVII", "Q00", "Q99", "Congenital malformations, deformations and chromosomal abnormalities"},
	{"XVIII", "R00", "R99", "Symptoms, signs and abnormal clinical and laboratory findings, not elsewhere classified"},
	{"XIX", "S00", "T98", "Injury, poisoning and certain other consequences of external causes"},
	{"XX", "V01", "Y98", "External causes of morbidity and mortality"},
	{"XXI", "Z00", "Z99", "Factors influencing health status and contact with health services"},
	{"XXII", "U00", "U85", "Codes for special purposes"},
}

// chapterOf returns the index of the chapter holding a code's 3-character category, or -1.
func chapterOf(code string) int {
	if len(code) < 3 {
		return -1
	}
	cat := code[:3]
	for i, ch := range chapters {
		if cat >= ch.first && cat <= ch.last {
			return i
		}
	}
	return -1
}
