package v2fhir

import (
	"regexp"
	"strings"
)

// Code system URIs.
const (
	loincSystem     = "http://loinc.org"
	snomedSystem    = "http://snomed.info/sct"
	ucumSystem      = "http://unitsofmeasure.org"
	icd10System     = "http://hl7.org/fhir/sid/icd-10"
	v2Prefix        = "http://terminology.hl7.org/CodeSystem/v2-"
	v3ActCode       = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	v3Participation = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	v3Interp        = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
	v3Marital       = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
	v3NullFlavor    = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
	v3Confidential  = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
	v3ActPriority   = "http://terminology.hl7.org/CodeSystem/v3-ActPriority"
	locPhysType     = "http://terminology.hl7.org/CodeSystem/location-physical-type"
	identifierType  = v2Prefix + "0203"
)

var hl7Table = regexp.MustCompile(`^HL7?(\d{4})$`)

// codeSystem turns a v2 coding system name (CWE-3) into a FHIR system URI;
// "" when the name is local or unknown (a coding without a system is still
// valid, and inventing one would be wrong).
func codeSystem(name string) string {
	n := strings.ToUpper(strings.TrimSpace(name))
	switch n {
	case "":
		return ""
	case "LN", "LOINC":
		return loincSystem
	case "SCT", "SNM", "SNOMED", "SNOMEDCT", "SNOMED-CT":
		return snomedSystem
	case "UCUM":
		return ucumSystem
	case "I10", "ICD10", "I10C", "ICD-10":
		return icd10System
	case "ISO639", "ISO+639":
		return "urn:ietf:bcp:47"
	case "ISO3166", "ISO3166_1":
		return "urn:iso:std:iso:3166"
	case "CVX":
		return "http://hl7.org/fhir/sid/cvx"
	case "RXNORM":
		return "http://www.nlm.nih.gov/research/umls/rxnorm"
	case "DMD":
		return "https://dmd.nhs.uk"
	case "OPCS4", "OPCS":
		return "http://fhir.nhs.net/CodeSystem/opcs-4"
	}
	if m := hl7Table.FindStringSubmatch(n); m != nil {
		return v2Prefix + m[1]
	}
	if strings.HasPrefix(n, "HTTP://") || strings.HasPrefix(n, "HTTPS://") || strings.HasPrefix(n, "URN:") {
		return strings.TrimSpace(name)
	}
	return ""
}

// codeRe is FHIR's code: no leading, trailing or double whitespace.
var codeRe = regexp.MustCompile(`^[^\s]+( [^\s]+)*$`)

func validCode(s string) bool { return codeRe.MatchString(s) }

// coding builds a Coding; nil when there is no code and no display.
func coding(system, code, display string) obj {
	c := obj{}
	if system != "" && (code != "" || display != "") {
		c["system"] = system
	}
	if code != "" {
		if !validCode(code) {
			code = strings.Join(strings.Fields(code), " ")
		}
		c["code"] = code
	}
	if display != "" {
		c["display"] = display
	}
	if len(c) == 0 {
		return nil
	}
	return c
}

// codeable maps a CWE/CE/CNE (CWE[CodeableConcept]): the primary and
// alternate codings, and CWE-9 (or the primary text) as text. table is the
// HL7 table the field is bound to, used when CWE-3 is empty.
func codeable(v val, table string) obj {
	var codings []any
	add := func(code, display, system string) {
		sys := codeSystem(system)
		if sys == "" && system == "" && table != "" && code != "" {
			sys = v2Prefix + table
		}
		if c := coding(sys, code, display); c != nil {
			if code == "" {
				return // a display alone is text, not a coding
			}
			codings = append(codings, c)
		}
	}
	add(v.c(1).s(), v.c(2).s(), v.c(3).s())
	add(v.c(4).s(), v.c(5).s(), v.c(6).s())
	add(v.c(10).s(), v.c(11).s(), v.c(12).s())
	cc := obj{}
	if len(codings) > 0 {
		cc["coding"] = codings
	}
	text := v.c(9).s()
	if text == "" {
		text = v.c(2).s()
	}
	if text == "" && len(codings) == 0 {
		text = v.c(1).s()
	}
	if text != "" {
		cc["text"] = text
	}
	if len(cc) == 0 {
		return nil
	}
	return cc
}

// mapped is a code translated through one of the IG's concept maps.
type mapped struct{ code, display string }

// IG concept map AdministrativeSex (HL7 table 0001 → administrative-gender).
var genderMap = map[string]string{"F": "female", "M": "male", "O": "other", "U": "unknown", "A": "other", "N": "other"}

// IG concept map PatientClass[EncounterClass] (0004 → v3 ActCode). Classes
// the map leaves in table 0004 (R, B, C, N, U) keep their v2 coding, since
// they are not ActCodes.
var classMap = map[string]mapped{
	"E": {"EMER", "emergency"}, "I": {"IMP", "inpatient encounter"},
	"O": {"AMB", "ambulatory"}, "P": {"PRENC", "pre-admission"},
}

// IG concept map PatientClass[EncounterStatus].
var classStatus = map[string]string{"P": "planned", "U": "unknown"}

// IG concept map EncounterPriority (0217 → v3 ActPriority).
var encounterPriority = map[string]mapped{"1": {"EM", "emergency"}, "2": {"UR", "urgent"}, "3": {"EL", "elective"}}

// IG concept map MaritalStatus (0002 → v3 MaritalStatus).
var maritalMap = map[string]mapped{
	"A": {"L", "Legally Separated"}, "D": {"D", "Divorced"}, "M": {"M", "Married"},
	"S": {"S", "Never Married"}, "W": {"W", "Widowed"}, "C": {"C", "Common Law"},
	"G": {"T", "Domestic partner"}, "P": {"T", "Domestic partner"}, "R": {"T", "Domestic partner"},
	"E": {"L", "Legally Separated"}, "N": {"A", "Annulled"}, "I": {"I", "Interlocutory"},
	"B": {"U", "unmarried"}, "U": {"UNK", "unknown"}, "O": {"OTH", "other"}, "T": {"NAVU", "not available"},
}

// IG concept map NameType (0200 → name-use).
var nameUse = map[string]string{
	"BAD": "old", "D": "usual", "L": "official", "M": "maiden", "MSK": "anonymous",
	"N": "nickname", "NAV": "temp", "R": "official", "TEMP": "temp", "NOUSE": "old",
}

// IG concept map AddressType[Use] (0190 → address-use).
var addressUse = map[string]string{"BA": "old", "BI": "billing", "C": "temp", "B": "work", "H": "home", "O": "work"}

// IG concept maps TelecommunicationUseCode (0201) and TelecommunicationEquipmentType (0202).
var telecomUse = map[string]string{"PRN": "home", "WPN": "work", "PRS": "mobile"}
var telecomSystem = map[string]string{
	"PH": "phone", "FX": "fax", "MD": "other", "CP": "phone", "SAT": "other", "BP": "pager",
	"INTERNET": "email", "X.400": "email", "TDD": "other", "TTY": "other",
}

// IG concept map InterpretationCodes (0078 → v3 ObservationInterpretation):
// the v3 code is the v2 one, for these.
var interpretationCodes = map[string]string{
	"<": "Off scale low", ">": "Off scale high", "A": "Abnormal", "AA": "Critical abnormal",
	"B": "Better", "CAR": "Carrier", "D": "Significant change down", "DET": "Detected",
	"E": "Equivocal", "EX": "outside threshold", "EXP": "Expected", "H": "High",
	"HH": "Critical high", "HU": "Significantly high", "I": "Intermediate",
	"IE": "Insufficient evidence", "IND": "Indeterminate", "L": "Low", "LL": "Critical low",
	"LU": "Significantly low", "MS": "moderately susceptible", "N": "Normal",
	"NCL": "No CLSI defined breakpoint", "ND": "Not detected", "NEG": "Negative",
	"NR": "Non-reactive", "NS": "Non-susceptible", "POS": "Positive", "R": "Resistant",
	"RR": "Reactive", "S": "Susceptible", "SDD": "Susceptible-dose dependent",
	"SYN-R": "Synergy - resistant", "SYN-S": "Synergy - susceptible", "U": "Significant change up",
	"VS": "very susceptible", "UNE": "Unexpected", "W": "Worse", "WR": "Weakly reactive",
}

// IG concept map ObservationResultStatusCodesInterpretation (0085 →
// observation-status), completed for the codes the map leaves blank, since
// Observation.status is required.
var obxStatus = map[string]string{
	"C": "corrected", "D": "entered-in-error", "F": "final", "P": "preliminary", "X": "cancelled",
	"W": "entered-in-error", "A": "amended", "B": "amended", "R": "preliminary", "S": "preliminary",
	"I": "registered", "O": "registered", "V": "final", "U": "final", "N": "cancelled",
}

// IG concept map ResultStatus[Non-Queries] (0123 → diagnostic-report-status),
// completed likewise.
var obrStatus = map[string]string{
	"O": "registered", "I": "registered", "S": "registered", "A": "partial", "P": "preliminary",
	"C": "corrected", "R": "partial", "F": "final", "X": "cancelled", "M": "corrected", "N": "partial",
}

// IG concept maps OrderControlCode[ServiceRequest.status] (0119) and OrderStatus (0038).
var orderControlStatus = map[string]string{
	"AF": "active", "CA": "active", "CR": "revoked", "DC": "revoked", "DF": "revoked", "DR": "revoked",
	"FU": "completed", "HD": "active", "HR": "on-hold", "NW": "active", "OC": "revoked", "OD": "revoked",
	"OH": "on-hold", "OK": "active", "PR": "active", "PY": "active", "RL": "active", "RO": "active",
	"RQ": "active", "SC": "active", "XO": "active", "XX": "active", "RE": "active",
}
var orderStatus = map[string]string{
	"CA": "revoked", "CM": "completed", "DC": "revoked", "ER": "entered-in-error", "HD": "on-hold",
	"IP": "active", "RP": "revoked", "SC": "active",
}

// IG concept maps AllergenType (0127) and AllergySeverity (0128).
var allergyCategory = map[string]string{"DA": "medication", "FA": "food", "EA": "environment", "AA": "biologic", "PA": "environment", "LA": "environment"}
var allergyCriticality = map[string]string{"SV": "high", "MI": "low"}
var allergySeverity = map[string]string{"SV": "severe", "MO": "moderate", "MI": "mild"}

// IG concept map DocumentConfidentialityStatus (0272 → v3 Confidentiality).
var docConfidentiality = map[string]mapped{"V": {"V", "very restricted"}, "R": {"R", "restricted"}, "U": {"N", "normal"}}
