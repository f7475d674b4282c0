package snomed

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/concord-health/concord/terminology"
)

// Code systems of the classifications SNOMED CT maps to.
const (
	ICD10    = "http://hl7.org/fhir/sid/icd-10"
	ICD10UK  = "http://hl7.org/fhir/sid/icd-10-uk"
	OPCS4    = "http://fhir.hl7.org.uk/CodeSystem/OPCS-4"
	ICDO3    = "http://terminology.hl7.org/CodeSystem/icd-o-3"
	CTV3     = "http://read.info/ctv3"
	implicit = System + "?fhir_cm="
)

// mapTarget says where a map refset goes and how its targets are written.
type mapTarget struct {
	system, title string
	// nhsForm: targets are written without the dot (I219) and with an X filling a
	// three-character code (I10X), as in the UK maps; codes are given the dotted form the
	// classification's code system uses.
	nhsForm bool
}

// knownMaps are the map refsets whose target Concord knows; others are not offered to
// $translate, since their codes would have no system.
var knownMaps = map[uint64]mapTarget{
	447562003:          {ICD10, "SNOMED CT to ICD-10 extended map", false},
	999002271000000101: {ICD10UK, "SNOMED CT to ICD-10 5th Edition complex map (UK)", true},
	999002741000000101: {OPCS4, "SNOMED CT to OPCS-4.8 complex map (UK)", true},
	1126441000000105:   {OPCS4, "SNOMED CT to OPCS-4.9 complex map (UK)", true},
	1382401000000109:   {OPCS4, "SNOMED CT to OPCS-4.10 complex map (UK)", true},
	1891651000000103:   {OPCS4, "SNOMED CT to OPCS-4.11 complex map (UK)", true},
	446608001:          {ICDO3, "SNOMED CT to ICD-O simple map", false},
	900000000000497000: {CTV3, "SNOMED CT to CTV3 simple map", false},
}

// MapProviders offers the edition's map refsets whose target is known to $translate, each
// as the implicit concept map "http://snomed.info/sct?fhir_cm=<refset>".
func MapProviders(e *Edition) []terminology.MapProvider {
	var out []terminology.MapProvider
	for _, r := range e.MapRefsets() {
		if t, ok := knownMaps[r]; ok {
			out = append(out, &mapProvider{e: e, refset: r, target: t})
		}
	}
	return out
}

type mapProvider struct {
	e      *Edition
	refset uint64
	target mapTarget

	reverseOnce sync.Once
	reverse     map[string][]int // target code → rows of the refset
}

func (m *mapProvider) Info() terminology.Info {
	return terminology.Info{URL: implicit + strconv.FormatUint(m.refset, 10), Version: m.e.Version(),
		Name: "SNOMEDCTMap" + strconv.FormatUint(m.refset, 10), Title: m.target.title, Status: "active"}
}

func (m *mapProvider) Systems() (source, target string) { return System, m.target.system }

// Translate gives one match per map row: every group (a source may need several target
// codes, as for dagger and asterisk pairs) and every rule within it, with the rule and the
// map advice in the comment, since a conditional rule applies only in its context.
func (m *mapProvider) Translate(_ context.Context, code string, reverse bool) ([]terminology.Match, error) {
	if reverse {
		return m.translateBack(code), nil
	}
	id, ok := parseCode(code)
	if !ok {
		return nil, nil
	}
	var out []terminology.Match
	for _, r := range m.e.Maps(m.refset, id) {
		target, mark := m.splitTarget(r.Target)
		mt := m.match(r, target, false)
		if mark != "" {
			mt.Comment += "; " + mark + " code"
		}
		out = append(out, mt)
	}
	return out, nil
}

// translateBack maps a classification code to the SNOMED CT concepts that map to it.
func (m *mapProvider) translateBack(code string) []terminology.Match {
	m.reverseOnce.Do(m.buildReverse)
	var out []terminology.Match
	for _, i := range m.reverse[code] {
		e := m.e
		r := MapEntry{Group: int(e.mapGroup[i]), Priority: int(e.mapPriority[i]), Rule: e.str(e.mapRule[i]),
			Advice: e.str(e.mapAdvice[i]), Target: e.str(e.mapTarget[i]), Correlation: e.mapCorr[i], MapCategory: e.mapCat[i]}
		mt := m.match(r, "", true)
		id := e.mapRef[i]
		mt.Concept = terminology.Coding{System: System, Version: e.Version(), Code: strconv.FormatUint(id, 10), Display: e.Display(id)}
		out = append(out, mt)
	}
	return out
}

func (m *mapProvider) buildReverse() {
	e := m.e
	m.reverse = map[string][]int{}
	for k, r := range e.mapRefsets {
		if r != m.refset {
			continue
		}
		for i := int(e.mapOff[k]); i < int(e.mapOff[k+1]); i++ {
			if t := m.targetCode(e.str(e.mapTarget[i])); t != "" {
				m.reverse[t] = append(m.reverse[t], i)
			}
		}
	}
}

// match describes one map row; target "" is a row that maps to no code (#NC, not
// classifiable, or an empty target).
func (m *mapProvider) match(r MapEntry, target string, reverse bool) terminology.Match {
	mt := terminology.Match{Equivalence: equivalence(r.Correlation), Comment: comment(r)}
	if reverse {
		mt.Equivalence = reversed(mt.Equivalence)
	}
	if target == "" && !reverse {
		mt.Equivalence = "unmatched"
		return mt
	}
	mt.Concept = terminology.Coding{System: m.target.system, Code: target}
	return mt
}

// targetCode is a row's target as a code of the classification, "" for none.
func (m *mapProvider) targetCode(t string) string {
	code, _ := m.splitTarget(t)
	return code
}

// splitTarget reads a row's target: the code, and the dagger or asterisk mark the UK ICD-10
// map appends (G35XD: G35, dagger), which belongs to the pair of codes, not to the code.
func (m *mapProvider) splitTarget(t string) (code, mark string) {
	t = strings.TrimSpace(t)
	if t == "" || strings.HasPrefix(t, "#") {
		return "", ""
	}
	if !m.target.nhsForm {
		return t, ""
	}
	if n := len(t); n >= 4 && (t[n-1] == 'D' || t[n-1] == 'A') {
		mark = map[byte]string{'D': "dagger", 'A': "asterisk"}[t[n-1]]
		t = t[:n-1]
	}
	switch {
	case strings.Contains(t, ".") || len(t) <= 3:
		return t, mark
	case len(t) == 4 && t[3] == 'X':
		return t[:3], mark // the filler of a three-character category
	}
	return t[:3] + "." + t[3:], mark
}

// equivalence reads a map row's correlation (extended maps); complex maps state none, and
// a classification code is then only known to be related.
func equivalence(correlation uint64) string {
	switch correlation {
	case 447557004: // exact match
		return "equivalent"
	case 447558009: // narrow to broad: the target is wider
		return "wider"
	case 447559001: // broad to narrow
		return "narrower"
	case 447560006: // partial overlap
		return "inexact"
	case 447556008: // not mappable
		return "unmatched"
	}
	return "relatedto"
}

func reversed(e string) string {
	switch e {
	case "wider":
		return "narrower"
	case "narrower":
		return "wider"
	}
	return e
}

func comment(r MapEntry) string {
	s := fmt.Sprintf("map group %d, priority %d", r.Group, r.Priority)
	if r.Rule != "" {
		s += "; rule: " + r.Rule
	}
	if r.Advice != "" {
		s += "; advice: " + r.Advice
	}
	return s
}
