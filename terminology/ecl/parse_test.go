package ecl

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

var fuzzGraph = sync.OnceValue(toyGraph)

// Valid expressions, most from the ECL specification's examples, with their canonical
// brief form ("" when it is the input unchanged).
var validExpressions = []struct{ in, want string }{
	{"404684003 |Clinical finding|", ""},
	{"<  404684003 |Clinical finding|", "< 404684003 |Clinical finding|"},
	{"<< 73211009 |Diabetes mellitus|", ""},
	{"<! 404684003 |Clinical finding|", ""},
	{"<<! 404684003 |Clinical finding|", ""},
	{"> 40541001 |Acute pulmonary edema|", ""},
	{">> 40541001 |Acute pulmonary edema|", ""},
	{">! 40541001 |Acute pulmonary edema|", ""},
	{">>! 40541001 |Acute pulmonary edema|", ""},
	{"!!> (<< 404684003)", ""},
	{"!!< (<< 404684003)", ""},
	{"^ 700043003 |Example problem list concepts reference set|", ""},
	{"<< ^ 700043003", "<< ^ 700043003"},
	{"^ (< 446609009 |Simple type reference set|)", ""},
	{"*", ""},
	{"<< *", ""},
	{"ANY", "*"},
	{"descendantOf 404684003", "< 404684003"},
	{"DESCENDANTORSELFOF 404684003", "<< 404684003"},
	{"childOf 404684003", "<! 404684003"},
	{"childOrSelfOf 404684003", "<<! 404684003"},
	{"ancestorOf 404684003", "> 404684003"},
	{"ancestorOrSelfOf 404684003", ">> 404684003"},
	{"parentOf 404684003", ">! 404684003"},
	{"parentOrSelfOf 404684003", ">>! 404684003"},
	{"memberOf 700043003", "^ 700043003"},
	{"descendantOrSelfOf memberOf 700043003", "<< ^ 700043003"},
	{"< 19829001 |Disorder of lung| AND < 301867009 |Edema of trunk|", ""},
	{"< 19829001 |Disorder of lung| and < 301867009", "< 19829001 |Disorder of lung| AND < 301867009"},
	{"< 19829001 , < 301867009", "< 19829001 AND < 301867009"},
	{"< 19829001 OR < 301867009 OR < 195967001", ""},
	{"<< 19829001 MINUS << 301867009", ""},
	{"(< 19829001 AND < 301867009) OR < 195967001", ""},
	{"< 19829001 AND (< 301867009 OR < 195967001)", ""},
	{"((<< 19829001))", "<< 19829001"},
	{"< 404684003 |Clinical finding| : 363698007 |Finding site| = << 39057004 |Pulmonary valve structure|", ""},
	{"< 404684003 : 363698007 = << 39057004 , 116676008 = << 415582006", "< 404684003 : 363698007 = << 39057004 AND 116676008 = << 415582006"},
	{"< 404684003 : 363698007 = << 39057004 OR 116676008 = << 415582006", ""},
	{"< 404684003 : { 363698007 = << 39057004, 116676008 = << 415582006 }", "< 404684003 : { 363698007 = << 39057004 AND 116676008 = << 415582006 }"},
	{"< 404684003 : { 363698007 = << 39057004 } OR { 116676008 = << 415582006 }", ""},
	{"< 404684003 : [1..3] { 363698007 = << 39057004 }", ""},
	{"< 404684003 : [0..0] { [2..*] 363698007 = << 39057004 }", ""},
	{"< 373873005 |Pharmaceutical / biologic product| : [1..3] 127489000 |Has active ingredient| = < 105590001 |Substance|", ""},
	{"< 404684003 : [0..1] 363698007 = *", ""},
	{"< 404684003 : [0 .. *] 363698007 = *", "< 404684003 : [0..*] 363698007 = *"},
	{"< 105590001 |Substance| : R 127489000 |Has active ingredient| = *", ""},
	{"< 105590001 : reverseOf 127489000 = *", "< 105590001 : R 127489000 = *"},
	{"<< 404684003 : << 47429007 |Associated with| = << 267038008 |Edema|", ""},
	{"< 404684003 : * = 79654002 |Edema|", ""},
	{"< 404684003 : 116676008 != << 26036001 |Obstruction|", ""},
	{"< 404684003 : (363698007 = << 39057004 OR 116676008 = << 415582006) AND 246075003 = *", ""},
	{"< 404684003 : (<< 363698007) = << 39057004", "< 404684003 : << 363698007 = << 39057004"},
	{"< 404684003 : 363698007 = (<< 39057004 OR << 80891009)", ""},
	{"< 404684003 : 363698007 = (<< 123037004 : 272741003 |Laterality| = 7771000 |Left|)", ""},
	{"<< 404684003 . 363698007", ""},
	{"<  91723000 |Anatomical structure| . < 47429007", "< 91723000 |Anatomical structure| . < 47429007"},
	{"(<< 404684003 : 363698007 = *) . 363698007", ""},
	{"<< 19829001 . 363698007 . 272741003", ""},
	{"< 27658006 |Amoxicillin| : 411116001 |Has dose form| = << 385055001, 1142135004 >= #250, 1142135004 < #800.5", "< 27658006 |Amoxicillin| : 411116001 |Has dose form| = << 385055001 AND 1142135004 >= #250 AND 1142135004 < #800.5"},
	{"< 763158003 : 1142139005 = #-1", ""},
	{"< 763158003 : 1142139005 != #+2", "< 763158003 : 1142139005 != #+2"},
	{"< 763158003 : 9990001 = \"oral\"", ""},
	{"< 763158003 : 9990001 != \"say \\\"hi\\\"\"", ""},
	{"< 763158003 : 9990002 = TRUE", "< 763158003 : 9990002 = true"},
	{"< 64572001 |Disease| {{ term = \"heart att\" }}", ""},
	{"< 64572001 {{ D term = match:\"heart\" }}", "< 64572001 {{ term = \"heart\" }}"},
	{"< 64572001 {{ term = wild:\"*itis\" }}", ""},
	{"< 64572001 {{ term = (\"heart\" wild:\"card*\") }}", ""},
	{"< 64572001 {{ term != \"heart\" }} {{ term = \"disease\" }}", ""},
	{"< 64572001 {{ term = \"heart\", term = \"disease\" }}", ""},
	{"< 64572001 {{ C active = 1 }}", "< 64572001 {{ C active = true }}"},
	{"< 64572001 {{ c active != true }}", "< 64572001 {{ C active = false }}"},
	{"/* finding */ < 404684003 /* any */ : /* site */ 363698007 = *", "< 404684003 : 363698007 = *"},
	{"\n\t<<\n404684003\n", "<< 404684003"},
	{"< (<< 19829001 MINUS 233604007)", ""},
	{"^ (<< 19829001)", ""},
}

func TestParseValid(t *testing.T) {
	for _, tc := range validExpressions {
		e, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		want := tc.want
		if want == "" {
			want = tc.in
		}
		got := e.String()
		if got != want {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.in, got, want)
			continue
		}
		again, err := Parse(got)
		if err != nil {
			t.Errorf("reparse %q: %v", got, err)
			continue
		}
		if again.String() != got {
			t.Errorf("round trip of %q gave %q", got, again.String())
		}
	}
}

func TestParseStructure(t *testing.T) {
	e := MustParse("< 404684003 |Clinical finding| : [1..3] R 363698007 = << 39057004")
	if e.Kind != KindRefined || e.Left.Kind != KindHierarchy || e.Left.Op != DescendantOf {
		t.Fatalf("unexpected tree %+v", e)
	}
	if e.Left.Left.Concept != 404684003 || e.Left.Left.Term != "Clinical finding" {
		t.Errorf("focus = %+v", e.Left.Left)
	}
	a := e.Refinement.Attribute
	if e.Refinement.Kind != RefAttribute || !a.Reverse || a.Card != (Cardinality{Set: true, Min: 1, Max: 3}) {
		t.Errorf("attribute = %+v", a)
	}
	if a.Name.Concept != 363698007 || a.Value.Kind != KindHierarchy || a.Value.Op != DescendantOrSelfOf {
		t.Errorf("attribute name/value = %+v / %+v", a.Name, a.Value)
	}
	n := MustParse("< 763158003 : 1142135004 >= #2.5").Refinement.Attribute
	if n.Kind != ValueNumber || n.Number != 2.5 || n.Op != GreaterOrEqual {
		t.Errorf("numeric attribute = %+v", n)
	}
	if e := MustParse("  << 404684003"); e.Pos != 2 || e.Left.Pos != 5 {
		t.Errorf("positions = %d, %d", e.Pos, e.Left.Pos)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		in     string
		offset int
		msg    string
	}{
		{"", 0, "expected an expression constraint"},
		{"   ", 3, "expected an expression constraint"},
		{"<", 1, "expected a concept reference, '*' or '('"},
		{"< 404684003 AND", 15, "expected a concept reference, '*' or '('"},
		{"< 404684003 AND <", 17, "expected a concept reference, '*' or '('"},
		{"<< 12345", 3, "6 to 18 digits"},
		{"<< 0404684003", 3, "6 to 18 digits"},
		{"<< 1234567890123456789", 3, "6 to 18 digits"},
		{"<< 404684003x", 12, "only of digits"},
		{"<< 404684003 |Clinical finding", 13, "expected '|' to close the term"},
		{"<< 404684003 ||", 13, "expected a term"},
		{"(<< 404684003", 13, "expected ')' to close the '(' at 0"},
		{"<< 404684003)", 12, "unbalanced ')'"},
		{"<< 404684003 404684003", 13, "expected AND, OR, MINUS"},
		{"< 19829001 AND < 301867009 OR < 195967001", 27, "needs brackets"},
		{"< 19829001 OR < 301867009 MINUS < 195967001", 26, "needs brackets"},
		{"< 19829001 MINUS < 301867009 MINUS < 195967001", 29, "needs brackets"},
		{"< 19829001 OR < 301867009 : 363698007 = *", 26, "needs brackets"},
		{"<< < 404684003", 3, "second constraint operator"},
		{"< 404684003 :", 13, "expected an attribute name"},
		{"< 404684003 : 363698007", 23, "expected a comparison operator"},
		{"< 404684003 : 363698007 =", 25, "expected a concept reference, '*' or '('"},
		{"< 404684003 : 363698007 = * AND 116676008 = * OR 246075003 = *", 46, "mixing AND and OR"},
		{"< 404684003 : 363698007 = * MINUS 116676008 = *", 28, "MINUS is not allowed"},
		{"< 404684003 : { 363698007 = *", 29, "expected '}' to close the attribute group at 14"},
		{"< 404684003 : { { 363698007 = * } }", 16, "cannot be nested"},
		{"< 404684003 : [1..] 363698007 = *", 18, "expected a maximum cardinality"},
		{"< 404684003 : [3..1] 363698007 = *", 14, "minimum exceeds"},
		{"< 404684003 : [1,3] 363698007 = *", 16, "expected '..'"},
		{"< 404684003 : 363698007 < << 39057004", 24, "compares only numbers"},
		{"< 404684003 : 363698007 >= \"x\"", 24, "compares only numbers"},
		{"< 763158003 : 1142135004 = #", 28, "expected a number"},
		{"< 763158003 : 1142135004 = #1.", 30, "expected digits"},
		{"< 763158003 : 9990001 = \"oral", 24, "expected '\"' to close the string"},
		{"< 763158003 : R 9990001 = #5", 26, "reverse attribute"},
		{"< 64572001 {{ term = \"heart\"", 28, "expected ',' or '}}'"},
		{"< 64572001 {{ term \"heart\" }}", 19, "expected '=' or '!='"},
		{"< 64572001 {{ term = heart }}", 21, "expected a quoted search term"},
		{"< 64572001 {{ term = \" \" }}", 21, "cannot be empty"},
		{"< 64572001 {{ colour = \"red\" }}", 14, "unknown description filter 'colour'"},
		{"< 64572001 {{ C active = maybe }}", 25, "expected true, false, 1 or 0"},
		{"/* unterminated", 0, "unterminated comment"},
		{"descendentOf 404684003", 0, "unknown keyword 'descendentOf'"},
		{"<< 404684003 AND NOT << 19829001", 17, "unknown keyword 'NOT'"},
		{"< 404684003 : 363698007 = * . 363698007", 28, "expected AND, OR or the end"},
		{"<< 404684003 . 363698007 AND 123037004", 25, "expected '.' or the end"},
		{"<< 404684003 OR 123037004 : 363698007 = *", 26, "needs brackets"},
		{"<< 404684003 MINUS 123037004 404684003", 29, "expected the end"},
		{"< 404684003 : (363698007 = *", 28, "expected ')'"},
	} {
		_, err := Parse(tc.in)
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q) = %v, want an *Error", tc.in, err)
			continue
		}
		if pe.Offset != tc.offset || !strings.Contains(pe.Msg, tc.msg) || pe.Unsupported {
			t.Errorf("Parse(%q) = %q (offset %d, unsupported %v), want offset %d and %q", tc.in, pe.Error(), pe.Offset, pe.Unsupported, tc.offset, tc.msg)
		}
	}
}

func TestParseUnsupported(t *testing.T) {
	for _, tc := range []struct {
		in      string
		offset  int
		feature string
	}{
		{"^ [referencedComponentId] 700043003", 2, "reference set field selection"},
		{"^R 700043003", 0, "reference sets containing any"},
		{"^ *", 0, "members of any reference set"},
		{"<< 195967001 {{ +HISTORY-MIN }}", 16, "history supplements"},
		{"^ 447562003 {{ M mapTarget = \"J45.9\" }}", 15, "member filters"},
		{"< 64572001 {{ term = \"heart\", language = en }}", 30, "description filter 'language'"},
		{"< 64572001 {{ dialect = en-gb }}", 14, "description filter 'dialect'"},
		{"< 64572001 {{ type = syn }}", 14, "description filter 'type'"},
		{"< 64572001 {{ C definitionStatus = primitive }}", 16, "concept filter 'definitionStatus'"},
		{"< 64572001 {{ C moduleId = 900000000000207008 }}", 16, "concept filter 'moduleId'"},
		{"LOINC#54486-6", 0, "alternate identifiers"},
		{"\"http://loinc.org#54486-6\"", 0, "alternate identifiers"},
		{"< 404684003 : 363698007 = ^ [targetComponentId] 700043003", 28, "reference set field selection"},
	} {
		_, err := Parse(tc.in)
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q) = %v, want an *Error", tc.in, err)
			continue
		}
		if !pe.Unsupported || pe.Offset != tc.offset || !strings.Contains(pe.Msg, "not supported: "+tc.feature) {
			t.Errorf("Parse(%q) = %q (offset %d, unsupported %v), want offset %d and %q", tc.in, pe.Error(), pe.Offset, pe.Unsupported, tc.offset, tc.feature)
		}
	}
}

func TestParseDeepNesting(t *testing.T) {
	src := strings.Repeat("(", 10000) + "404684003" + strings.Repeat(")", 10000)
	_, err := Parse(src)
	var pe *Error
	if !errors.As(err, &pe) || !strings.Contains(pe.Msg, "nested too deeply") {
		t.Errorf("deep nesting: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range validExpressions {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Parse(src)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Offset < 0 || pe.Offset > len(src) {
				t.Fatalf("Parse(%q): bad error %v", src, err)
			}
			return
		}
		printed := e.String()
		again, err := Parse(printed)
		if err != nil {
			t.Fatalf("reparse of %q (from %q): %v", printed, src, err)
		}
		if again.String() != printed {
			t.Fatalf("round trip of %q gave %q", printed, again.String())
		}
		// Whatever parses evaluates without panicking, and Matches agrees with it.
		g := fuzzGraph()
		s, err := e.Evaluate(context.Background(), g)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || !pe.Unsupported {
				t.Fatalf("Evaluate(%q): %v", src, err)
			}
			return
		}
		g.All(func(id uint64) bool {
			if m, err := e.Matches(context.Background(), g, id); err != nil || m != s.Contains(id) {
				t.Fatalf("Matches(%q, %d) = %v, %v; expansion says %v", src, id, m, err, s.Contains(id))
			}
			return true
		})
	})
}
