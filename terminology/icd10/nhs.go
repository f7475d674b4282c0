package icd10

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/terminology/release"
)

// nhsColumns are the columns of the NHS codes-and-titles file, in order.
var nhsColumns = []string{"CODE", "ALT_CODE", "USAGE", "USAGE_UK", "DESCRIPTION", "MODIFIER_4",
	"MODIFIER_5", "QUALIFIERS", "GENDER_MASK", "MIN_AGE", "MAX_AGE", "TREE_DESCRIPTION"}

const (
	colCode = iota
	colAltCode
	colUsage
	colUsageUK
	colDescription
	colModifier4
	colModifier5
	colQualifiers
	colGenderMask
	colMinAge
	colMaxAge
	colTreeDescription
)

// nhsFileName matches the NHS file: ICD10_Edition5_CodesAndTitlesAndMetadata_GB_20160401.txt,
// giving the edition and the date.
var nhsFileName = regexp.MustCompile(`(?i)^ICD10_Edition(\d+)_CodesAndTitlesAndMetadata(?:_[A-Z]+)?(?:_(\d{8}))?\.txt$`)

// nhsCode is an ICD-10 code as the NHS file writes it: a 3-character category, optionally a
// dot and one or two more characters (A00, A00.0, M00.00).
var nhsCode = regexp.MustCompile(`^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,2})?$`)

// blockCode is a block's code, the range of its categories (A00-A09).
var blockCode = regexp.MustCompile(`^([A-Z][0-9]{2})-([A-Z][0-9]{2})$`)

const expectedNHS = "the NHS ICD-10 codes, titles and metadata file (ICD10_Edition5_CodesAndTitlesAndMetadata_GB_<date>.txt)"

// NHS-specific concept properties.
var nhsProperties = []release.PropertyDef{
	defKind,
	defNotSelectable,
	defUsage,
	{Code: "altCode", Type: "string", Description: "The code without its dot, an X filling a 3-character code that has no 4th character (ALT_CODE)"},
	{Code: "usageUK", Type: "integer", Description: "USAGE_UK column of the NHS release, as released"},
	{Code: "modifier4", Type: "string", Description: "Title of the 4th-character modifier completing the display (MODIFIER_4)"},
	{Code: "modifier5", Type: "string", Description: "Title of the 5th-character modifier completing the display (MODIFIER_5)"},
	{Code: "qualifier", Type: "string", Description: "A code of the dual classification this code pairs with; one value per code (QUALIFIERS)"},
	{Code: "genderMask", Type: "integer", Description: "GENDER_MASK column, as released: 0 no restriction, 1 male only, 2 female only"},
	{Code: "sex", Type: "code", Description: "The sex the code is restricted to (male, female), from GENDER_MASK"},
	{Code: "minAge", Type: "integer", Description: "Lowest age, in years, the code is valid for (MIN_AGE)"},
	{Code: "maxAge", Type: "integer", Description: "Highest age, in years, the code is valid for (MAX_AGE)"},
	{Code: "treeDescription", Type: "string", Description: "Short title for hierarchical displays (TREE_DESCRIPTION)"},
}

// Load reads the NHS ICD-10 data files release (TRUD "NHS ICD-10 5th Edition data files")
// from files, folders or the release zip and returns it as a FHIR CodeSystem with url
// URLUK. The release's file ICD10_Edition5_CodesAndTitlesAndMetadata_GB_<date>.txt is
// required; its name gives the version ("5.0" for the 5th edition) and the date.
//
// Each row becomes a concept with its dotted code (a row whose CODE is a range, A00-A09,
// a block). The display is DESCRIPTION followed by MODIFIER_4 and MODIFIER_5 when given
// (the NHS writes 4th and 5th characters that come from a shared modifier list that way).
// Dagger/asterisk usage, age and sex limits, the alternative code and the other columns are
// concept properties. The hierarchy is chapter → block → 3-character category →
// 4-character subcategory → 5-character code. The chapters are ICD-10's (the release has
// none); the 5th edition data file has no blocks either, so its categories sit directly
// under their chapter unless rows for blocks are given. Malformed rows fail the load naming
// file and line (up to release.MaxRowErrors of them), as do duplicate codes.
func Load(ctx context.Context, paths []string) (*fhir.Resource, error) {
	f, rc, err := release.OpenFile(paths, expectedNHS, release.Named(nhsFileName))
	if err != nil {
		return nil, fmt.Errorf("icd10: %w", err)
	}
	defer rc.Close()
	return readNHS(ctx, f, rc)
}

func readNHS(ctx context.Context, f release.File, r io.Reader) (*fhir.Resource, error) {
	m := nhsFileName.FindStringSubmatch(f.Base)
	version, date := m[1]+".0", ""
	if d := m[2]; d != "" {
		date = d[:4] + "-" + d[4:6] + "-" + d[6:]
	}
	rows := release.NewRows(r, f.Name)
	hdr, err := rows.Next()
	if err == io.EOF {
		return nil, fmt.Errorf("icd10: %s: empty file, expected a header row", f.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("icd10: %w", err)
	}
	if !equalFold(hdr, nhsColumns) {
		return nil, fmt.Errorf("icd10: %w", &release.RowError{File: f.Name, Line: rows.Line(),
			Msg: fmt.Sprintf("header is %q, want %s", strings.Join(hdr, "\t"), strings.Join(nhsColumns, " "))})
	}

	order, err := rows.Concepts(ctx, nhsConcept)
	if err != nil {
		return nil, fmt.Errorf("icd10: %w", err)
	}
	byCode := map[string]*release.Concept{}
	for _, c := range order {
		byCode[c.Code] = c
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("icd10: %s has no codes", f.Name)
	}

	// Chapters first, in their order; categories under them in file order.
	chapterNodes := make([]*release.Concept, len(chapters))
	for i, ch := range chapters {
		c := &release.Concept{Code: ch.numeral, Display: ch.title}
		c.Add(propKind, "chapter")
		c.Add(propNotSelectable, "true")
		chapterNodes[i] = c
	}
	var blocks []*release.Concept
	for _, c := range order {
		if blockCode.MatchString(c.Code) {
			blocks = append(blocks, c)
		}
	}
	var roots []*release.Concept
	for _, c := range order {
		if !blockCode.MatchString(c.Code) {
			if p := nhsParent(c.Code, byCode); p != nil {
				p.Children = append(p.Children, c)
				continue
			}
		}
		if b := blockOf(c.Code, blocks); b != nil {
			b.Children = append(b.Children, c)
			continue
		}
		if i := chapterOf(c.Code); i >= 0 {
			chapterNodes[i].Children = append(chapterNodes[i].Children, c)
			continue
		}
		roots = append(roots, c) // a category outside every chapter's range
	}
	var top []*release.Concept
	for _, c := range chapterNodes {
		if len(c.Children) > 0 {
			top = append(top, c)
		}
	}
	cs := &release.CodeSystem{
		ID:               "icd-10-uk",
		URL:              URLUK,
		Version:          version,
		Name:             "ICD10UK",
		Title:            "ICD-10 " + ordinal(version) + " Edition (NHS)",
		Publisher:        "NHS England",
		Description:      "The International Statistical Classification of Diseases and Related Health Problems, Tenth Revision, as released for use in the NHS (NHS ICD-10 data files, " + f.Base + ").",
		Copyright:        "ICD-10 is copyright World Health Organization; the NHS data files are distributed by NHS England through TRUD under licence.",
		Date:             date,
		HierarchyMeaning: "is-a",
		Properties:       nhsProperties,
		Concepts:         append(top, roots...),
	}
	return cs.Resource()
}

// nhsConcept reads one row; msg says what is wrong with a malformed one.
func nhsConcept(row []string) (c *release.Concept, msg string) {
	if len(row) != len(nhsColumns) {
		return nil, fmt.Sprintf("%d fields, want %d", len(row), len(nhsColumns))
	}
	for i := range row {
		row[i] = strings.TrimSpace(row[i])
	}
	code := row[colCode]
	switch {
	case code == "":
		return nil, "empty CODE"
	case !nhsCode.MatchString(code) && !blockCode.MatchString(code):
		return nil, fmt.Sprintf("CODE %q is not an ICD-10 code (A00, A00.0, M00.00) or block (A00-A09)", code)
	case row[colDescription] == "":
		return nil, fmt.Sprintf("code %s has no DESCRIPTION", code)
	}
	display := row[colDescription]
	for _, m := range []string{row[colModifier4], row[colModifier5]} {
		if m != "" {
			display += " " + m
		}
	}
	c = &release.Concept{Code: code, Display: display}
	if blockCode.MatchString(code) {
		c.Add(propKind, "block")
		c.Add(propNotSelectable, "true")
	} else {
		c.Add(propKind, "category")
	}
	if v := row[colAltCode]; v != "" {
		c.Add("altCode", v)
	}
	switch u := strings.ToUpper(row[colUsage]); u {
	case "", "DEFAULT":
	case "DAGGER":
		c.Add(propUsage, "dagger")
	case "ASTERISK", "ASTER":
		c.Add(propUsage, "asterisk")
	default:
		c.Add(propUsage, strings.ToLower(u))
	}
	ints := map[int]int{}
	for _, col := range []int{colUsageUK, colGenderMask, colMinAge, colMaxAge} {
		if row[col] == "" {
			continue
		}
		v, err := strconv.Atoi(row[col])
		if err != nil {
			return nil, fmt.Sprintf("code %s: %s %q is not a whole number", code, nhsColumns[col], row[col])
		}
		ints[col] = v
	}
	if v, ok := ints[colUsageUK]; ok {
		c.Add("usageUK", strconv.Itoa(v))
	}
	if v := row[colModifier4]; v != "" {
		c.Add("modifier4", v)
	}
	if v := row[colModifier5]; v != "" {
		c.Add("modifier5", v)
	}
	for _, q := range strings.Split(row[colQualifiers], "^") {
		if q = strings.TrimSpace(q); q != "" {
			c.Add("qualifier", q)
		}
	}
	if v, ok := ints[colGenderMask]; ok {
		c.Add("genderMask", strconv.Itoa(v))
		switch v {
		case 1:
			c.Add("sex", "male")
		case 2:
			c.Add("sex", "female")
		}
	}
	if v, ok := ints[colMinAge]; ok {
		c.Add("minAge", strconv.Itoa(v))
	}
	if v, ok := ints[colMaxAge]; ok {
		c.Add("maxAge", strconv.Itoa(v))
	}
	if v := row[colTreeDescription]; v != "" {
		c.Add("treeDescription", v)
	}
	return c, ""
}

// blockOf returns the narrowest block (other than the code itself) whose range holds a
// category or block, or nil.
func blockOf(code string, blocks []*release.Concept) *release.Concept {
	first, last := code[:3], code[:3]
	if m := blockCode.FindStringSubmatch(code); m != nil {
		first, last = m[1], m[2]
	}
	var best *release.Concept
	var bestFirst, bestLast string
	for _, b := range blocks {
		m := blockCode.FindStringSubmatch(b.Code)
		if b.Code == code || first < m[1] || last > m[2] {
			continue
		}
		if best == nil || m[1] >= bestFirst && m[2] <= bestLast {
			best, bestFirst, bestLast = b, m[1], m[2]
		}
	}
	return best
}

// nhsParent finds the nearest held code a code refines: A00.0 → A00, M00.00 → M00.0.
func nhsParent(code string, byCode map[string]*release.Concept) *release.Concept {
	for p := code[:len(code)-1]; len(p) >= 3; p = p[:len(p)-1] {
		p = strings.TrimSuffix(p, ".")
		if c := byCode[p]; c != nil {
			return c
		}
	}
	return nil
}

func equalFold(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(strings.TrimSpace(a[i]), b[i]) {
			return false
		}
	}
	return true
}

// ordinal writes an edition number as "5th".
func ordinal(version string) string {
	n, _, _ := strings.Cut(version, ".")
	switch {
	case strings.HasSuffix(n, "11"), strings.HasSuffix(n, "12"), strings.HasSuffix(n, "13"):
		return n + "th"
	case strings.HasSuffix(n, "1"):
		return n + "st"
	case strings.HasSuffix(n, "2"):
		return n + "nd"
	case strings.HasSuffix(n, "3"):
		return n + "rd"
	}
	return n + "th"
}
