package ecl

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

// Concepts of the toy edition, with their real SNOMED CT ids where there is one.
const (
	root            = 138875005
	bodyStructure   = 123037004
	heart           = 80891009
	pulmonaryValve  = 39057004
	lung            = 39607008
	leftLung        = 44029006
	appendix        = 66754008
	finding         = 404684003
	disease         = 64572001
	heartDisease    = 56265001
	mi              = 22298006
	valveStenosis   = 56786000
	lungDisorder    = 19829001
	pneumonia       = 233604007
	asthma          = 195967001
	procedure       = 71388002
	surgery         = 387713003
	appendectomy    = 80146002
	lungBiopsy      = 78603008
	attribute       = 246061005
	findingSite     = 363698007
	morphologyAttr  = 116676008
	method          = 260686004
	procedureSite   = 363704007
	procSiteDirect  = 405813007
	strengthValue   = 1142135004
	doseFormText    = 9990001
	scored          = 9990002
	morphology      = 49755003
	infarct         = 55641003
	inflammation    = 409774005
	stenosis        = 415582006
	action          = 129264002
	excision        = 129304002
	biopsyAction    = 129314006
	product         = 763158003
	paracetamol500  = 322236009
	paracetamol250  = 774656009
	paracetamol1g   = 322280009
	problemRefset   = 700043003
	refsetOfRefsets = 446609009
)

func toyGraph() *MemoryGraph {
	g := NewMemoryGraph()
	concept := func(id, parent uint64, terms ...string) {
		g.AddConcept(id, terms...)
		if parent != 0 {
			g.AddIsA(id, parent)
		}
	}
	concept(root, 0, "SNOMED CT Concept")
	concept(bodyStructure, root, "Body structure")
	concept(heart, bodyStructure, "Heart structure")
	concept(pulmonaryValve, heart, "Pulmonary valve structure")
	concept(lung, bodyStructure, "Lung structure")
	concept(leftLung, lung, "Left lung structure")
	concept(appendix, bodyStructure, "Appendix structure")
	concept(finding, root, "Clinical finding")
	concept(disease, finding, "Disease", "Disorder")
	concept(heartDisease, disease, "Heart disease", "Disorder of heart")
	concept(mi, heartDisease, "Myocardial infarction", "Heart attack", "Cardiac infarction")
	concept(valveStenosis, heartDisease, "Pulmonary valve stenosis")
	concept(lungDisorder, disease, "Disorder of lung")
	concept(pneumonia, lungDisorder, "Pneumonia", "Lung inflammation")
	concept(asthma, lungDisorder, "Asthma")
	concept(procedure, root, "Procedure")
	concept(surgery, procedure, "Surgical procedure")
	concept(appendectomy, surgery, "Appendectomy", "Excision of appendix")
	concept(lungBiopsy, procedure, "Biopsy of lung")
	concept(attribute, root, "Attribute")
	concept(IsA, attribute, "Is a")
	concept(findingSite, attribute, "Finding site")
	concept(morphologyAttr, attribute, "Associated morphology")
	concept(method, attribute, "Method")
	concept(procedureSite, attribute, "Procedure site")
	concept(procSiteDirect, procedureSite, "Procedure site - Direct")
	concept(strengthValue, attribute, "Has presentation strength numerator value")
	concept(doseFormText, attribute, "Has dose form text")
	concept(scored, attribute, "Is scored")
	concept(morphology, bodyStructure, "Morphologically abnormal structure")
	concept(infarct, morphology, "Infarct")
	concept(inflammation, morphology, "Inflammatory morphology")
	concept(stenosis, morphology, "Stenosis")
	concept(action, root, "Action")
	concept(excision, action, "Excision - action")
	concept(biopsyAction, action, "Biopsy - action")
	concept(product, root, "Medicinal product")
	concept(paracetamol500, product, "Paracetamol 500 mg tablet")
	concept(paracetamol250, product, "Paracetamol 250 mg tablet")
	concept(paracetamol1g, product, "Paracetamol 1 g tablet")
	concept(refsetOfRefsets, root, "Simple type reference set")
	concept(problemRefset, refsetOfRefsets, "Example problem list concepts reference set")
	// A concept that is no longer active: not in the graph, so never selected.
	rel := func(src, typ, dst uint64, group int) {
		g.AddRelationship(src, Relationship{Type: typ, Destination: dst, Group: group})
	}
	rel(heartDisease, findingSite, heart, 0)
	rel(mi, findingSite, heart, 1)
	rel(mi, morphologyAttr, infarct, 1)
	rel(valveStenosis, findingSite, pulmonaryValve, 1)
	rel(valveStenosis, morphologyAttr, stenosis, 1)
	rel(lungDisorder, findingSite, lung, 0)
	rel(pneumonia, findingSite, lung, 1)
	rel(pneumonia, morphologyAttr, inflammation, 1)
	rel(pneumonia, findingSite, leftLung, 2)
	rel(pneumonia, morphologyAttr, infarct, 2)
	rel(asthma, findingSite, lung, 1)
	rel(asthma, findingSite, heart, 2) // two sites, each in its own group
	rel(appendectomy, method, excision, 1)
	rel(appendectomy, procSiteDirect, appendix, 1)
	rel(lungBiopsy, method, biopsyAction, 1)
	rel(lungBiopsy, procSiteDirect, lung, 1)
	rel(lungBiopsy, method, excision, 2)
	rel(lungBiopsy, procSiteDirect, leftLung, 3)
	val := func(src, typ uint64, value string, group int) {
		g.AddRelationship(src, Relationship{Type: typ, Group: group, Value: value})
	}
	val(paracetamol500, strengthValue, "#500", 1)
	val(paracetamol250, strengthValue, "#250", 1)
	val(paracetamol1g, strengthValue, "#1000.0", 1)
	val(paracetamol500, doseFormText, `"tablet"`, 0)
	val(paracetamol250, doseFormText, `"oral \"tablet\""`, 0)
	val(paracetamol500, scored, "true", 0)
	val(paracetamol1g, scored, "false", 0)
	for _, id := range []uint64{mi, pneumonia, asthma, 99999999} {
		g.AddMember(problemRefset, id)
	}
	return g
}

func ids(xs ...uint64) []uint64 {
	slices.Sort(xs)
	return xs
}

var evalCases = []struct {
	ecl  string
	want []uint64
}{
	{"404684003 |Clinical finding|", ids(finding)},
	{"99999999", nil},
	{"< 64572001", ids(heartDisease, mi, valveStenosis, lungDisorder, pneumonia, asthma)},
	{"<< 56265001", ids(heartDisease, mi, valveStenosis)},
	{"<! 64572001", ids(heartDisease, lungDisorder)},
	{"<<! 64572001", ids(disease, heartDisease, lungDisorder)},
	{"> 22298006", ids(heartDisease, disease, finding, root)},
	{">> 22298006", ids(mi, heartDisease, disease, finding, root)},
	{">! 22298006", ids(heartDisease)},
	{">>! 22298006", ids(mi, heartDisease)},
	{"< 99999999", nil},
	{"!!> *", ids(root)},
	{"<< * MINUS < *", ids(root)},
	{"<! * MINUS < *", nil},
	{"* MINUS > *", ids(pulmonaryValve, leftLung, appendix, mi, valveStenosis, pneumonia, asthma, appendectomy, lungBiopsy, IsA, findingSite, morphologyAttr, method, procSiteDirect, strengthValue, doseFormText, scored, infarct, inflammation, stenosis, excision, biopsyAction, paracetamol500, paracetamol250, paracetamol1g, problemRefset)},
	{"!!< * MINUS (* MINUS >! *)", ids()},
	{">>! * AND <! 404684003", ids(disease)},
	{"^ 700043003 |Example problem list concepts reference set|", ids(mi, pneumonia, asthma)},
	{"<< ^ 700043003", ids(mi, pneumonia, asthma)},
	{"> ^ 700043003", ids(heartDisease, lungDisorder, disease, finding, root)},
	{"^ (<! 446609009)", ids(mi, pneumonia, asthma)},
	{"< (<! 64572001)", ids(mi, valveStenosis, pneumonia, asthma)},
	{"<< (22298006 OR 56265001)", ids(heartDisease, mi, valveStenosis)},
	{"<! (56265001 OR 19829001)", ids(mi, valveStenosis, pneumonia, asthma)},
	{">! (22298006 OR 233604007)", ids(heartDisease, lungDisorder)},
	{"> (22298006 OR 233604007)", ids(heartDisease, lungDisorder, disease, finding, root)},
	{"!!> (<< 64572001)", ids(disease)},
	{"!!< (<< 56265001)", ids(mi, valveStenosis)},
	{"!!< (^ 700043003 OR 64572001)", ids(mi, pneumonia, asthma)},
	{"<< 56265001 AND ^ 700043003", ids(mi)},
	{"<< 56265001 OR << 19829001", ids(heartDisease, mi, valveStenosis, lungDisorder, pneumonia, asthma)},
	{"<< 64572001 MINUS << 19829001", ids(disease, heartDisease, mi, valveStenosis)},
	{"(<< 64572001 MINUS << 19829001) AND ^ 700043003", ids(mi)},
	{"< 404684003 : 363698007 = << 39057004 |Pulmonary valve structure|", ids(valveStenosis)},
	{"< 404684003 : 363698007 = << 80891009", ids(heartDisease, mi, valveStenosis, asthma)},
	{"< 404684003 : 363698007 = 80891009", ids(heartDisease, mi, asthma)},
	{"< 404684003 : 363698007 != << 80891009", ids(lungDisorder, pneumonia, asthma)},
	{"< 404684003 : [0..0] 363698007 = << 80891009", ids(disease, lungDisorder, pneumonia)},
	{"< 404684003 : [2..*] 363698007 = *", ids(pneumonia, asthma)},
	{"< 404684003 : [1..1] 363698007 = *", ids(heartDisease, mi, valveStenosis, lungDisorder)},
	{"< 404684003 : 363698007 = << 39607008 AND 116676008 = << 55641003", ids(pneumonia)},
	{"< 404684003 : { 363698007 = << 39607008, 116676008 = << 55641003 }", ids(pneumonia)},
	{"< 404684003 : { 363698007 = 39607008, 116676008 = << 55641003 }", nil},
	{"< 404684003 : { 363698007 = << 80891009 }", ids(heartDisease, mi, valveStenosis, asthma)},
	{"< 404684003 : [2..2] { 363698007 = * }", ids(pneumonia, asthma)},
	{"< 404684003 : [0..0] { 116676008 = * }", ids(disease, heartDisease, lungDisorder, asthma)},
	{"< 404684003 : { 363698007 = << 80891009 } OR { 116676008 = << 409774005 }", ids(heartDisease, mi, valveStenosis, asthma, pneumonia)},
	{"< 404684003 : (363698007 = << 80891009 OR 116676008 = << 409774005) AND 116676008 = *", ids(mi, valveStenosis, pneumonia)},
	{"< 404684003 : * = << 55641003", ids(mi, pneumonia)},
	{"< 404684003 : << 246061005 = 39057004", ids(valveStenosis)},
	{"< 71388002 : 363704007 = << 39607008", nil},
	{"< 71388002 : << 363704007 = << 39607008", ids(lungBiopsy)},
	{"< 71388002 : { 260686004 = 129304002, << 363704007 = << 39607008 }", nil},
	{"< 71388002 : 260686004 = 129304002 AND << 363704007 = << 39607008", ids(lungBiopsy)},
	{"< 71388002 : { 260686004 = 129304002, 405813007 = 66754008 }", ids(appendectomy)},
	{"< 123037004 : R 363698007 = *", ids(heart, pulmonaryValve, lung, leftLung)},
	{"< 123037004 : R 363698007 = << 19829001", ids(lung, leftLung, heart)},
	{"< 123037004 : [2..*] R 363698007 = *", ids(heart, lung)},
	{"< 123037004 : [0..0] R 363698007 = *", ids(appendix, morphology, infarct, inflammation, stenosis)},
	{"<< 404684003 . 363698007", ids(heart, pulmonaryValve, lung, leftLung)},
	{"<< 56265001 . 363698007", ids(heart, pulmonaryValve)},
	{"< 404684003 . * ", ids(heart, pulmonaryValve, lung, leftLung, infarct, stenosis, inflammation)},
	{"<< 22298006 . 116676008 . 116680003", ids(morphology)},
	{"(<< 404684003 : 116676008 = << 55641003) . 363698007", ids(heart, lung, leftLung)},
	{"< 404684003 : 116680003 |Is a| = 19829001", ids(pneumonia, asthma)},
	{"< 123037004 : R 116680003 = 44029006", ids(lung)},
	{"< 763158003 : 1142135004 = #500", ids(paracetamol500)},
	{"< 763158003 : 1142135004 = #1000", ids(paracetamol1g)},
	{"< 763158003 : 1142135004 != #500", ids(paracetamol250, paracetamol1g)},
	{"< 763158003 : 1142135004 > #250", ids(paracetamol500, paracetamol1g)},
	{"< 763158003 : 1142135004 >= #250", ids(paracetamol500, paracetamol250, paracetamol1g)},
	{"< 763158003 : 1142135004 < #500.5", ids(paracetamol500, paracetamol250)},
	{"< 763158003 : 1142135004 <= #250", ids(paracetamol250)},
	{"< 763158003 : 9990001 = \"tablet\"", ids(paracetamol500)},
	{"< 763158003 : 9990001 = \"oral \\\"tablet\\\"\"", ids(paracetamol250)},
	{"< 763158003 : 9990001 != \"tablet\"", ids(paracetamol250)},
	{"< 763158003 : 9990002 = true", ids(paracetamol500)},
	{"< 763158003 : 9990002 != true", ids(paracetamol1g)},
	{"< 763158003 : 1142135004 = << 763158003", nil},
	{"< 404684003 : 363698007 = (<< 123037004 : R 363698007 = << 19829001)", ids(heartDisease, mi, lungDisorder, pneumonia, asthma)},
	{"< 64572001 {{ term = \"heart att\" }}", ids(mi)},
	{"< 64572001 {{ term = \"att HEA\" }}", ids(mi)},
	{"< 64572001 {{ term = \"eart\" }}", nil},
	{"< 64572001 {{ term = wild:\"*itis\" }}", nil},
	{"< 64572001 {{ term = wild:\"*infarct*\" }}", ids(mi)},
	{"< 64572001 {{ term = wild:\"disorder of *\" }}", ids(heartDisease, lungDisorder)},
	{"< 64572001 {{ term = (\"asthma\" wild:\"pneu*\") }}", ids(pneumonia, asthma)},
	{"< 64572001 {{ term = \"disorder\", term != \"lung\" }}", ids(heartDisease)},
	{"< 64572001 {{ term = \"heart\" }} {{ term = \"cardiac\" }}", ids(mi)},
	{"< 64572001 {{ term = \"heart\", term = \"cardiac\" }}", nil},
	{"< 64572001 {{ C active = true }}", ids(heartDisease, mi, valveStenosis, lungDisorder, pneumonia, asthma)},
	{"< 64572001 {{ C active = false }}", nil},
	{"< 64572001 {{ term = \"lung\" }} : 363698007 = *", ids(lungDisorder, pneumonia)},
	{"* : 260686004 = *", ids(appendectomy, lungBiopsy)},
	{"* {{ term = \"tablet\" }} MINUS * {{ term = \"500\" }}", ids(paracetamol250, paracetamol1g)},
}

func TestEvaluate(t *testing.T) {
	g := toyGraph()
	ctx := context.Background()
	var all []uint64
	g.All(func(id uint64) bool { all = append(all, id); return true })
	all = append(all, 99999999, 1234567) // not active concepts
	for _, tc := range evalCases {
		e, err := Parse(tc.ecl)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.ecl, err)
			continue
		}
		s, err := e.Evaluate(ctx, g)
		if err != nil {
			t.Errorf("Evaluate(%q): %v", tc.ecl, err)
			continue
		}
		if got := s.IDs(); !slices.Equal(got, tc.want) {
			t.Errorf("Evaluate(%q) = %v, want %v", tc.ecl, got, tc.want)
		}
		// Matches must agree with the expansion on every concept.
		for _, id := range all {
			m, err := e.Matches(ctx, g, id)
			if err != nil {
				t.Errorf("Matches(%q, %d): %v", tc.ecl, id, err)
				break
			}
			if m != s.Contains(id) {
				t.Errorf("Matches(%q, %d) = %v, but the expansion says %v", tc.ecl, id, m, s.Contains(id))
			}
		}
	}
}

func TestEvaluateErrors(t *testing.T) {
	g := toyGraph()
	e := MustParse("< 123037004 : R * = *")
	_, err := e.Evaluate(context.Background(), g)
	var pe *Error
	if !errors.As(err, &pe) || !pe.Unsupported || !strings.Contains(pe.Msg, "R *") {
		t.Errorf("reverse wildcard: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := MustParse("<< 138875005").Evaluate(ctx, g); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled evaluation: %v", err)
	}
}

func TestSet(t *testing.T) {
	s := NewSet([]uint64{5, 3, 9, 3, 1})
	if !slices.Equal(s.IDs(), []uint64{1, 3, 5, 9}) || s.Len() != 4 {
		t.Fatalf("NewSet = %v", s.IDs())
	}
	if !s.Contains(5) || s.Contains(4) || s.Contains(10) || (Set{}).Contains(1) {
		t.Error("Contains")
	}
	var seen []uint64
	s.Each(func(id uint64) bool { seen = append(seen, id); return id < 3 })
	if !slices.Equal(seen, []uint64{1, 3}) {
		t.Errorf("Each stopped at %v", seen)
	}
	b := NewSet([]uint64{3, 4, 9, 11})
	if got := union(s, b).IDs(); !slices.Equal(got, []uint64{1, 3, 4, 5, 9, 11}) {
		t.Errorf("union = %v", got)
	}
	if got := intersect(s, b).IDs(); !slices.Equal(got, []uint64{3, 9}) {
		t.Errorf("intersect = %v", got)
	}
	if got := minus(s, b).IDs(); !slices.Equal(got, []uint64{1, 5}) {
		t.Errorf("minus = %v", got)
	}
	big := make([]uint64, 1000)
	for i := range big {
		big[i] = uint64(i * 2)
	}
	if got := intersect(NewSet([]uint64{4, 5, 1998}), NewSet(big)).IDs(); !slices.Equal(got, []uint64{4, 1998}) {
		t.Errorf("probing intersect = %v", got)
	}
}

func TestWildMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*itis", "appendicitis", true},
		{"*itis", "itis", true},
		{"*itis", "appendicitis acute", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"*", "", true},
		{"abc", "abc", true},
		{"ab", "abc", false},
	} {
		if got := wildMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("wildMatch(%q, %q) = %v", tc.pattern, tc.s, got)
		}
	}
}

func TestEvaluateIsAWithWildcard(t *testing.T) {
	g := toyGraph()
	// The explicit |Is a| brings in parents; the wildcard beside it must not count them.
	e := MustParse("< 404684003 : 116680003 = 19829001 AND [0..0] * = *")
	s, err := e.Evaluate(context.Background(), g)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 0 {
		t.Errorf("got %v, want none (pneumonia and asthma have finding sites)", s.IDs())
	}
	e = MustParse("< 404684003 : 116680003 = 64572001 AND [0..0] * = *")
	if s, _ = e.Evaluate(context.Background(), g); !slices.Equal(s.IDs(), nil) {
		t.Errorf("got %v", s.IDs())
	}
}

type memberTesterGraph struct {
	*MemoryGraph
	asked int
}

func (m *memberTesterGraph) IsMember(refset, id uint64) bool {
	m.asked++
	return slices.Contains(m.Members(refset), id)
}

func TestMatchesUsesMemberTester(t *testing.T) {
	g := &memberTesterGraph{MemoryGraph: toyGraph()}
	e := MustParse("<< 56265001 AND ^ 700043003")
	for id, want := range map[uint64]bool{mi: true, valveStenosis: false, pneumonia: false} {
		got, err := e.Matches(context.Background(), g, id)
		if err != nil || got != want {
			t.Errorf("Matches(%d) = %v, %v; want %v", id, got, err, want)
		}
	}
	if g.asked != 2 {
		t.Errorf("IsMember asked %d times, want 2", g.asked)
	}
}

// Every specification example that parses must also evaluate, and Matches must agree
// with the expansion on every concept of the toy edition.
func TestMatchesAgreesOnSpecExamples(t *testing.T) {
	g := toyGraph()
	ctx := context.Background()
	var all []uint64
	g.All(func(id uint64) bool { all = append(all, id); return true })
	for _, tc := range validExpressions {
		e := MustParse(tc.in)
		s, err := e.Evaluate(ctx, g)
		if err != nil {
			t.Errorf("Evaluate(%q): %v", tc.in, err)
			continue
		}
		for _, id := range all {
			m, err := e.Matches(ctx, g, id)
			if err != nil || m != s.Contains(id) {
				t.Errorf("Matches(%q, %d) = %v, %v; expansion says %v", tc.in, id, m, err, s.Contains(id))
			}
		}
	}
}

func TestConcurrentEvaluation(t *testing.T) {
	g := toyGraph()
	e := MustParse("(< 404684003 : { 363698007 = << 39607008, 116676008 = << 55641003 }) OR ^ 700043003")
	done := make(chan []uint64)
	for range 4 {
		go func() {
			s, _ := e.Evaluate(context.Background(), g)
			_, _ = e.Matches(context.Background(), g, pneumonia)
			done <- s.IDs()
		}()
	}
	for range 4 {
		if got := <-done; !slices.Equal(got, ids(mi, pneumonia, asthma)) {
			t.Errorf("got %v", got)
		}
	}
}
