package validation

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/fhirpath"
	"github.com/concord-health/concord/terminology"
)

// Extensions a Questionnaire item uses to constrain its answers.
const (
	extMinValue         = "http://hl7.org/fhir/StructureDefinition/minValue"
	extMaxValue         = "http://hl7.org/fhir/StructureDefinition/maxValue"
	extMaxDecimalPlaces = "http://hl7.org/fhir/StructureDefinition/maxDecimalPlaces"
	extMinLength        = "http://hl7.org/fhir/StructureDefinition/minLength"
	extRegex            = "http://hl7.org/fhir/StructureDefinition/regex"
	extEntryFormat      = "http://hl7.org/fhir/StructureDefinition/entryFormat"
	extMaxSize          = "http://hl7.org/fhir/StructureDefinition/maxSize"
	extMimeType         = "http://hl7.org/fhir/StructureDefinition/mimeType"
	extReferenceRes     = "http://hl7.org/fhir/StructureDefinition/questionnaire-referenceResource"
	extMinOccurs        = "http://hl7.org/fhir/StructureDefinition/questionnaire-minOccurs"
	extMaxOccurs        = "http://hl7.org/fhir/StructureDefinition/questionnaire-maxOccurs"
	extUnitOption       = "http://hl7.org/fhir/StructureDefinition/questionnaire-unitOption"
	extUnitValueSet     = "http://hl7.org/fhir/StructureDefinition/questionnaire-unitValueSet"
	extOptionExclusive  = "http://hl7.org/fhir/StructureDefinition/questionnaire-optionExclusive"
	extMinQuantity      = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-minQuantity"
	extMaxQuantity      = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-maxQuantity"
)

// answerTypes are the answer value types each item type accepts (R4 item-type). A choice
// answers with a Coding or, when its options are of another type, with that type.
var answerTypes = map[string][]string{
	"boolean":     {"boolean"},
	"decimal":     {"decimal"},
	"integer":     {"integer"},
	"date":        {"date"},
	"dateTime":    {"dateTime"},
	"time":        {"time"},
	"string":      {"string"},
	"text":        {"string"},
	"url":         {"uri"},
	"choice":      {"Coding", "date", "time", "integer", "string"},
	"open-choice": {"Coding", "date", "time", "integer", "string"},
	"attachment":  {"Attachment"},
	"reference":   {"Reference"},
	"quantity":    {"Quantity"},
}

// qrCheck is the state of checking one QuestionnaireResponse against its Questionnaire.
type qrCheck struct {
	w        *walker
	qr, root *fhir.Node
	// enforce is set when the response claims to be complete: only then are missing
	// required answers errors rather than warnings.
	enforce bool
	// answers holds every answer value in the response by item linkId, for enableWhen.
	answers map[string][]*fhir.Node
	// scope holds the nodes enclosing the items being checked, outermost first, and
	// scoped their answers by linkId: an enableWhen looks for answers in the innermost
	// enclosing node that has any, so that each repetition of a group is judged on its own.
	scope  []*fhir.Node
	scoped map[*fhir.Node]map[string][]*fhir.Node
	// qItems holds every Questionnaire item by linkId, to tell a misplaced item from an
	// unknown one.
	qItems map[string]*fhir.Node
}

// questionnaireResponse checks the QuestionnaireResponse n against the Questionnaire it
// names. A Questionnaire that cannot be found leaves only the structural checks.
func (w *walker) questionnaireResponse(n *fhir.Node, path string, root *fhir.Node) {
	ref := n.Text("questionnaire")
	if ref == "" {
		w.add(fhir.SeverityInformation, fhir.IssueRequired, path,
			"No questionnaire is identified, so no validation can be performed against the base questionnaire")
		return
	}
	q, found := w.resolveQuestionnaire(ref, n, root)
	switch {
	case q == nil && found != "":
		w.add(fhir.SeverityError, fhir.IssueInvalid, path+".questionnaire",
			"Canonical URL '%s' refers to a resource that has the wrong type. Found %s expecting one of [Questionnaire]", ref, found)
	case q == nil:
		w.add(fhir.SeverityInformation, fhir.IssueInvalid, path+".questionnaire",
			"A definition could not be found for Canonical URL '%s'", ref)
	}
	if q == nil {
		w.add(fhir.SeverityWarning, fhir.IssueRequired, path,
			"The questionnaire '%s' could not be resolved, so no validation can be performed against the base questionnaire", ref)
		return
	}
	status := n.Text("status")
	c := &qrCheck{w: w, qr: n, root: root, enforce: status == "completed" || status == "amended",
		answers: map[string][]*fhir.Node{}, qItems: map[string]*fhir.Node{}}
	c.collectAnswers(n)
	collectItems(q, c.qItems)
	c.effectivePeriod(q, path)
	c.items(q.Child("item"), n, path)
}

// resolveQuestionnaire finds the Questionnaire ref names: "#id" among the contained
// resources of the response or of its container, anything else through the validator's
// resources. When ref names a resource of another type, that type is returned instead.
func (w *walker) resolveQuestionnaire(ref string, qr, root *fhir.Node) (*fhir.Node, string) {
	var found *fhir.Node
	if id, ok := strings.CutPrefix(ref, "#"); ok {
		for _, holder := range []*fhir.Node{qr, root} {
			for _, c := range holder.Child("contained") {
				if c.Text("id") == id {
					found = c
				}
			}
			if found != nil {
				break
			}
		}
	} else if w.v.resources != nil {
		if r := w.v.resources.Resolve(ref); r != nil {
			found = r.Root
		}
	}
	if found == nil {
		// A value set is a common mistake for a questionnaire canonical; say so.
		if vs, ok := w.v.pv.terms.(interface {
			ValueSet(string) (terminology.Info, bool)
		}); ok && !strings.HasPrefix(ref, "#") {
			if _, ok := vs.ValueSet(ref); ok {
				return nil, "ValueSet"
			}
		}
		return nil, ""
	}
	if found.Type != "Questionnaire" {
		return nil, found.Type
	}
	return found, ""
}

// collectAnswers indexes the answer values of every item under n by linkId.
func (c *qrCheck) collectAnswers(n *fhir.Node) { indexAnswers(n, c.answers) }

func indexAnswers(n *fhir.Node, into map[string][]*fhir.Node) {
	for _, it := range n.Child("item") {
		link := it.Text("linkId")
		for _, a := range it.Child("answer") {
			if v := a.First("value"); v != nil {
				into[link] = append(into[link], v)
			}
			indexAnswers(a, into)
		}
		indexAnswers(it, into)
	}
}

// answersTo returns the answers to the item linkId that an enableWhen of an item in the
// current scope sees.
func (c *qrCheck) answersTo(link string) []*fhir.Node {
	for i := len(c.scope) - 1; i > 0; i-- {
		n := c.scope[i]
		idx, ok := c.scoped[n]
		if !ok {
			idx = map[string][]*fhir.Node{}
			indexAnswers(n, idx)
			if c.scoped == nil {
				c.scoped = map[*fhir.Node]map[string][]*fhir.Node{}
			}
			c.scoped[n] = idx
		}
		if got := idx[link]; len(got) > 0 {
			return got
		}
	}
	return c.answers[link]
}

// collectItems indexes the items of a Questionnaire (or item) n and their descendants.
func collectItems(n *fhir.Node, into map[string]*fhir.Node) {
	for _, it := range n.Child("item") {
		if l := it.Text("linkId"); l != "" {
			if _, dup := into[l]; !dup {
				into[l] = it
			}
		}
		collectItems(it, into)
	}
}

// effectivePeriod warns when the response was authored outside the Questionnaire's
// effective period.
func (c *qrCheck) effectivePeriod(q *fhir.Node, path string) {
	authored := c.qr.Text("authored")
	period := q.First("effectivePeriod")
	if authored == "" || period == nil {
		return
	}
	if start := period.Text("start"); start != "" && compareDateTimes(authored, start) < 0 {
		c.w.add(fhir.SeverityWarning, fhir.IssueBusinessRule, path+".authored",
			"The authored date '%s' is before the start of the permitted period defined in the Questionnaire ('%s')", authored, start)
	}
	if end := period.Text("end"); end != "" && compareDateTimes(authored, end) > 0 {
		c.w.add(fhir.SeverityWarning, fhir.IssueBusinessRule, path+".authored",
			"The authored date '%s' is after the end of the permitted period defined in the Questionnaire ('%s')", authored, end)
	}
}

// compareDateTimes orders two FHIR date/time values by their common precision, so that
// "2021-12-12" is after "2021-12-11" and within "2021".
func compareDateTimes(a, b string) int {
	n := min(len(a), len(b))
	return strings.Compare(a[:n], b[:n])
}

// items checks the response items under parent (the response, an item or an answer) against
// qItems, the Questionnaire items at the same level.
func (c *qrCheck) items(qItems []*fhir.Node, parent *fhir.Node, path string) {
	c.scope = append(c.scope, parent)
	defer func() { c.scope = c.scope[:len(c.scope)-1] }()
	order := map[string]int{}
	for i, qi := range qItems {
		if l := qi.Text("linkId"); l != "" {
			if _, dup := order[l]; !dup {
				order[l] = i
			}
		}
	}
	seen := map[string][]int{}
	last := -1
	for i, it := range parent.Child("item") {
		p := path + ".item[" + strconv.Itoa(i) + "]"
		link := it.Text("linkId")
		if link == "" {
			continue // the core walk reports the missing linkId
		}
		idx, ok := order[link]
		if !ok {
			if c.qItems[link] != nil {
				c.w.add(fhir.SeverityError, fhir.IssueStructure, p,
					"LinkId '%s' is not allowed at this level: the questionnaire has it nested elsewhere", link)
			} else {
				c.w.add(fhir.SeverityError, fhir.IssueNotFound, p, "LinkId '%s' not found in questionnaire", link)
			}
			continue
		}
		if idx < last {
			c.w.add(fhir.SeverityError, fhir.IssueStructure, p,
				"Structural Error: items are out of order (linkId '%s' comes before it in the questionnaire)", link)
		}
		last = max(last, idx)
		seen[link] = append(seen[link], i)
		c.item(qItems[idx], it, p)
	}
	for _, qi := range qItems {
		link := qi.Text("linkId")
		at := seen[link]
		switch {
		case len(at) == 0:
			if qi.Text("required") == "true" && c.enabled(qi) {
				c.missing(path, "No response answer found for required item '%s'", link)
			}
			if n := itemInt(qi, extMinOccurs); n > 0 && c.enabled(qi) {
				c.missing(path, "The minimum number of answers for item '%s' is %d but this has 0 answers", link, n)
			}
		case len(at) > 1 && qi.Text("repeats") != "true":
			c.w.add(fhir.SeverityError, fhir.IssueStructure, path+".item["+strconv.Itoa(at[1])+"]",
				"Only one response item with linkId '%s' is allowed, as the item does not repeat", link)
		}
	}
}

// missing reports an absent required answer: an error in a completed response, a warning
// while it is still being filled in.
func (c *qrCheck) missing(path, format string, args ...any) {
	sev := fhir.SeverityWarning
	if c.enforce {
		sev = fhir.SeverityError
	}
	c.w.add(sev, fhir.IssueRequired, path, format, args...)
}

// item checks one response item against its Questionnaire item.
func (c *qrCheck) item(qi, it *fhir.Node, path string) {
	link := qi.Text("linkId")
	if text := it.Text("text"); text != "" && qi.Text("text") != "" && text != qi.Text("text") {
		c.w.add(fhir.SeverityWarning, fhir.IssueValue, path+".text",
			"If text exists, it must match the questionnaire definition for linkId '%s' (expected '%s')", link, qi.Text("text"))
	}
	typ := qi.Text("type")
	answers := it.Child("answer")
	enabled := c.enabled(qi)
	if !enabled && len(answers) > 0 {
		c.w.add(fhir.SeverityError, fhir.IssueInvalid, path,
			"Item has answer, even though it is not enabled (item id = '%s')", link)
	}
	switch typ {
	case "group":
		if len(answers) > 0 {
			c.w.add(fhir.SeverityError, fhir.IssueStructure, path, "Items of type group should not have answers (linkId '%s')", link)
		}
		if enabled && qi.Text("required") == "true" && len(it.Child("item")) == 0 {
			c.missing(path, "No sub-items found for required group '%s'", link)
		}
		c.items(qi.Child("item"), it, path)
		return
	case "display":
		if len(answers) > 0 {
			c.w.add(fhir.SeverityError, fhir.IssueStructure, path, "Items of type 'display' cannot have answers (linkId '%s')", link)
		}
		if len(it.Child("item")) > 0 {
			c.w.add(fhir.SeverityError, fhir.IssueStructure, path, "Items of type 'display' cannot have child items (linkId '%s')", link)
		}
		return
	case "question":
		// An abstract type: no answer can be of it.
		if len(answers) > 0 {
			c.w.add(fhir.SeverityError, fhir.IssueStructure, path, "Items of type question should not have answers (linkId '%s')", link)
		}
		return
	}
	if enabled && len(answers) == 0 && qi.Text("required") == "true" {
		c.missing(path, "No response answer found for required item '%s'", link)
	}
	if len(answers) > 1 && qi.Text("repeats") != "true" {
		c.w.add(fhir.SeverityError, fhir.IssueInvalid, path,
			"Only one answer is allowed for item '%s', as it does not repeat (found %d)", link, len(answers))
	}
	if n := itemInt(qi, extMinOccurs); n > 0 && len(answers) < n && enabled {
		c.missing(path, "The minimum number of answers for item '%s' is %d but this has %d answers", link, n, len(answers))
	}
	if n := itemInt(qi, extMaxOccurs); n > 0 && len(answers) > n {
		c.w.add(fhir.SeverityError, fhir.IssueInvalid, path,
			"The maximum number of answers for item '%s' is %d but this has %d answers", link, n, len(answers))
	}
	if len(it.Child("item")) > 0 {
		c.w.add(fhir.SeverityError, fhir.IssueStructure, path,
			"Items not of type group should not have items outside answers (use answer.item not .item; linkId '%s')", link)
	}
	for j, a := range answers {
		ap := path + ".answer[" + strconv.Itoa(j) + "]"
		c.answer(qi, typ, a, ap)
		c.items(qi.Child("item"), a, ap)
	}
	if len(answers) > 1 {
		for j, a := range answers {
			if opt := matchingOption(qi, a.First("value")); opt != nil && itemBool(opt, extOptionExclusive) {
				c.w.add(fhir.SeverityError, IssueInvariant, path+".answer["+strconv.Itoa(j)+"]",
					"Selected answer %s is an exclusive option of item '%s' - nothing else can be selected at the same time",
					showAnswer(a.First("value")), link)
			}
		}
	}
}

// answer checks one answer's value against the item: its type, and the constraints the
// item places on values of that type.
func (c *qrCheck) answer(qi *fhir.Node, typ string, a *fhir.Node, path string) {
	v := a.First("value")
	allowed, known := answerTypes[typ]
	if v == nil || !known {
		return
	}
	link := qi.Text("linkId")
	vp := path + ".value"
	ok := false
	for _, t := range allowed {
		ok = ok || t == v.Type
	}
	if !ok {
		if len(allowed) == 1 {
			c.w.add(fhir.SeverityError, IssueInvariant, vp,
				"Answer value must be of the type %s not %s (linkId '%s')", allowed[0], v.Type, link)
		} else {
			c.w.add(fhir.SeverityError, IssueInvariant, vp,
				"Answer value must be one of the types %s not %s (linkId '%s')", strings.Join(allowed, ", "), v.Type, link)
		}
		return
	}
	choice := typ == "choice" || typ == "open-choice"
	switch v.Type {
	case "Coding":
		c.codingAnswer(qi, v, path)
	case "string":
		if typ == "string" && strings.ContainsAny(v.String(), "\r\n") {
			c.w.add(fhir.SeverityWarning, IssueInvariant, vp,
				"The answer to item '%s' should not contain new line characters", link)
		}
		c.stringAnswer(qi, v, vp)
		if vs := qi.Text("answerValueSet"); vs != "" && !choice && v.String() != "" {
			c.valueSetString(qi, vs, v, vp)
		}
	case "decimal", "integer", "date", "dateTime", "time":
		c.rangeAnswer(qi, v, vp)
	case "Attachment":
		c.attachmentAnswer(qi, v, path)
	case "Reference":
		c.referenceAnswer(qi, v, vp)
	case "Quantity":
		c.quantityAnswer(qi, v, vp)
	}
	switch v.Type {
	case "string", "integer", "date", "time":
		if typ == "open-choice" && v.Type == "string" {
			if len(qi.Child("answerOption")) == 0 {
				c.w.add(fhir.SeverityInformation, IssueInvariant, path,
					"Cannot validate string answer option because no option list is provided (linkId '%s')", link)
			}
			return // free text beside the options
		}
		c.optionAnswer(qi, v, path, choice)
	}
}

// optionAnswer checks a non-Coding answer against the item's answerOption list.
func (c *qrCheck) optionAnswer(qi, v *fhir.Node, path string, choice bool) {
	link := qi.Text("linkId")
	opts := qi.Child("answerOption")
	if len(opts) == 0 {
		if choice {
			c.w.add(fhir.SeverityInformation, IssueInvariant, path,
				"Cannot validate %s answer option because no option list is provided (linkId '%s')", v.Type, link)
		}
		return
	}
	typed := false
	for _, o := range opts {
		ov := o.First("value")
		if ov == nil || ov.Type != v.Type {
			continue
		}
		typed = true
		if ov.String() == v.String() {
			return
		}
	}
	if !typed {
		c.w.add(fhir.SeverityError, IssueInvariant, path,
			"Option list of item '%s' has no option values of type %s", link, v.Type)
		return
	}
	c.w.add(fhir.SeverityError, IssueInvariant, path+".value",
		"The %s %s is not in the set of permitted values of item '%s'", v.Type, v.String(), link)
}

// matchingOption returns the answerOption of qi that v selects, if any.
func matchingOption(qi, v *fhir.Node) *fhir.Node {
	if v == nil {
		return nil
	}
	for _, o := range qi.Child("answerOption") {
		ov := o.First("value")
		if ov == nil || ov.Type != v.Type {
			continue
		}
		if v.Type == "Coding" {
			if sameCoding(ov, v) {
				return o
			}
		} else if ov.String() == v.String() {
			return o
		}
	}
	return nil
}

// sameCoding compares codings by system and code; a missing system matches on code alone.
func sameCoding(a, b *fhir.Node) bool {
	if a.Text("code") != b.Text("code") {
		return false
	}
	sa, sb := a.Text("system"), b.Text("system")
	return sa == "" || sb == "" || sa == sb
}

// codingAnswer checks a Coding answer against the item's value set or options.
func (c *qrCheck) codingAnswer(qi, v *fhir.Node, path string) {
	link := qi.Text("linkId")
	if vs := qi.Text("answerValueSet"); vs != "" {
		if v.Text("code") == "" {
			return
		}
		c.valueSetCoding(qi, vs, codingOf(v), path)
		return
	}
	opts := qi.Child("answerOption")
	if len(opts) == 0 {
		c.w.add(fhir.SeverityInformation, IssueInvariant, path,
			"Cannot validate options because no option or options are provided (linkId '%s')", link)
		return
	}
	if matchingOption(qi, v) != nil {
		return
	}
	for _, o := range opts {
		if ov := o.First("value"); ov != nil && ov.Type == "Coding" {
			c.w.add(fhir.SeverityError, IssueInvariant, path,
				"The code %s::%s is not in the set of permitted values of item '%s'", v.Text("system"), v.Text("code"), link)
			return
		}
	}
	c.w.add(fhir.SeverityError, IssueInvariant, path,
		"Option list of item '%s' has no option values of type Coding", link)
}

// valueSetCoding checks a coding against the item's answerValueSet when the terminology
// can decide.
func (c *qrCheck) valueSetCoding(qi *fhir.Node, vs string, cd terminology.Coding, path string) {
	terms := c.w.v.pv.terms
	if terms == nil || strings.HasPrefix(vs, "#") {
		return
	}
	r := terms.ValidateCode(context.Background(), vs, cd)
	switch {
	case r.Valid:
		if cd.Display != "" && r.Display != "" && !strings.EqualFold(strings.Join(strings.Fields(cd.Display), " "), r.Display) {
			c.w.add(fhir.SeverityError, fhir.IssueInvalid, path+".value.display",
				"Wrong Display Name '%s' for %s#%s (item '%s'). Valid display is '%s'", cd.Display, cd.System, cd.Code,
				qi.Text("linkId"), r.Display)
		}
	case r.Known:
		c.w.add(fhir.SeverityError, IssueCodeInvalid, path,
			"The code '%s' in the system '%s' is not in the options value set (%s) of item '%s': %s",
			cd.Code, cd.System, vs, qi.Text("linkId"), r.Message)
	default:
		c.unknownValueSet(qi, vs, path, r.Message)
	}
}

// valueSetString checks a string answer, taken as a code, against the item's value set.
func (c *qrCheck) valueSetString(qi *fhir.Node, vs string, v *fhir.Node, path string) {
	terms := c.w.v.pv.terms
	if terms == nil || strings.HasPrefix(vs, "#") {
		return
	}
	r := terms.ValidateCode(context.Background(), vs, terminology.Coding{Code: v.String()})
	switch {
	case r.Valid:
	case r.Known:
		c.w.add(fhir.SeverityError, IssueCodeInvalid, path,
			"The value '%s' is not in the list of allowed values (value set '%s') of item '%s'", v.String(), vs, qi.Text("linkId"))
	default:
		c.unknownValueSet(qi, vs, path, r.Message)
	}
}

// unknownValueSet notes an answer the terminology could not decide: a warning when the
// value set itself is unknown, information otherwise.
func (c *qrCheck) unknownValueSet(qi *fhir.Node, vs, path, why string) {
	if lookup, ok := c.w.v.pv.terms.(interface {
		ValueSet(string) (terminology.Info, bool)
	}); ok {
		if _, found := lookup.ValueSet(vs); !found {
			c.w.add(fhir.SeverityWarning, IssueCodeInvalid, path, "ValueSet '%s' of item '%s' not found", vs, qi.Text("linkId"))
			return
		}
	}
	c.w.add(fhir.SeverityInformation, fhir.IssueInformation, path,
		"The answer to item '%s' could not be checked against the value set %s: %s", qi.Text("linkId"), vs, why)
}

// stringAnswer applies maxLength and the minLength and regex extensions.
func (c *qrCheck) stringAnswer(qi, v *fhir.Node, path string) {
	link := qi.Text("linkId")
	s := v.String()
	n := utf8.RuneCountInString(s)
	if m := itemInt(qi, extMinLength); m > 0 && n < m {
		c.w.add(fhir.SeverityError, IssueInvariant, path,
			"The answer '%s' to item '%s' is shorter than the required minimum length of %d", s, link, m)
	}
	if m, err := strconv.Atoi(qi.Text("maxLength")); err == nil && n > m {
		c.w.add(fhir.SeverityError, IssueInvariant, path,
			"The answer '%s' to item '%s' is longer than the allowed maximum length of %d", s, link, m)
	}
	if ext := itemExtension(qi, extRegex); ext != nil {
		pattern := ext.Text("value")
		re, err := regexp.Compile("^(?:" + pattern + ")$")
		switch {
		case err != nil:
			c.w.add(fhir.SeverityWarning, fhir.IssueProcessing, path,
				"The regex '%s' of item '%s' cannot be checked: %v", pattern, link, err)
		case !re.MatchString(s):
			format := pattern
			if f := itemExtension(qi, extEntryFormat); f != nil {
				format = f.Text("value") + "' (regex '" + pattern
			}
			c.w.add(fhir.SeverityError, IssueInvariant, path,
				"The answer '%s' to item '%s' does not conform to the expected format '%s')", s, link, format)
		}
	}
}

// rangeAnswer applies the minValue, maxValue and maxDecimalPlaces extensions.
func (c *qrCheck) rangeAnswer(qi, v *fhir.Node, path string) {
	link := qi.Text("linkId")
	s := v.String()
	if s == "" {
		return
	}
	for _, bound := range []struct {
		url  string
		sign int
		word string
	}{{extMinValue, -1, "less than the allowed minimum"}, {extMaxValue, 1, "greater than the allowed maximum"}} {
		ext := itemExtension(qi, bound.url)
		if ext == nil {
			continue
		}
		lim := ext.First("value")
		if lim == nil || lim.String() == "" {
			continue
		}
		cmp, ok := compareAnswerValues(v, lim)
		if ok && cmp == bound.sign {
			c.w.add(fhir.SeverityError, IssueInvariant, path,
				"The value %s of item '%s' is %s of %s", s, link, bound.word, lim.String())
		}
	}
	if v.Type == "decimal" {
		if m := itemInt(qi, extMaxDecimalPlaces); m >= 0 && itemExtension(qi, extMaxDecimalPlaces) != nil {
			if _, frac, ok := strings.Cut(strings.ToLower(strings.SplitN(s, "e", 2)[0]), "."); ok && len(frac) > m {
				c.w.add(fhir.SeverityError, IssueInvariant, path,
					"The value %s of item '%s' has too many decimal places (limit = %d)", s, link, m)
			}
		}
	}
}

// compareAnswerValues orders two primitive values: numbers by value, dates and times by their
// common precision. ok is false for values that cannot be ordered.
func compareAnswerValues(a, b *fhir.Node) (int, bool) {
	as, bs := a.String(), b.String()
	numeric := func(t string) bool { return t == "integer" || t == "decimal" }
	switch {
	case numeric(a.Type) && numeric(b.Type):
		x, ok1 := new(big.Rat).SetString(as)
		y, ok2 := new(big.Rat).SetString(bs)
		if !ok1 || !ok2 {
			return 0, false
		}
		return x.Cmp(y), true
	case isTemporalType(a.Type) && isTemporalType(b.Type):
		// Textual order, as the reference validator: a more precise value past a bound of
		// lower precision ("2022-06-30" against "2022-06") counts as beyond it.
		return strings.Compare(as, bs), true
	case a.Type == b.Type && (a.Type == "string" || a.Type == "boolean" || a.Type == "uri"):
		return strings.Compare(as, bs), true
	}
	return 0, false
}

func isTemporalType(t string) bool {
	return t == "date" || t == "dateTime" || t == "instant" || t == "time"
}

// attachmentAnswer applies the maxSize and mimeType extensions.
func (c *qrCheck) attachmentAnswer(qi, v *fhir.Node, path string) {
	link := qi.Text("linkId")
	if ext := itemExtension(qi, extMaxSize); ext != nil {
		limit, ok := new(big.Rat).SetString(ext.Text("value"))
		size := int64(-1)
		if data := v.Text("data"); data != "" {
			if raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(data), "")); err == nil {
				size = int64(len(raw))
			}
		} else if s, err := strconv.ParseInt(v.Text("size"), 10, 64); err == nil {
			size = s
		}
		if ok && size >= 0 && new(big.Rat).SetInt64(size).Cmp(limit) > 0 {
			c.w.add(fhir.SeverityError, fhir.IssueRequired, path,
				"The attachment for item '%s' is too large (allowed = %s, found = %d)", link, ext.Text("value"), size)
		}
	}
	var mimes []string
	for _, e := range qi.Child("extension") {
		if e.Text("url") == extMimeType {
			mimes = append(mimes, e.Text("value"))
		}
	}
	if ct := v.Text("contentType"); ct != "" && len(mimes) > 0 {
		base, _, _ := strings.Cut(ct, ";")
		for _, m := range mimes {
			if strings.EqualFold(strings.TrimSpace(base), m) {
				return
			}
		}
		c.w.add(fhir.SeverityError, fhir.IssueRequired, path,
			"The mime type %s is not valid for the answer to item '%s' (allowed = %s)", ct, link, strings.Join(mimes, ", "))
	}
}

// referenceAnswer checks the resource type a reference names: a known type, and one the
// questionnaire-referenceResource extensions allow.
func (c *qrCheck) referenceAnswer(qi, v *fhir.Node, path string) {
	ref := v.Text("reference")
	link := qi.Text("linkId")
	if strings.ContainsAny(ref, " \t\r\n") {
		c.w.add(fhir.SeverityError, fhir.IssueInvalid, path,
			"The reference '%s' (item '%s') is not a valid reference", ref, link)
	}
	typ := referenceTargetType(ref)
	if typ == "" {
		return
	}
	if !c.w.v.reg.IsResource(typ) {
		c.w.add(fhir.SeverityError, IssueInvariant, path,
			"The resource type %s in the reference %s (item '%s') is not valid", typ, ref, link)
		return
	}
	var allowed []string
	for _, e := range qi.Child("extension") {
		if e.Text("url") == extReferenceRes {
			a := e.Text("value")
			if a == typ || a == "Resource" {
				return
			}
			allowed = append(allowed, a)
		}
	}
	if len(allowed) > 0 {
		c.w.add(fhir.SeverityError, IssueInvariant, path,
			"The resource type '%s' in the reference %s is not allowed for item '%s' (allowed = %s)",
			typ, ref, link, strings.Join(allowed, ","))
	}
}

// referenceTargetType returns the resource type a literal reference names ("Patient/1",
// "https://x/fhir/Patient/1/_history/2"), or "" for a local, urn: or empty reference.
func referenceTargetType(ref string) string {
	if ref == "" || strings.HasPrefix(ref, "#") || strings.HasPrefix(ref, "urn:") {
		return ""
	}
	ref, _, _ = strings.Cut(ref, "?")
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	parts := strings.Split(strings.TrimSuffix(ref, "/"), "/")
	if len(parts) < 2 {
		return ""
	}
	return parts[len(parts)-2]
}

// quantityAnswer applies the unit options, unit value set and minimum and maximum
// quantities.
func (c *qrCheck) quantityAnswer(qi, v *fhir.Node, path string) {
	link := qi.Text("linkId")
	var units []string
	matched := false
	for _, e := range qi.Child("extension") {
		if e.Text("url") != extUnitOption {
			continue
		}
		u := e.First("value")
		if u == nil {
			continue
		}
		units = append(units, fmt.Sprintf("%s (%s#%s)", u.Text("display"), u.Text("system"), u.Text("code")))
		if u.Text("code") == v.Text("code") && (u.Text("system") == "" || u.Text("system") == v.Text("system")) {
			matched = true
		}
	}
	if len(units) > 0 && !matched {
		c.w.add(fhir.SeverityError, IssueInvariant, path,
			"The value %s has a unit that is not valid for item '%s' (allowed = %s)", showQuantity(v), link, strings.Join(units, ", "))
	}
	if ext := itemExtension(qi, extUnitValueSet); ext != nil && c.w.v.pv.terms != nil {
		vs := ext.Text("value")
		cd := terminology.Coding{System: v.Text("system"), Code: v.Text("code")}
		r := terminology.Result{Known: true}
		if cd.Code != "" {
			r = c.w.v.pv.terms.ValidateCode(context.Background(), vs, cd)
		}
		if !r.Valid && r.Known {
			c.w.add(fhir.SeverityError, IssueInvariant, path,
				"The value %s has a unit that is not in the unit value set '%s' of item '%s'", showQuantity(v), vs, link)
		}
	}
	for _, bound := range []struct {
		url, word, name string
		sign            int
	}{{extMinQuantity, "less than the allowed minimum", "minimum", -1}, {extMaxQuantity, "greater than the allowed maximum", "maximum", 1}} {
		ext := itemExtension(qi, bound.url)
		if ext == nil || ext.First("value") == nil {
			continue
		}
		lim := ext.First("value")
		if v.Text("value") == "" || lim.Text("value") == "" {
			continue
		}
		cmp, why, sure := compareQuantities(v, lim)
		switch {
		case why != "":
			sev := fhir.SeverityError
			if !sure {
				sev = fhir.SeverityWarning
			}
			c.w.add(sev, IssueInvariant, path,
				"The quantity %s of item '%s' cannot be compared to the allowed %s of %s %s", showQuantity(v), link,
				bound.name, showQuantity(lim), why)
		case cmp == bound.sign:
			c.w.add(fhir.SeverityError, IssueInvariant, path,
				"The quantity %s of item '%s' is %s of %s", showQuantity(v), link, bound.word, showQuantity(lim))
		}
	}
}

func showQuantity(q *fhir.Node) string {
	s := q.Text("value") + " " + q.Text("unit")
	if q.Text("code") != "" {
		s += " (" + q.Text("system") + "#" + q.Text("code") + ")"
	}
	return s
}

// compareQuantities orders two quantities, converting between UCUM units of the same
// dimension that ucumScale knows. why says why they cannot be compared; sure is false when
// that may only be because a unit is beyond what ucumScale knows.
func compareQuantities(a, b *fhir.Node) (cmp int, why string, sure bool) {
	x, ok1 := new(big.Rat).SetString(a.Text("value"))
	y, ok2 := new(big.Rat).SetString(b.Text("value"))
	if !ok1 || !ok2 {
		return 0, "because a value is missing", false
	}
	ca, cb := a.Text("code"), b.Text("code")
	if ca == "" || cb == "" {
		return 0, "because no formal units are specified", true
	}
	if a.Text("system") != b.Text("system") {
		return 0, "because the unit systems differ", true
	}
	if ca == cb {
		return x.Cmp(y), "", true
	}
	if a.Text("system") != "http://unitsofmeasure.org" {
		return 0, "because the units differ", true
	}
	da, fa, okA := ucumScale(ca)
	db, fb, okB := ucumScale(cb)
	switch {
	case !okA || !okB:
		return 0, "because the units could not be converted", false
	case da != db:
		return 0, "because the units are not compatible", true
	}
	return new(big.Rat).Mul(x, fa).Cmp(new(big.Rat).Mul(y, fb)), "", true
}

// ucumScale reads a common UCUM unit as a dimension and a factor to its base unit: a metric
// prefix on m, g, L or s, a few customary units, and the usual units of time.
func ucumScale(code string) (string, *big.Rat, bool) {
	fixed := map[string]struct {
		dim    string
		factor string
	}{
		"[mi_i]": {"m", "1609.344"}, "[yd_i]": {"m", "0.9144"}, "[ft_i]": {"m", "0.3048"}, "[in_i]": {"m", "0.0254"},
		"[lb_av]": {"g", "453.59237"}, "[oz_av]": {"g", "28.349523125"},
		"min": {"s", "60"}, "h": {"s", "3600"}, "d": {"s", "86400"}, "wk": {"s", "604800"},
	}
	if f, ok := fixed[code]; ok {
		r, _ := new(big.Rat).SetString(f.factor)
		return f.dim, r, true
	}
	prefixes := map[string]string{"": "1", "k": "1000", "h": "100", "da": "10", "d": "0.1", "c": "0.01",
		"m": "0.001", "u": "0.000001", "n": "0.000000001"}
	for _, base := range []string{"m", "g", "L", "l", "s"} {
		p, ok := strings.CutSuffix(code, base)
		if !ok {
			continue
		}
		if f, ok := prefixes[p]; ok {
			r, _ := new(big.Rat).SetString(f)
			dim := base
			if base == "l" {
				dim = "L"
			}
			return dim, r, true
		}
	}
	return "", nil, false
}

// enabled evaluates the item's enableWhen conditions against the answers anywhere in the
// response (enableBehavior "all" unless it says "any").
func (c *qrCheck) enabled(qi *fhir.Node) bool {
	if on, ok := c.enableWhenExpression(qi); ok {
		return on
	}
	conds := qi.Child("enableWhen")
	if len(conds) == 0 {
		return true
	}
	anyOf := qi.Text("enableBehavior") == "any"
	for _, ew := range conds {
		ok := c.condition(ew)
		if anyOf && ok {
			return true
		}
		if !anyOf && !ok {
			return false
		}
	}
	return !anyOf
}

// enableWhenExpressions are extensions that make an item's enablement a FHIRPath expression
// on the response: SDC's, and the Finnish Kanta PHR's that the reference validator also reads.
var enableWhenExpressions = []string{
	"http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-enableWhenExpression",
	"http://phr.kanta.fi/StructureDefinition/fiphr-ext-questionnaire-enablewhen",
}

// enableWhenExpression evaluates the item's enablement expression, if it has one that can be
// evaluated; ok is false otherwise.
func (c *qrCheck) enableWhenExpression(qi *fhir.Node) (on, ok bool) {
	for _, url := range enableWhenExpressions {
		ext := itemExtension(qi, url)
		if ext == nil {
			continue
		}
		v := ext.First("value")
		text := v.String()
		if v != nil && v.Type == "Expression" {
			if lang := v.Text("language"); lang != "" && lang != "text/fhirpath" {
				continue
			}
			text = v.Text("expression")
		}
		x, err := compileCached(text)
		if text == "" || err != nil {
			continue
		}
		out, err := x.EvaluateWith(c.qr, &fhirpath.Env{Resource: c.qr, RootResource: c.root})
		if err != nil {
			continue
		}
		return len(out) == 1 && out[0].Value == true, true
	}
	return false, false
}

// condition evaluates one enableWhen: true when any answer to its question meets it.
func (c *qrCheck) condition(ew *fhir.Node) bool {
	got := c.answersTo(ew.Text("question"))
	want := ew.First("answer")
	op := ew.Text("operator")
	if op == "exists" {
		return (len(got) > 0) == (want.String() == "true")
	}
	if want == nil {
		return false
	}
	for _, g := range got {
		if conditionHolds(g, want, op) {
			return true
		}
	}
	return false
}

func conditionHolds(g, want *fhir.Node, op string) bool {
	var cmp int
	switch {
	case g.Type == "Coding" && want.Type == "Coding":
		if !sameCoding(g, want) {
			cmp = 1
		}
		if op != "=" && op != "!=" {
			return false
		}
	case g.Type == "Quantity" && want.Type == "Quantity":
		r, why, _ := compareQuantities(g, want)
		if why != "" {
			return false
		}
		cmp = r
	case g.Type == "Reference" && want.Type == "Reference":
		if g.Text("reference") != want.Text("reference") {
			cmp = 1
		}
	case g.Type == "Coding" && want.Type == "string", g.Type == "string" && want.Type == "Coding":
		// An open-choice answer compared with a string condition: by code.
		a, b := g.Text("code")+g.String(), want.Text("code")+want.String()
		cmp = strings.Compare(a, b)
	default:
		r, ok := compareAnswerValues(g, want)
		if !ok {
			return false
		}
		cmp = r
	}
	switch op {
	case "=":
		return cmp == 0
	case "!=":
		return cmp != 0
	case ">":
		return cmp > 0
	case "<":
		return cmp < 0
	case ">=":
		return cmp >= 0
	case "<=":
		return cmp <= 0
	}
	return false
}

func showAnswer(v *fhir.Node) string {
	if v == nil {
		return ""
	}
	if v.Type == "Coding" {
		return v.Text("system") + "#" + v.Text("code")
	}
	return v.String()
}

// itemExtension returns the first extension of n with url.
func itemExtension(n *fhir.Node, url string) *fhir.Node {
	for _, e := range n.Child("extension") {
		if e.Text("url") == url {
			return e
		}
	}
	return nil
}

// itemInt returns the integer value of n's extension url, or -1.
func itemInt(n *fhir.Node, url string) int {
	if e := itemExtension(n, url); e != nil {
		if i, err := strconv.Atoi(e.Text("value")); err == nil {
			return i
		}
	}
	return -1
}

func itemBool(n *fhir.Node, url string) bool {
	e := itemExtension(n, url)
	return e != nil && e.Text("value") == "true"
}

// questionnaire checks a Questionnaire's enableWhen conditions: each must name an item of
// the questionnaire that is neither the item itself nor one of its descendants, and should
// come before it.
func (w *walker) questionnaire(n *fhir.Node, path string) {
	type entry struct {
		node  *fhir.Node
		order int
	}
	byLink := map[string]entry{}
	var items []*fhir.Node
	var paths []string
	var index func(parent *fhir.Node, p string)
	index = func(parent *fhir.Node, p string) {
		for i, it := range parent.Child("item") {
			ip := p + ".item[" + strconv.Itoa(i) + "]"
			if l := it.Text("linkId"); l != "" {
				if _, dup := byLink[l]; !dup {
					byLink[l] = entry{it, len(items)}
				}
			}
			items = append(items, it)
			paths = append(paths, ip)
			index(it, ip)
		}
	}
	index(n, path)
	for k, it := range items {
		conds := it.Child("enableWhen")
		if len(conds) == 0 {
			continue
		}
		inner := map[string]bool{}
		collectInner(it, inner)
		link := it.Text("linkId")
		for _, ew := range conds {
			q := ew.Text("question")
			target, ok := byLink[q]
			switch {
			case q == "":
			case !ok:
				w.add(fhir.SeverityError, fhir.IssueBusinessRule, paths[k],
					"Unable to find the target of the enableWhen rule of item '%s' ('%s')", link, q)
			case q == link:
				w.add(fhir.SeverityError, fhir.IssueBusinessRule, paths[k],
					"The enableWhen rule of item '%s' refers to the item itself", link)
			case inner[q]:
				w.add(fhir.SeverityError, fhir.IssueBusinessRule, paths[k],
					"Questions with an enableWhen cannot refer to an inner question for its enableWhen condition (item '%s' refers to '%s')", link, q)
			case target.order > k:
				w.add(fhir.SeverityWarning, fhir.IssueBusinessRule, paths[k],
					"The target of this enableWhen rule (condition) comes after the question itself (item '%s' refers to '%s')", link, q)
			}
		}
	}
}

func collectInner(n *fhir.Node, into map[string]bool) {
	for _, it := range n.Child("item") {
		into[it.Text("linkId")] = true
		collectInner(it, into)
	}
}
