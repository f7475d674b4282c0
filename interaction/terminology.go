package interaction

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/terminology"
)

// The FHIR terminology operations: CodeSystem $lookup, $validate-code and $subsumes,
// ValueSet $expand and $validate-code, ConceptMap $translate. Each takes its parameters from
// the URL (GET, primitives only) or a Parameters body (POST; query parameters count too)
// and answers a Parameters resource ($expand: the expanded ValueSet).

// UseTerminology sets the terminology the operations answer from (one holding the core
// content, loaded packages and stored resources). Without one, the core R4 content is
// loaded on first use, as the validator is: a server that was not configured still answers
// for the content every FHIR server knows. Call it before the Service serves requests.
func (s *Service) UseTerminology(t *terminology.Service) {
	s.termOnce.Do(func() {})
	s.terms, s.termErr = t, nil
}

func (s *Service) getTerminology() (*terminology.Service, error) {
	s.termOnce.Do(func() { s.terms, s.termErr = terminology.Core() })
	return s.terms, s.termErr
}

// terminologyOps are the operations routed here, by resource type, with the parameters each
// reads (others are ignored, or refused under Prefer: handling=strict).
var terminologyOps = map[string]map[string][]string{
	"CodeSystem": {
		"$lookup":        {"code", "system", "version", "coding", "date", "displayLanguage", "property"},
		"$validate-code": {"url", "codeSystem", "code", "version", "display", "coding", "codeableConcept", "date", "abstract", "displayLanguage"},
		"$subsumes":      {"codeA", "codeB", "system", "version", "codingA", "codingB"},
	},
	"ValueSet": {
		"$expand": {"url", "valueSet", "valueSetVersion", "context", "contextDirection", "filter", "date", "offset", "count",
			"includeDesignations", "designation", "includeDefinition", "activeOnly", "excludeNested", "excludeNotForUI",
			"excludePostCoordinated", "displayLanguage"},
		"$validate-code": {"url", "context", "valueSet", "valueSetVersion", "code", "system", "systemVersion", "display",
			"coding", "codeableConcept", "date", "abstract", "displayLanguage"},
	},
	"ConceptMap": {
		"$translate": {"url", "conceptMap", "conceptMapVersion", "code", "system", "version", "source", "coding",
			"codeableConcept", "target", "targetsystem", "reverse"},
	},
}

func isTerminologyOp(typ, op string) bool {
	_, ok := terminologyOps[typ][op]
	return ok
}

// terminologyOp runs a terminology operation at type level (id "") or instance level.
func (s *Service) terminologyOp(ctx context.Context, req *Request, typ, id, op string) *Response {
	if req.Method != "GET" && req.Method != "POST" {
		return failure(fhir.Errorf(405, fhir.IssueNotSupported, "%s takes GET or POST, not %s", op, req.Method))
	}
	ts, err := s.getTerminology()
	if err != nil {
		return failure(fhir.Errorf(500, fhir.IssueException, "terminology: %v", err))
	}
	p, e := readOpParams(req, op, terminologyOps[typ][op])
	if e != nil {
		return failure(e)
	}
	var inst *fhir.Resource
	if id != "" {
		if !validID(id) {
			return failure(fhir.Errorf(400, fhir.IssueInvalid, "invalid resource id %q", id))
		}
		rec, err := s.store.Read(ctx, typ, id)
		if err != nil {
			return s.readResponse(req, rec, err)
		}
		if inst, err = fhir.Parse(rec.Body); err != nil {
			return failure(err)
		}
	}
	t := &termOp{ts: ts, p: p, inst: inst}
	var out any
	switch typ + op {
	case "CodeSystem$lookup":
		out, e = t.lookup(ctx)
	case "CodeSystem$validate-code":
		out, e = t.validateCodeSystem(ctx)
	case "CodeSystem$subsumes":
		out, e = t.subsumes(ctx)
	case "ValueSet$expand":
		out, e = t.expand(ctx, id)
	case "ValueSet$validate-code":
		out, e = t.validateValueSet(ctx)
	case "ConceptMap$translate":
		out, e = t.translate(ctx)
	}
	if e != nil {
		return failure(e)
	}
	return canonicalAnswer(out)
}

// canonicalAnswer writes a resource built as a map through the element model, so the
// answer is canonical FHIR JSON (resourceType first, elements in definition order) and is
// known to be a valid resource.
func canonicalAnswer(out any) *Response {
	raw, err := json.Marshal(out)
	if err != nil {
		return failure(err)
	}
	res, err := fhir.Parse(raw)
	if err != nil {
		return failure(err)
	}
	return &Response{Status: 200, Body: res.Bytes()}
}

// termOp is one terminology operation's inputs.
type termOp struct {
	ts *terminology.Service
	p  *opParams
	// inst is the stored resource of an instance-level call.
	inst *fhir.Resource
}

// opParam is one input parameter: a query parameter, or a Parameters.parameter.
type opParam struct {
	text     string     // a primitive's value
	value    *fhir.Node // value[x], from a body
	resource *fhir.Node
}

type opParams struct {
	op     string
	values map[string][]opParam
}

// readOpParams gathers an operation's parameters from the query and, for a POST with a
// body, from the Parameters resource.
func readOpParams(req *Request, op string, known []string) (*opParams, *fhir.Error) {
	p := &opParams{op: op, values: map[string][]opParam{}}
	for k, vs := range req.Query {
		if k == "_format" || k == "_pretty" {
			continue
		}
		for _, v := range vs {
			p.values[k] = append(p.values[k], opParam{text: v})
		}
	}
	if req.Method == "POST" && len(req.Body) > 0 {
		body, err := fhir.Parse(req.Body)
		if err != nil {
			return nil, fhir.AsError(err)
		}
		if body.Type != "Parameters" {
			return nil, fhir.Errorf(400, fhir.IssueInvalid, "the body of a POST %s must be a Parameters resource, not a %s", op, body.Type)
		}
		for _, n := range body.Root.Child("parameter") {
			name := n.Text("name")
			v := opParam{value: n.First("value"), resource: n.First("resource")}
			if v.value != nil && v.value.IsPrimitive() {
				v.text = v.value.String()
			}
			p.values[name] = append(p.values[name], v)
		}
	}
	if req.Prefer.Handling == "strict" {
		for k := range p.values {
			if !contains(known, k) {
				return nil, fhir.Errorf(400, fhir.IssueNotSupported, "unknown %s parameter %s", op, k)
			}
		}
	}
	return p, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (p *opParams) has(name string) bool { return len(p.values[name]) > 0 }

// one returns the single value of a parameter, failing if it is repeated.
func (p *opParams) one(name string) (opParam, bool, *fhir.Error) {
	vs := p.values[name]
	switch len(vs) {
	case 0:
		return opParam{}, false, nil
	case 1:
		return vs[0], true, nil
	}
	return opParam{}, false, fhir.Errorf(400, fhir.IssueInvalid, "%s parameter %s is given more than once", p.op, name)
}

// str returns a primitive parameter's value ("" when absent).
func (p *opParams) str(name string) (string, *fhir.Error) {
	v, ok, e := p.one(name)
	if e != nil || !ok {
		return "", e
	}
	if (v.value != nil && !v.value.IsPrimitive()) || v.resource != nil {
		return "", fhir.Errorf(400, fhir.IssueInvalid, "%s parameter %s must be a primitive value", p.op, name)
	}
	return v.text, nil
}

// boolean reads a boolean parameter (false when absent).
func (p *opParams) boolean(name string) (value, given bool, e *fhir.Error) {
	s, e := p.str(name)
	switch {
	case e != nil:
		return false, false, e
	case s == "":
		return false, p.has(name), nil
	case s == "true" || s == "false":
		return s == "true", true, nil
	}
	return false, false, fhir.Errorf(400, fhir.IssueInvalid, "%s parameter %s must be true or false, not %q", p.op, name, s)
}

// count reads a non-negative integer parameter.
func (p *opParams) count(name string) (n int, given bool, e *fhir.Error) {
	s, e := p.str(name)
	if e != nil || !p.has(name) {
		return 0, false, e
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, false, fhir.Errorf(400, fhir.IssueInvalid, "%s parameter %s must be a non-negative integer, not %q", p.op, name, s)
	}
	return n, true, nil
}

// coding reads a Coding parameter (nil when absent); complex values come only in a body.
func (p *opParams) coding(name string) (*terminology.Coding, *fhir.Error) {
	v, ok, e := p.one(name)
	if e != nil || !ok {
		return nil, e
	}
	if v.value == nil || v.value.Type != "Coding" {
		return nil, fhir.Errorf(400, fhir.IssueInvalid, "%s parameter %s must be a Coding (valueCoding in a POST Parameters body)", p.op, name)
	}
	c := nodeCoding(v.value)
	if c.Code == "" {
		return nil, fhir.Errorf(400, fhir.IssueRequired, "%s parameter %s has no code", p.op, name)
	}
	return &c, nil
}

// codeableConcept reads a CodeableConcept parameter's codings (nil when absent).
func (p *opParams) codeableConcept(name string) ([]terminology.Coding, *fhir.Error) {
	v, ok, e := p.one(name)
	if e != nil || !ok {
		return nil, e
	}
	if v.value == nil || v.value.Type != "CodeableConcept" {
		return nil, fhir.Errorf(400, fhir.IssueInvalid, "%s parameter %s must be a CodeableConcept (valueCodeableConcept in a POST Parameters body)", p.op, name)
	}
	var out []terminology.Coding
	for _, c := range v.value.Child("coding") {
		out = append(out, nodeCoding(c))
	}
	if len(out) == 0 {
		return nil, fhir.Errorf(400, fhir.IssueRequired, "%s parameter %s has no coding", p.op, name)
	}
	return out, nil
}

// resource reads a resource parameter of the given type (nil when absent).
func (p *opParams) resource(name, typ string) (*fhir.Resource, *fhir.Error) {
	v, ok, e := p.one(name)
	if e != nil || !ok {
		return nil, e
	}
	if v.resource == nil || v.resource.Type != typ {
		return nil, fhir.Errorf(400, fhir.IssueInvalid, "%s parameter %s must be a %s resource in a POST Parameters body", p.op, name, typ)
	}
	return &fhir.Resource{Type: typ, ID: v.resource.Text("id"), Root: v.resource}, nil
}

func nodeCoding(n *fhir.Node) terminology.Coding {
	return terminology.Coding{System: n.Text("system"), Version: n.Text("version"), Code: n.Text("code"), Display: n.Text("display")}
}

// strs reads several primitive parameters at once, stopping at the first error.
func (p *opParams) strs(names ...string) ([]string, *fhir.Error) {
	out := make([]string, len(names))
	for i, n := range names {
		v, e := p.str(n)
		if e != nil {
			return nil, e
		}
		out[i] = v
	}
	return out, nil
}

// subject reads the one coding an operation works on, given as code and system, as a
// Coding, or (where allowed) as a CodeableConcept; systemParam names the parameter that
// gives the code's system ("" when the system comes from elsewhere, defaultSystem).
func (p *opParams) subject(codeParam, systemParam, codingParam, ccParam, defaultSystem string) ([]terminology.Coding, *fhir.Error) {
	code, e := p.str(codeParam)
	if e != nil {
		return nil, e
	}
	system := defaultSystem
	if systemParam != "" {
		s, e := p.str(systemParam)
		if e != nil {
			return nil, e
		}
		if s != "" {
			if defaultSystem != "" && s != defaultSystem {
				return nil, fhir.Errorf(400, fhir.IssueInvalid, "%s parameter %s %s is not the code system's url %s", p.op, systemParam, s, defaultSystem)
			}
			system = s
		}
	}
	coding, e := p.coding(codingParam)
	if e != nil {
		return nil, e
	}
	var cc []terminology.Coding
	if ccParam != "" {
		if cc, e = p.codeableConcept(ccParam); e != nil {
			return nil, e
		}
	}
	given := 0
	for _, g := range []bool{code != "", coding != nil, cc != nil} {
		if g {
			given++
		}
	}
	sysName := systemParam
	if sysName == "" {
		sysName = "url" // the operation's url names the code system
	}
	names := codeParam + " and " + sysName + ", or " + codingParam
	if ccParam != "" {
		names = codeParam + " (with " + sysName + "), " + codingParam + " or " + ccParam
	}
	switch {
	case given == 0:
		return nil, fhir.Errorf(400, fhir.IssueRequired, "%s needs %s", p.op, names)
	case given > 1:
		return nil, fhir.Errorf(400, fhir.IssueInvalid, "%s takes one of %s, not several", p.op, names)
	case code != "":
		if system == "" {
			return nil, fhir.Errorf(400, fhir.IssueRequired, "%s: %s '%s' needs %s, its code system", p.op, codeParam, code, sysName)
		}
		return []terminology.Coding{{System: system, Code: code}}, nil
	case coding != nil:
		if coding.System == "" {
			coding.System = system
		}
		if system != "" && coding.System != system {
			return nil, fhir.Errorf(400, fhir.IssueInvalid, "%s: %s system %s is not %s", p.op, codingParam, coding.System, system)
		}
		if coding.System == "" {
			return nil, fhir.Errorf(400, fhir.IssueRequired, "%s: %s has no system", p.op, codingParam)
		}
		return []terminology.Coding{*coding}, nil
	}
	return cc, nil
}

// instanceCodeSystem returns, for a call on a stored CodeSystem, the terminology to answer
// from and the code system's canonical: the held one when the url is held, else the stored
// resource on its own.
func (t *termOp) instanceCodeSystem() (*terminology.Service, string, *fhir.Error) {
	url, version := t.inst.Root.Text("url"), t.inst.Root.Text("version")
	if url == "" {
		return nil, "", fhir.Errorf(422, fhir.IssueProcessing, "CodeSystem/%s has no url", t.inst.ID)
	}
	canonical := url
	if version != "" {
		canonical += "|" + version
	}
	if p, ok := t.ts.CodeSystem(canonical); ok && p.Version() == version {
		return t.ts, canonical, nil
	}
	own := terminology.New()
	if err := own.Add(t.inst); err != nil {
		return nil, "", fhir.Errorf(422, fhir.IssueProcessing, "CodeSystem/%s cannot be used: %v", t.inst.ID, err)
	}
	return own, canonical, nil
}

// termError maps terminology errors to HTTP answers.
func termError(err error) *fhir.Error {
	switch {
	case errors.Is(err, terminology.ErrUnknownCodeSystem), errors.Is(err, terminology.ErrUnknownValueSet),
		errors.Is(err, terminology.ErrUnknownConceptMap), errors.Is(err, terminology.ErrUnknownCode):
		return fhir.Errorf(404, fhir.IssueNotFound, "%v", err)
	case errors.Is(err, terminology.ErrNotEnumerable):
		// A code system too large to list, or a filter that cannot be listed, is a matter of
		// cost; content that is not held at all is not supported.
		if strings.Contains(err.Error(), "cannot be listed") {
			return fhir.Errorf(422, fhir.IssueTooCostly, "%v", err)
		}
		return fhir.Errorf(422, fhir.IssueNotSupported, "%v", err)
	case errors.Is(err, terminology.ErrInvalidValueSet):
		return fhir.Errorf(400, fhir.IssueInvalid, "%v", err)
	case errors.Is(err, terminology.ErrCircular):
		return fhir.Errorf(422, fhir.IssueProcessing, "%v", err)
	case errors.Is(err, terminology.ErrNoHierarchy):
		return fhir.Errorf(422, fhir.IssueNotSupported, "%v", err)
	}
	return fhir.Errorf(500, fhir.IssueException, "%v", err)
}

// param is one output Parameters.parameter.
type param map[string]any

func pval(name, typ string, v any) param { return param{"name": name, "value" + typ: v} }

func ppart(name string, parts ...param) param { return param{"name": name, "part": parts} }

func parameters(ps []param) map[string]any {
	return map[string]any{"resourceType": "Parameters", "parameter": ps}
}

func codingJSON(c terminology.Coding) map[string]any {
	m := map[string]any{}
	for k, v := range map[string]string{"system": c.System, "version": c.Version, "code": c.Code, "display": c.Display} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}

// lookup is CodeSystem/$lookup.
func (t *termOp) lookup(ctx context.Context) (any, *fhir.Error) {
	ts, defaultSystem := t.ts, ""
	if t.inst != nil {
		var e *fhir.Error
		if ts, defaultSystem, e = t.instanceCodeSystem(); e != nil {
			return nil, e
		}
	}
	url, _, _ := strings.Cut(defaultSystem, "|")
	codings, e := t.p.subject("code", "system", "coding", "", url)
	if e != nil {
		return nil, e
	}
	c := codings[0]
	v, e := t.p.strs("version", "displayLanguage")
	if e != nil {
		return nil, e
	}
	version, lang := v[0], v[1]
	if version == "" {
		version = c.Version
	}
	if version == "" && defaultSystem != url {
		_, version, _ = strings.Cut(defaultSystem, "|")
	}
	r, err := ts.LookupCode(ctx, c.System, version, c.Code)
	if err != nil {
		return nil, termError(err)
	}
	var wanted map[string]bool
	if t.p.has("property") {
		wanted = map[string]bool{}
		for _, v := range t.p.values["property"] {
			for _, code := range strings.Split(v.text, ",") {
				wanted[strings.TrimSpace(code)] = true
			}
		}
	}
	want := func(code string) bool { return wanted == nil || wanted[code] }
	out := []param{pval("name", "String", r.Name)}
	if r.Version != "" {
		out = append(out, pval("version", "String", r.Version))
	}
	out = append(out, pval("display", "String", displayIn(r.Concept, lang)))
	if r.Definition != "" && want("definition") {
		out = append(out, pval("definition", "String", r.Definition))
	}
	out = append(out, pval("abstract", "Boolean", r.Abstract))
	if want("designation") {
		for _, d := range r.Designations {
			out = append(out, designationParam(d))
		}
	}
	seen := map[string]bool{}
	prop := func(code, typ, value string) {
		key := code + "\x00" + value
		if !want(code) || seen[key] {
			return
		}
		seen[key] = true
		out = append(out, ppart("property", pval("code", "Code", code), propertyValue(typ, value)))
	}
	for _, p := range r.Properties {
		prop(p.Code, p.Type, p.Value)
	}
	for _, code := range r.Parents {
		prop("parent", "code", code)
	}
	for _, code := range r.Children {
		prop("child", "code", code)
	}
	prop("inactive", "boolean", strconv.FormatBool(r.Inactive))
	return parameters(out), nil
}

func designationParam(d terminology.Designation) param {
	var parts []param
	if d.Language != "" {
		parts = append(parts, pval("language", "Code", d.Language))
	}
	if d.Use.Code != "" {
		parts = append(parts, pval("use", "Coding", codingJSON(d.Use)))
	}
	parts = append(parts, pval("value", "String", d.Value))
	return ppart("designation", parts...)
}

// propertyValue renders a property value as the value[x] of its type.
func propertyValue(typ, value string) param {
	switch typ {
	case "boolean":
		return pval("value", "Boolean", value == "true")
	case "integer", "decimal":
		if _, err := strconv.ParseFloat(value, 64); err == nil {
			return pval("value", strings.ToUpper(typ[:1])+typ[1:], json.Number(value))
		}
	case "Coding":
		system, code, _ := strings.Cut(value, "|")
		return pval("value", "Coding", codingJSON(terminology.Coding{System: system, Code: code}))
	case "code":
		return pval("value", "Code", value)
	case "dateTime":
		return pval("value", "DateTime", value)
	}
	return pval("value", "String", value)
}

// displayIn is the concept's display in the language asked for, when it has a designation
// in it (a "de" request takes a "de-CH" designation), else its display.
func displayIn(c terminology.Concept, lang string) string {
	if lang == "" {
		return c.Display
	}
	for _, accept := range strings.Split(lang, ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(accept), ";")
		if tag == "" || tag == "*" {
			continue
		}
		for _, d := range c.Designations {
			if strings.EqualFold(d.Language, tag) || strings.HasPrefix(strings.ToLower(d.Language), strings.ToLower(tag)+"-") {
				return d.Value
			}
		}
	}
	return c.Display
}

// displayMatches reports whether a display given by a client is the concept's display or
// one of its designations, ignoring case and runs of white space.
func displayMatches(c terminology.Concept, display string) bool {
	norm := func(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }
	want := norm(display)
	if norm(c.Display) == want {
		return true
	}
	for _, d := range c.Designations {
		if norm(d.Value) == want {
			return true
		}
	}
	return false
}

// validateCodeSystem is CodeSystem/$validate-code: is the code a code of the system?
func (t *termOp) validateCodeSystem(ctx context.Context) (any, *fhir.Error) {
	ts := t.ts
	url, e := t.p.str("url")
	if e != nil {
		return nil, e
	}
	inline, e := t.p.resource("codeSystem", "CodeSystem")
	if e != nil {
		return nil, e
	}
	switch {
	case t.inst != nil && (url != "" || inline != nil):
		return nil, fhir.Errorf(400, fhir.IssueInvalid, "$validate-code on a stored CodeSystem takes neither url nor codeSystem")
	case url != "" && inline != nil:
		return nil, fhir.Errorf(400, fhir.IssueInvalid, "$validate-code takes url or codeSystem, not both")
	case t.inst != nil:
		if ts, url, e = t.instanceCodeSystem(); e != nil {
			return nil, e
		}
	case inline != nil:
		ts = terminology.New()
		if err := ts.Add(inline); err != nil {
			return nil, fhir.Errorf(400, fhir.IssueInvalid, "codeSystem cannot be used: %v", err)
		}
		url = inline.Root.Text("url")
	}
	base, pinned, _ := strings.Cut(url, "|")
	codings, e := t.p.subject("code", "", "coding", "codeableConcept", base)
	if e != nil {
		return nil, e
	}
	v, e := t.p.strs("version", "display", "displayLanguage")
	if e != nil {
		return nil, e
	}
	version, display, lang := v[0], v[1], v[2]
	if version == "" {
		version = pinned
	}
	abstract, abstractGiven, e := t.p.boolean("abstract")
	if e != nil {
		return nil, e
	}
	if display != "" && len(codings) == 1 {
		codings[0].Display = display
	}
	var messages []string
	for i, c := range codings {
		if c.System == "" {
			messages = append(messages, fmt.Sprintf("coding %d has no system", i+1))
			continue
		}
		if base != "" && c.System != base {
			messages = append(messages, fmt.Sprintf("coding %d is from %s, not %s", i+1, c.System, base))
			continue
		}
		cv := version
		if cv == "" {
			cv = c.Version
		}
		r, err := ts.LookupCode(ctx, c.System, cv, c.Code)
		switch {
		case errors.Is(err, terminology.ErrUnknownCode):
			messages = append(messages, err.Error())
			continue
		case err != nil && len(codings) == 1:
			return nil, termError(err)
		case err != nil:
			messages = append(messages, err.Error())
			continue
		}
		shown := displayIn(r.Concept, lang)
		switch {
		case c.Display != "" && !displayMatches(r.Concept, c.Display):
			messages = append(messages, fmt.Sprintf("display '%s' is not a display of code '%s' of %s; it is '%s'", c.Display, r.Code, r.System, r.Display))
		case r.Abstract && abstractGiven && !abstract:
			messages = append(messages, fmt.Sprintf("code '%s' of %s is abstract (not selectable)", r.Code, r.System))
		default:
			msg := ""
			if r.Inactive {
				msg = fmt.Sprintf("code '%s' of %s is inactive", r.Code, r.System)
			}
			return validateResult(true, msg, shown), nil
		}
	}
	return validateResult(false, strings.Join(messages, "; "), ""), nil
}

func validateResult(valid bool, message, display string) map[string]any {
	out := []param{pval("result", "Boolean", valid)}
	if message != "" {
		out = append(out, pval("message", "String", message))
	}
	if display != "" {
		out = append(out, pval("display", "String", display))
	}
	return parameters(out)
}

// subsumes is CodeSystem/$subsumes.
func (t *termOp) subsumes(ctx context.Context) (any, *fhir.Error) {
	ts, defaultSystem := t.ts, ""
	if t.inst != nil {
		var e *fhir.Error
		if ts, defaultSystem, e = t.instanceCodeSystem(); e != nil {
			return nil, e
		}
	}
	url, pinned, _ := strings.Cut(defaultSystem, "|")
	a, e := t.p.subject("codeA", "system", "codingA", "", url)
	if e != nil {
		return nil, e
	}
	b, e := t.p.subject("codeB", "system", "codingB", "", url)
	if e != nil {
		return nil, e
	}
	if a[0].System != b[0].System {
		return nil, fhir.Errorf(400, fhir.IssueInvalid, "$subsumes compares codes of one code system, not %s and %s", a[0].System, b[0].System)
	}
	version, e := t.p.str("version")
	if e != nil {
		return nil, e
	}
	for _, v := range []string{a[0].Version, b[0].Version, pinned} {
		if version == "" {
			version = v
		}
	}
	system := a[0].System
	if version != "" {
		system += "|" + version
	}
	outcome, err := ts.Subsumes(ctx, system, a[0].Code, b[0].Code)
	if errors.Is(err, terminology.ErrUnknownCode) {
		return nil, fhir.Errorf(400, fhir.IssueInvalid, "%v", err)
	}
	if err != nil {
		return nil, termError(err)
	}
	return parameters([]param{pval("outcome", "Code", string(outcome))}), nil
}

// valueSetRef is the value set an operation works on: a held one by canonical, or one
// compiled for the request.
type valueSetRef struct {
	canonical string
	inline    *terminology.InlineValueSet
	// root is the resource, for echoing its metadata in an expansion (nil for a held value
	// set named by url).
	root *fhir.Node
}

// valueSet reads the value set of a ValueSet operation: the stored instance, the url (and
// valueSetVersion) of a held one, or the valueSet resource given inline.
func (t *termOp) valueSet(ctx context.Context) (*valueSetRef, *fhir.Error) {
	v, e := t.p.strs("url", "valueSetVersion")
	if e != nil {
		return nil, e
	}
	url, version := v[0], v[1]
	inline, e := t.p.resource("valueSet", "ValueSet")
	if e != nil {
		return nil, e
	}
	switch {
	case t.inst != nil:
		if url != "" || inline != nil {
			return nil, fhir.Errorf(400, fhir.IssueInvalid, "%s on a stored ValueSet takes neither url nor valueSet", t.p.op)
		}
		url, version = t.inst.Root.Text("url"), t.inst.Root.Text("version")
		canonical := url
		if version != "" {
			canonical += "|" + version
		}
		if info, ok := t.ts.ValueSet(canonical); ok && url != "" && info.Version == version {
			return &valueSetRef{canonical: canonical, root: t.inst.Root}, nil
		}
		inline = t.inst // not taken up by the terminology: compile it as it is stored
	case url != "" && inline != nil:
		return nil, fhir.Errorf(400, fhir.IssueInvalid, "%s takes url or valueSet, not both", t.p.op)
	case url == "" && inline == nil:
		return nil, fhir.Errorf(400, fhir.IssueRequired, "%s needs the value set: url, or valueSet in a POST Parameters body", t.p.op)
	}
	if inline != nil {
		iv, err := t.ts.CompileValueSet(ctx, inline)
		if err != nil {
			return nil, fhir.Errorf(400, fhir.IssueInvalid, "valueSet cannot be used: %v", err)
		}
		return &valueSetRef{inline: iv, root: inline.Root}, nil
	}
	canonical := url
	if version != "" {
		canonical += "|" + version
	}
	if _, ok := t.ts.ValueSet(canonical); !ok {
		return nil, fhir.Errorf(404, fhir.IssueNotFound, "value set %s is not held here", canonical)
	}
	if err := t.ts.CheckValueSet(ctx, canonical); err != nil {
		return nil, termError(err) // an implicit value set with invalid ECL, say
	}
	return &valueSetRef{canonical: canonical}, nil
}

// expand is ValueSet/$expand.
func (t *termOp) expand(ctx context.Context, id string) (any, *fhir.Error) {
	ref, e := t.valueSet(ctx)
	if e != nil {
		return nil, e
	}
	v, e := t.p.strs("filter", "displayLanguage")
	if e != nil {
		return nil, e
	}
	opts := terminology.ExpandOptions{Filter: v[0]}
	lang := v[1]
	count, countGiven, e := t.p.count("count")
	if e != nil {
		return nil, e
	}
	offset, offsetGiven, e := t.p.count("offset")
	if e != nil {
		return nil, e
	}
	activeOnly, activeGiven, e := t.p.boolean("activeOnly")
	if e != nil {
		return nil, e
	}
	designations, designationsGiven, e := t.p.boolean("includeDesignations")
	if e != nil {
		return nil, e
	}
	opts.Offset, opts.Count, opts.ActiveOnly = offset, count, activeOnly
	if countGiven && count == 0 {
		opts.Count = 1 // count=0 asks for the total alone; the one entry is dropped below
	}
	var x *terminology.Expansion
	var err error
	if ref.inline != nil {
		x, err = ref.inline.Expand(opts)
	} else {
		x, err = t.ts.Expand(ctx, ref.canonical, opts)
	}
	if err != nil {
		return nil, termError(err)
	}
	if countGiven && count == 0 {
		x.Contains = nil
	}
	var echo []map[string]any
	addEcho := func(name, typ string, v any) { echo = append(echo, map[string]any{"name": name, "value" + typ: v}) }
	if opts.Filter != "" {
		addEcho("filter", "String", opts.Filter)
	}
	if countGiven {
		addEcho("count", "Integer", count)
	}
	if offsetGiven {
		addEcho("offset", "Integer", offset)
	}
	if activeGiven {
		addEcho("activeOnly", "Boolean", activeOnly)
	}
	if designationsGiven {
		addEcho("includeDesignations", "Boolean", designations)
	}
	if lang != "" {
		addEcho("displayLanguage", "Code", lang)
	}
	contains := make([]map[string]any, 0, len(x.Contains))
	for _, c := range x.Contains {
		m := codingJSON(c.Coding)
		if c.Abstract {
			m["abstract"] = true
		}
		if c.Inactive {
			m["inactive"] = true
		}
		if designations || lang != "" {
			// Designations are looked up for the page only, never for the whole expansion.
			if r, err := t.ts.LookupCode(ctx, c.System, c.Version, c.Code); err == nil {
				if d := displayIn(r.Concept, lang); d != "" {
					m["display"] = d
				}
				if designations && len(r.Designations) > 0 {
					var ds []map[string]any
					for _, d := range r.Designations {
						dm := map[string]any{"value": d.Value}
						if d.Language != "" {
							dm["language"] = d.Language
						}
						if d.Use.Code != "" {
							dm["use"] = codingJSON(d.Use)
						}
						ds = append(ds, dm)
					}
					m["designation"] = ds
				}
			}
		}
		contains = append(contains, m)
	}
	expansion := map[string]any{
		"identifier": "urn:uuid:" + NewID(),
		"timestamp":  time.Now().UTC().Format(time.RFC3339),
		"offset":     x.Offset,
	}
	if x.Total >= 0 {
		expansion["total"] = x.Total
	}
	if len(echo) > 0 {
		expansion["parameter"] = echo
	}
	if len(contains) > 0 {
		expansion["contains"] = contains
	}
	out := map[string]any{"resourceType": "ValueSet", "expansion": expansion}
	if id != "" {
		out["id"] = id
	}
	info := terminology.Info{URL: x.URL, Version: x.Version}
	if ref.root != nil {
		info = terminology.Info{URL: ref.root.Text("url"), Version: ref.root.Text("version"), Name: ref.root.Text("name"),
			Title: ref.root.Text("title"), Status: ref.root.Text("status")}
	} else if held, ok := t.ts.ValueSet(ref.canonical); ok {
		info = held
	}
	for k, v := range map[string]string{"url": info.URL, "version": info.Version, "name": info.Name, "title": info.Title, "status": info.Status} {
		if v != "" {
			out[k] = v
		}
	}
	if out["status"] == nil {
		out["status"] = "unknown" // required by ValueSet
	}
	return out, nil
}

// validateValueSet is ValueSet/$validate-code.
func (t *termOp) validateValueSet(ctx context.Context) (any, *fhir.Error) {
	ref, e := t.valueSet(ctx)
	if e != nil {
		return nil, e
	}
	codings, e := t.p.subject("code", "system", "coding", "codeableConcept", "")
	if e != nil {
		return nil, e
	}
	v, e := t.p.strs("systemVersion", "display")
	if e != nil {
		return nil, e
	}
	if len(codings) == 1 {
		if v[0] != "" {
			codings[0].Version = v[0]
		}
		if v[1] != "" {
			codings[0].Display = v[1]
		}
	}
	var r terminology.Result
	switch {
	case ref.inline != nil && len(codings) == 1:
		r = ref.inline.ValidateCode(ctx, codings[0])
	case ref.inline != nil:
		r = ref.inline.ValidateCodeableConcept(ctx, codings)
	case len(codings) == 1:
		r = t.ts.ValidateCode(ctx, ref.canonical, codings[0])
	default:
		r = t.ts.ValidateCodeableConcept(ctx, ref.canonical, codings)
	}
	if !r.Known {
		return validateResult(false, "the code cannot be decided: "+r.Message, ""), nil
	}
	if r.Valid && len(codings) == 1 && codings[0].Display != "" && !strings.EqualFold(codings[0].Display, r.Display) {
		c := codings[0]
		if con, ok := t.ts.Lookup(ctx, c.System, c.Code); !ok || !displayMatches(con, c.Display) {
			return validateResult(false, fmt.Sprintf("display '%s' is not a display of code '%s' of %s; it is '%s'", c.Display, c.Code, c.System, r.Display), r.Display), nil
		}
	}
	return validateResult(r.Valid, r.Message, r.Display), nil
}

// translate is ConceptMap/$translate.
func (t *termOp) translate(ctx context.Context) (any, *fhir.Error) {
	v, e := t.p.strs("url", "conceptMapVersion", "source", "target", "targetsystem", "version")
	if e != nil {
		return nil, e
	}
	req := terminology.TranslateRequest{ConceptMap: v[0], Source: v[2], Target: v[3], TargetSystem: v[4]}
	if v[1] != "" && req.ConceptMap != "" {
		req.ConceptMap += "|" + v[1]
	}
	if req.Inline, e = t.p.resource("conceptMap", "ConceptMap"); e != nil {
		return nil, e
	}
	if req.Reverse, _, e = t.p.boolean("reverse"); e != nil {
		return nil, e
	}
	switch {
	case t.inst != nil:
		if req.ConceptMap != "" || req.Inline != nil {
			return nil, fhir.Errorf(400, fhir.IssueInvalid, "$translate on a stored ConceptMap takes neither url nor conceptMap")
		}
		canonical := t.inst.Root.Text("url")
		if ver := t.inst.Root.Text("version"); ver != "" {
			canonical += "|" + ver
		}
		if info, ok := t.ts.ConceptMap(canonical); ok && info.Version == t.inst.Root.Text("version") {
			req.ConceptMap = canonical
		} else {
			req.Inline = t.inst
		}
	case req.ConceptMap != "" && req.Inline != nil:
		return nil, fhir.Errorf(400, fhir.IssueInvalid, "$translate takes url or conceptMap, not both")
	case req.ConceptMap != "":
		if _, ok := t.ts.ConceptMap(req.ConceptMap); !ok {
			return nil, fhir.Errorf(404, fhir.IssueNotFound, "concept map %s is not held here", req.ConceptMap)
		}
	}
	codings, e := t.p.subject("code", "system", "coding", "codeableConcept", "")
	if e != nil {
		return nil, e
	}
	if v[5] != "" && len(codings) == 1 {
		codings[0].Version = v[5]
	}
	var out []param
	var matches []param
	result := false
	var messages []string
	for _, c := range codings {
		if c.System == "" {
			messages = append(messages, fmt.Sprintf("code '%s' has no system", c.Code))
			continue
		}
		req.Coding = c
		tr, err := t.ts.Translate(ctx, req)
		if err != nil {
			return nil, termError(err)
		}
		result = result || tr.Result
		if tr.Message != "" {
			messages = append(messages, tr.Message)
		}
		for _, m := range tr.Matches {
			parts := []param{pval("equivalence", "Code", m.Equivalence)}
			if m.Concept.Code != "" {
				parts = append(parts, pval("concept", "Coding", codingJSON(m.Concept)))
			}
			parts = append(parts, pval("source", "Uri", m.Source))
			matches = append(matches, ppart("match", parts...))
		}
	}
	out = append(out, pval("result", "Boolean", result))
	if !result && len(messages) > 0 {
		out = append(out, pval("message", "String", strings.Join(messages, "; ")))
	}
	return parameters(append(out, matches...)), nil
}

// TerminologyCapabilities answers GET metadata?mode=terminology: the code systems held
// (every version; SNOMED CT with its edition and version URI) and what $expand,
// $validate-code and $translate accept.
func (s *Service) TerminologyCapabilities(ctx context.Context) *Response {
	ts, err := s.getTerminology()
	if err != nil {
		return failure(fhir.Errorf(500, fhir.IssueException, "terminology: %v", err))
	}
	var systems []map[string]any
	for _, cs := range ts.CodeSystems() {
		v := map[string]any{"isDefault": true}
		if cs.Version != "" {
			v["code"] = cs.Version
		}
		if n := len(systems); n > 0 && systems[n-1]["uri"] == cs.URL {
			// Versions come oldest first: the last one is the default.
			prev := systems[n-1]["version"].([]map[string]any)
			prev[len(prev)-1]["isDefault"] = false
			systems[n-1]["version"] = append(prev, v)
			continue
		}
		systems = append(systems, map[string]any{"uri": cs.URL, "version": []map[string]any{v}})
	}
	var expandParams []map[string]any
	for _, p := range terminologyOps["ValueSet"]["$expand"] {
		expandParams = append(expandParams, map[string]any{"name": p})
	}
	return canonicalAnswer(map[string]any{
		"resourceType": "TerminologyCapabilities",
		"status":       "active",
		"date":         time.Now().UTC().Format(time.RFC3339),
		"kind":         "instance",
		"software":     map[string]any{"name": "Concord"},
		"codeSystem":   systems,
		"expansion": map[string]any{
			"hierarchical": false, "paging": true, "incomplete": false, "parameter": expandParams,
			"textFilter": "Each word of the filter starts a word of the display or the code; over SNOMED CT, of any description, best match first.",
		},
		"codeSearch":   "all",
		"validateCode": map[string]any{"translations": false},
		"translation":  map[string]any{"needsMap": false},
		"closure":      map[string]any{"translation": false},
	})
}
