package icd10

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/terminology/release"
)

// ClaML elements, as far as the loader reads them.
type (
	clamlTitle struct {
		Name    string `xml:"name,attr"`
		Version string `xml:"version,attr"`
		Date    string `xml:"date,attr"`
		Text    string `xml:",chardata"`
	}
	clamlRef struct {
		Code string `xml:"code,attr"`
	}
	clamlMeta struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	}
	clamlModifiedBy struct {
		Code  string     `xml:"code,attr"`
		All   string     `xml:"all,attr"`
		Valid []clamlRef `xml:"ValidModifierClass"`
	}
	clamlRubric struct {
		Kind   string       `xml:"kind,attr"`
		Labels []clamlLabel `xml:"Label"`
	}
	clamlClass struct {
		Code       string            `xml:"code,attr"`
		Kind       string            `xml:"kind,attr"`
		Usage      string            `xml:"usage,attr"`
		Meta       []clamlMeta       `xml:"Meta"`
		Super      []clamlRef        `xml:"SuperClass"`
		Sub        []clamlRef        `xml:"SubClass"`
		ModifiedBy []clamlModifiedBy `xml:"ModifiedBy"`
		Exclude    []clamlRef        `xml:"ExcludeModifier"`
		Rubrics    []clamlRubric     `xml:"Rubric"`
	}
	clamlModifier struct {
		Code string     `xml:"code,attr"`
		Sub  []clamlRef `xml:"SubClass"`
	}
	clamlModifierClass struct {
		Modifier string        `xml:"modifier,attr"`
		Code     string        `xml:"code,attr"`
		Rubrics  []clamlRubric `xml:"Rubric"`
	}
)

// clamlLabel is a Label's text: its character data and that of the elements inside it
// (Reference, Term, Fragment, Para…), with whitespace collapsed. A Reference not already in
// brackets is put in parentheses, as the printed classification shows it.
type clamlLabel struct {
	Lang string
	Text string
}

func (l *clamlLabel) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	for _, a := range start.Attr {
		if a.Name.Local == "lang" {
			l.Lang = a.Value
		}
	}
	var sb strings.Builder
	depth := 0
	inRef := false
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			sb.WriteByte(' ')
			if t.Name.Local == "Reference" {
				s := strings.TrimRight(sb.String(), " ")
				if !strings.HasSuffix(s, "(") && !strings.HasSuffix(s, "[") {
					sb.WriteByte('(')
					inRef = true
				}
			}
		case xml.EndElement:
			if depth == 0 {
				l.Text = strings.Join(strings.Fields(sb.String()), " ")
				l.Text = strings.NewReplacer("( ", "(", " )", ")").Replace(l.Text)
				return nil
			}
			depth--
			if t.Name.Local == "Reference" && inRef {
				sb.WriteByte(')')
				inRef = false
			}
			sb.WriteByte(' ')
		case xml.CharData:
			sb.Write(t)
		}
	}
}

// clamlFile recognises a ClaML file by name: an .xml file (the content is checked when read).
var clamlFile = regexp.MustCompile(`(?i)\.xml$`)

const expectedClaML = "an ICD-10 classification in ClaML (an .xml file whose root element is ClaML)"

// ClaML-specific concept properties (Meta elements add their own, one per name).
var clamlProperties = []release.PropertyDef{
	defKind,
	defNotSelectable,
	defUsage,
	{Code: "exclusion", Type: "string", Description: "An exclusion note (Rubric kind exclusion)"},
	{Code: "note", Type: "string", Description: "A note, coding hint, text or introduction rubric"},
	{Code: "modifier", Type: "string", Description: "For a code made by applying a modifier: the modifier (ClaML Modifier code) and the modifier class applied"},
}

// LoadClaML reads the WHO ICD-10 classification in ClaML 2.0 from files, folders or a zip
// (the one .xml file whose root element is ClaML) and returns it as a FHIR CodeSystem with
// url URLWHO; the Title element gives the version and date. The file is read as a stream.
//
// Chapters, blocks and categories become concepts nested by SuperClass/SubClass; chapters
// and blocks are notSelectable. The preferred rubric is the display, preferredLong and
// inclusion rubrics are designations (synonyms), a definition rubric the definition,
// exclusion and note-like rubrics properties, the usage attribute (dagger/aster) the usage
// property, and Meta elements properties named after them. Modifiers (ModifiedBy, with
// ValidModifierClass and ExcludeModifier) are applied: a modifier declared on a class adds
// its modifier classes under each category leaf below it (E10 with .0 → E10.0; a second
// modifier refines those in turn; a 4th-character class, ".0", extends 3-character codes and
// a 5th-character one, "0", 4-character codes), each display being the leaf's followed by
// the modifier class's. A code the file defines itself is not made again. Not applied: the
// excludeOnPrecedingModifier/excludeOnFollowingModifier Meta rules, and the rubrics of
// modifiers and modifier classes other than the preferred one.
func LoadClaML(ctx context.Context, paths []string) (*fhir.Resource, error) {
	f, rc, err := release.OpenFile(paths, expectedClaML, isClaML)
	if err != nil {
		return nil, fmt.Errorf("icd10: %w", err)
	}
	defer rc.Close()
	return readClaML(ctx, f, rc)
}

// isClaML reports whether a file is XML whose root element is ClaML.
func isClaML(f release.File) (bool, error) {
	if !clamlFile.MatchString(f.Base) {
		return false, nil
	}
	rc, err := f.Open()
	if err != nil {
		return false, fmt.Errorf("%s: %w", f.Name, err)
	}
	defer rc.Close()
	d := newDecoder(rc)
	for {
		tok, err := d.Token()
		if err != nil {
			return false, nil // not XML, or empty: not a ClaML file
		}
		if se, ok := tok.(xml.StartElement); ok {
			return se.Name.Local == "ClaML", nil
		}
	}
}

func newDecoder(r io.Reader) *xml.Decoder {
	d := xml.NewDecoder(r)
	d.CharsetReader = release.CharsetReader
	d.Strict = true
	return d
}

// clamlNode is a class (or a code made by a modifier) while the tree is built.
type clamlNode struct {
	class    *clamlClass
	concept  *release.Concept
	children []*clamlNode
	line     int
}

func readClaML(ctx context.Context, f release.File, r io.Reader) (*fhir.Resource, error) {
	d := newDecoder(r)
	var (
		title         clamlTitle
		nodes         = map[string]*clamlNode{}
		order         []*clamlNode
		modifiers     = map[string]*clamlModifier{}
		modifierClass = map[string]map[string]*clamlModifierClass{}
		modifierOrder = map[string][]string{}
		metaNames     = map[string]bool{}
		metaNameOrder []string
		errs          []error
		elements      int
	)
	failf := func(line int, format string, args ...any) {
		if len(errs) < release.MaxRowErrors {
			errs = append(errs, &release.RowError{File: f.Name, Line: line, Msg: fmt.Sprintf(format, args...)})
		}
	}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			line, _ := d.InputPos()
			return nil, fmt.Errorf("icd10: %w", &release.RowError{File: f.Name, Line: line, Msg: err.Error()})
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if elements++; elements&0x3ff == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		line, _ := d.InputPos()
		var derr error
		switch se.Name.Local {
		case "Title":
			derr = d.DecodeElement(&title, &se)
		case "Class":
			c := &clamlClass{}
			if derr = d.DecodeElement(c, &se); derr != nil {
				break
			}
			switch {
			case c.Code == "":
				failf(line, "Class without a code")
				continue
			case nodes[c.Code] != nil:
				failf(line, "duplicate code %s (first at line %d)", c.Code, nodes[c.Code].line)
				continue
			}
			n := &clamlNode{class: c, line: line}
			nodes[c.Code] = n
			order = append(order, n)
			for _, m := range c.Meta {
				if m.Name != "" && !excludeMeta(m.Name) && !metaNames[m.Name] {
					metaNames[m.Name] = true
					metaNameOrder = append(metaNameOrder, m.Name)
				}
			}
		case "Modifier":
			m := &clamlModifier{}
			if derr = d.DecodeElement(m, &se); derr == nil {
				modifiers[m.Code] = m
			}
		case "ModifierClass":
			mc := &clamlModifierClass{}
			if derr = d.DecodeElement(mc, &se); derr == nil {
				if modifierClass[mc.Modifier] == nil {
					modifierClass[mc.Modifier] = map[string]*clamlModifierClass{}
				}
				modifierClass[mc.Modifier][mc.Code] = mc
				modifierOrder[mc.Modifier] = append(modifierOrder[mc.Modifier], mc.Code)
			}
		}
		if derr != nil {
			line, _ := d.InputPos()
			return nil, fmt.Errorf("icd10: %w", &release.RowError{File: f.Name, Line: line, Msg: derr.Error()})
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("icd10: %w", errors.Join(errs...))
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("icd10: %s has no classes", f.Name)
	}

	props := append([]release.PropertyDef(nil), clamlProperties...)
	for _, name := range metaNameOrder {
		props = append(props, release.PropertyDef{Code: name, Type: "string", Description: "ClaML Meta " + name})
	}
	for _, n := range order {
		n.concept = clamlConcept(n.class)
	}

	// Link each class to its superclass; order children as the superclass lists them.
	var roots []*clamlNode
	for _, n := range order {
		if len(n.class.Super) == 0 {
			roots = append(roots, n)
			continue
		}
		p := nodes[n.class.Super[0].Code]
		if p == nil {
			failf(n.line, "class %s: superclass %s is not in the file", n.class.Code, n.class.Super[0].Code)
			continue
		}
		p.children = append(p.children, n)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("icd10: %w", errors.Join(errs...))
	}
	for _, n := range order {
		sortBySubClass(n)
	}

	// Apply modifiers down the tree, then turn it into nested concepts.
	mods := &modifierSet{byCode: modifiers, classes: modifierClass, order: modifierOrder, nodes: nodes}
	for _, r := range roots {
		if err := mods.apply(r, nil); err != nil {
			return nil, fmt.Errorf("icd10: %s: %w", f.Name, err)
		}
	}
	reached := map[*clamlNode]bool{}
	var build func(n *clamlNode) *release.Concept
	build = func(n *clamlNode) *release.Concept {
		reached[n] = true
		for _, c := range n.children {
			n.concept.Children = append(n.concept.Children, build(c))
		}
		return n.concept
	}
	var top []*release.Concept
	for _, r := range roots {
		top = append(top, build(r))
	}
	for _, n := range order {
		if !reached[n] {
			failf(n.line, "class %s is its own superclass, directly or through others", n.class.Code)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("icd10: %w", errors.Join(errs...))
	}

	name := strings.TrimSpace(title.Name)
	if name == "" {
		name = "ICD-10"
	}
	text := strings.Join(strings.Fields(title.Text), " ")
	if text == "" {
		text = "International Statistical Classification of Diseases and Related Health Problems, Tenth Revision"
	}
	cs := &release.CodeSystem{
		ID:               "icd-10",
		URL:              URLWHO,
		Version:          strings.TrimSpace(title.Version),
		Name:             strings.NewReplacer("-", "", " ", "").Replace(name),
		Title:            name,
		Publisher:        "World Health Organization",
		Description:      text + " (" + f.Base + ").",
		Copyright:        "ICD-10 is copyright World Health Organization.",
		Date:             fhirDate(title.Date),
		HierarchyMeaning: "is-a",
		Properties:       props,
		Concepts:         top,
	}
	return cs.Resource()
}

// excludeMeta names the Meta elements that steer modifiers rather than describe a class.
func excludeMeta(name string) bool {
	return name == "excludeOnPrecedingModifier" || name == "excludeOnFollowingModifier"
}

var dateForm = regexp.MustCompile(`^\d{4}(-\d{2}(-\d{2})?)?$`)

// fhirDate keeps a ClaML date that is a FHIR date ("2019-01-01", "2019"), else nothing.
func fhirDate(s string) string {
	s = strings.TrimSpace(s)
	if dateForm.MatchString(s) {
		return s
	}
	return ""
}

func clamlConcept(c *clamlClass) *release.Concept {
	out := &release.Concept{Code: c.Code}
	for _, r := range c.Rubrics {
		for _, l := range r.Labels {
			if l.Text == "" {
				continue
			}
			switch r.Kind {
			case "preferred":
				if out.Display == "" && (l.Lang == "" || strings.HasPrefix(l.Lang, "en")) {
					out.Display = l.Text
				} else {
					out.Designations = append(out.Designations, release.Designation{Language: l.Lang, Value: l.Text})
				}
			case "preferredLong", "inclusion":
				out.Designations = append(out.Designations, release.Designation{Language: l.Lang,
					Use: release.UseSynonym, UseDisplay: "Synonym", Value: l.Text})
			case "definition":
				if out.Definition == "" {
					out.Definition = l.Text
				}
			case "exclusion":
				out.Add("exclusion", l.Text)
			case "note", "coding-hint", "text", "introduction":
				out.Add("note", l.Text)
			}
		}
	}
	if out.Display == "" {
		// A class with a preferred label only in another language.
		for _, d := range out.Designations {
			if d.Use == "" {
				out.Display = d.Value
				break
			}
		}
	}
	kind := c.Kind
	if kind == "" {
		kind = "category"
	}
	out.Properties = append([]release.Property{{Code: propKind, Value: kind}}, out.Properties...)
	if kind == "chapter" || kind == "block" {
		out.Add(propNotSelectable, "true")
	}
	switch c.Usage {
	case "dagger":
		out.Add(propUsage, "dagger")
	case "aster", "asterisk":
		out.Add(propUsage, "asterisk")
	}
	for _, m := range c.Meta {
		if m.Name != "" && !excludeMeta(m.Name) && m.Value != "" {
			out.Add(m.Name, m.Value)
		}
	}
	return out
}

// sortBySubClass orders a node's children as its SubClass elements list them; children it
// does not list keep file order after those it does.
func sortBySubClass(n *clamlNode) {
	if len(n.children) < 2 || len(n.class.Sub) == 0 {
		return
	}
	rank := map[string]int{}
	for i, s := range n.class.Sub {
		rank[s.Code] = i + 1
	}
	listed := n.children[:0:0]
	var rest []*clamlNode
	for _, s := range n.class.Sub {
		for _, c := range n.children {
			if c.class.Code == s.Code {
				listed = append(listed, c)
			}
		}
	}
	for _, c := range n.children {
		if rank[c.class.Code] == 0 {
			rest = append(rest, c)
		}
	}
	n.children = append(listed, rest...)
}

// modifierSet applies ClaML modifiers.
type modifierSet struct {
	byCode  map[string]*clamlModifier
	classes map[string]map[string]*clamlModifierClass
	order   map[string][]string
	nodes   map[string]*clamlNode
}

// use is a modifier in force on a class, with the modifier classes it allows.
type use struct {
	code    string
	allowed []*clamlModifierClass
}

// apply walks the tree: modifiers declared on a class are in force for it and every class
// below it (less those a class excludes); each category leaf gets the codes they make.
func (m *modifierSet) apply(n *clamlNode, inherited []use) error {
	uses := inherited
	if len(n.class.Exclude) > 0 {
		uses = nil
		for _, u := range inherited {
			if !containsRef(n.class.Exclude, u.code) {
				uses = append(uses, u)
			}
		}
	}
	for _, mb := range n.class.ModifiedBy {
		u, err := m.use(mb)
		if err != nil {
			return fmt.Errorf("class %s: %w", n.class.Code, err)
		}
		uses = append(uses[:len(uses):len(uses)], u)
	}
	if len(n.children) > 0 {
		for _, c := range n.children {
			if err := m.apply(c, uses); err != nil {
				return err
			}
		}
		return nil
	}
	if n.class.Kind != "category" && n.class.Kind != "" {
		return nil
	}
	m.generate(n, uses)
	return nil
}

func (m *modifierSet) use(mb clamlModifiedBy) (use, error) {
	classes := m.classes[mb.Code]
	if m.byCode[mb.Code] == nil && classes == nil {
		return use{}, fmt.Errorf("modifier %s is not in the file", mb.Code)
	}
	codes := m.order[mb.Code]
	if mod := m.byCode[mb.Code]; mod != nil && len(mod.Sub) > 0 {
		codes = codes[:0:0]
		for _, s := range mod.Sub {
			codes = append(codes, s.Code)
		}
	}
	u := use{code: mb.Code}
	restricted := mb.All == "false" || len(mb.Valid) > 0
	for _, c := range codes {
		mc := classes[c]
		if mc == nil || restricted && !containsRef(mb.Valid, c) {
			continue
		}
		u.allowed = append(u.allowed, mc)
	}
	return u, nil
}

// generate adds under a category leaf the codes the first modifier in force makes, and
// under each of those the codes of the next, and so on. A code the file already defines is
// left as it is.
func (m *modifierSet) generate(n *clamlNode, uses []use) {
	if len(uses) == 0 {
		return
	}
	u := uses[0]
	for _, mc := range u.allowed {
		if !fits(n.class.Code, mc.Code) {
			continue
		}
		code := n.class.Code + mc.Code
		if _, exists := m.nodes[code]; exists {
			continue
		}
		label := ""
		for _, r := range mc.Rubrics {
			if r.Kind == "preferred" && len(r.Labels) > 0 {
				label = r.Labels[0].Text
				break
			}
		}
		c := &release.Concept{Code: code, Display: strings.TrimSpace(n.concept.Display + " " + label)}
		c.Add(propKind, "category")
		c.Add("modifier", u.code+" "+mc.Code)
		child := &clamlNode{class: &clamlClass{Code: code, Kind: "category"}, concept: c}
		m.nodes[code] = child
		n.children = append(n.children, child)
		m.generate(child, uses[1:])
	}
}

// fits reports whether a modifier class code can extend a code: a 4th character (".0") a
// 3-character category, a 5th character ("0") a 4-character one.
func fits(code, modifierClass string) bool {
	return strings.Contains(code, ".") != strings.HasPrefix(modifierClass, ".")
}

func containsRef(refs []clamlRef, code string) bool {
	for _, r := range refs {
		if r.Code == code {
			return true
		}
	}
	return false
}

// Labels decode through UnmarshalXML.
var _ xml.Unmarshaler = (*clamlLabel)(nil)
