// Package opcs4 turns the OPCS-4 release from NHS TRUD (the "OPCS-4 data files") into a FHIR
// CodeSystem resource for the terminology service: chapters (A, B, …) hold 3-character
// categories (A01), which hold 4-character subcategories (A01.1), so $lookup, $subsumes,
// $expand and is-a filters work through the service's usual code. The result is saved under
// the data directory (Save) and read back at start-up (Open).
package opcs4

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/terminology/release"
)

// URL is the canonical URL of OPCS-4: the system NHS England's terminology server publishes
// the classification under (as its syndication content was built). No HL7 or UK Core
// publication defines one.
const URL = "http://fhir.hl7.org.uk/CodeSystem/OPCS-4"

// File is where Save writes and Open reads, relative to the data directory.
const File = "terminology/opcs4.json"

// ErrNoIndex is returned (wrapped) by Open when the data directory holds no OPCS-4.
var ErrNoIndex = release.ErrNoIndex

// fileName matches the codes and titles file, "OPCS410 CodesAndTitles Nov 2022 V1.0.txt",
// giving the version digits (410 → 4.10), month and year.
var fileName = regexp.MustCompile(`(?i)^OPCS-?4\.?(\d+)[ _]+CodesAndTitles(?:[ _]+([A-Za-z]{3})[a-z]*[ _]+(\d{4}))?.*\.txt$`)

const expected = "the OPCS-4 codes and titles file (OPCS4<nn> CodesAndTitles <Mon YYYY> V<n>.txt)"

// codeForm is an OPCS-4 code, dotted or not: A01, A01.1, A011.
var codeForm = regexp.MustCompile(`^([A-Z][0-9]{2})\.?([0-9])?$`)

var properties = []release.PropertyDef{
	{Code: "kind", Type: "code", Description: "chapter, category (3 characters) or subcategory (4 characters)"},
	{Code: "notSelectable", Type: "boolean", URI: "http://hl7.org/fhir/concept-properties#notSelectable",
		Description: "Chapters group codes and are not codes to record"},
}

// chapters are the chapter titles of OPCS-4 (Volume I, the tabular list). The codes and
// titles file lists categories and subcategories; a file that also has chapter rows (a
// single letter and its title) overrides these.
var chapters = map[string]string{
	"A": "Nervous system",
	"B": "Endocrine system and breast",
	"C": "Eye",
	"D": "Ear",
	"E": "Respiratory tract",
	"F": "Mouth",
	"G": "Upper digestive tract",
	"H": "Lower digestive tract",
	"J": "Other abdominal organs, principally digestive",
	"K": "Heart",
	"L": "Arteries and veins",
	"M": "Urinary",
	"N": "Male genital organs",
	"O": "Overflow codes",
	"P": "Lower female genital tract",
	"Q": "Upper female genital tract",
	"R": "Female genital tract associated with pregnancy, childbirth and the puerperium",
	"S": "Skin",
	"T": "Soft tissue",
	"U": "Diagnostic imaging, testing and rehabilitation",
	"V": "Bones and joints of skull and spine",
	"W": "Other bones and joints",
	"X": "Miscellaneous operations",
	"Y": "Subsidiary classification of methods of operation",
	"Z": "Subsidiary classification of sites of operation",
}

var months = map[string]string{"jan": "01", "feb": "02", "mar": "03", "apr": "04", "may": "05", "jun": "06",
	"jul": "07", "aug": "08", "sep": "09", "oct": "10", "nov": "11", "dec": "12"}

// Load reads the OPCS-4 release from files, folders or the release zip and returns it as a
// FHIR CodeSystem with url URL. The release's codes and titles file is required (tab
// separated, a code and its title a line; a header row is skipped); its name gives the
// version ("4.10") and date. Codes are written dotted, as the NHS records them (A01.1); chapters are the
// code's first letter and notSelectable. Malformed rows fail the load naming file and line
// (up to release.MaxRowErrors of them), as do duplicate codes. The release's fixed-width
// metadata file (sex and status indicators) is not read.
func Load(ctx context.Context, paths []string) (*fhir.Resource, error) {
	f, rc, err := release.OpenFile(paths, expected, release.Named(fileName))
	if err != nil {
		return nil, fmt.Errorf("opcs4: %w", err)
	}
	defer rc.Close()
	return read(ctx, f, rc)
}

func read(ctx context.Context, f release.File, r io.Reader) (*fhir.Resource, error) {
	m := fileName.FindStringSubmatch(f.Base)
	version := "4." + m[1]
	date := ""
	if mon, ok := months[strings.ToLower(m[2])]; ok {
		date = m[3] + "-" + mon
	}
	rows := release.NewRows(r, f.Name)

	all, err := rows.Concepts(ctx, func(row []string) (*release.Concept, string) {
		c, msg := concept(row)
		if msg != "" && rows.Line() == 1 && len(row) == 2 && strings.EqualFold(strings.TrimSpace(row[0]), "code") {
			return nil, "" // a header row
		}
		return c, msg
	})
	if err != nil {
		return nil, fmt.Errorf("opcs4: %w", err)
	}
	byCode := map[string]*release.Concept{}
	titles := map[string]string{} // chapter titles the file gives, if any
	var order []*release.Concept
	for _, c := range all {
		if len(c.Code) == 1 {
			titles[c.Code] = c.Display
			continue
		}
		byCode[c.Code] = c
		order = append(order, c)
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("opcs4: %s has no codes", f.Name)
	}

	chapterNodes := map[string]*release.Concept{}
	var top []*release.Concept
	for _, c := range order {
		if len(c.Code) > 3 {
			if p := byCode[c.Code[:3]]; p != nil {
				p.Children = append(p.Children, c)
				continue
			}
		}
		letter := c.Code[:1]
		ch := chapterNodes[letter]
		if ch == nil {
			title, ok := titles[letter]
			if !ok {
				title, ok = chapters[letter]
			}
			if !ok {
				title = "Chapter " + letter
			}
			ch = &release.Concept{Code: letter, Display: title}
			ch.Add("kind", "chapter")
			ch.Add("notSelectable", "true")
			chapterNodes[letter] = ch
			top = append(top, ch)
		}
		ch.Children = append(ch.Children, c)
	}
	cs := &release.CodeSystem{
		ID:               "opcs-4",
		URL:              URL,
		Version:          version,
		Name:             "OPCS4",
		Title:            "OPCS Classification of Interventions and Procedures " + version,
		Publisher:        "NHS England",
		Description:      "OPCS-4, the classification of interventions and procedures used in the NHS, from the OPCS-4 data files (" + f.Base + ").",
		Copyright:        "OPCS-4 is Crown copyright, distributed by NHS England through TRUD.",
		Date:             date,
		HierarchyMeaning: "is-a",
		Properties:       properties,
		Concepts:         sortChapters(top),
	}
	return cs.Resource()
}

// concept reads one row; msg says what is wrong with a malformed one.
func concept(row []string) (c *release.Concept, msg string) {
	if len(row) != 2 {
		return nil, fmt.Sprintf("%d fields, want 2 (code and title)", len(row))
	}
	raw, title := strings.TrimSpace(row[0]), strings.TrimSpace(row[1])
	if raw == "" {
		return nil, "empty code"
	}
	if len(raw) == 1 && raw[0] >= 'A' && raw[0] <= 'Z' && title != "" {
		return &release.Concept{Code: raw, Display: title}, "" // a chapter heading
	}
	m := codeForm.FindStringSubmatch(strings.ToUpper(raw))
	if m == nil {
		return nil, fmt.Sprintf("%q is not an OPCS-4 code (A01, A01.1)", raw)
	}
	if title == "" {
		return nil, fmt.Sprintf("code %s has no title", raw)
	}
	c = &release.Concept{Code: m[1], Display: title}
	if m[2] != "" {
		c.Code += "." + m[2]
		c.Add("kind", "subcategory")
	} else {
		c.Add("kind", "category")
	}
	return c, ""
}

// sortChapters orders chapters by letter (the file is in code order, so this only matters
// for a file that is not).
func sortChapters(list []*release.Concept) []*release.Concept {
	for i := 1; i < len(list); i++ {
		for j := i; j > 0 && list[j].Code < list[j-1].Code; j-- {
			list[j], list[j-1] = list[j-1], list[j]
		}
	}
	return list
}

// Save writes a code system made by Load under the data directory (File), replacing the one
// saved before atomically.
func Save(dataDir string, cs *fhir.Resource) error {
	if cs == nil || cs.Root == nil || cs.Type != "CodeSystem" {
		return errors.New("opcs4: not a CodeSystem")
	}
	if url := cs.Root.Text("url"); url != URL {
		return fmt.Errorf("opcs4: code system %s is not OPCS-4 (%s)", url, URL)
	}
	return release.Save(dataDir, File, cs)
}

// Open reads the code system saved under the data directory, as a list like icd10.Open's.
// When there is none the error wraps ErrNoIndex.
func Open(dataDir string) ([]*fhir.Resource, error) {
	res, err := release.Open(dataDir, File)
	if err != nil {
		return nil, fmt.Errorf("opcs4: %w", err)
	}
	return []*fhir.Resource{res}, nil
}
