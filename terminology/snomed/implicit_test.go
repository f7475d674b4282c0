package snomed

import (
	"errors"
	"net/url"
	"slices"
	"sync"
	"testing"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/terminology"
	"github.com/concord-health/concord/terminology/ecl"
)

// implicitService holds the mini release plus testdata/implicit: a simple refset concept
// 450970008 with 404684003 and 362969004 as active members and 113331007 as an inactive one.
func implicitService(t *testing.T) *terminology.Service {
	t.Helper()
	e := load(t, Options{}, fixture(t, "dummy-snomed-content/SnomedCT_MiniRF2"), "testdata/implicit")
	ts := terminology.New()
	ts.AddProvider(NewProvider(e))
	return ts
}

// refinedECL is clinical findings with a finding site of the endocrine system structure.
const refinedECL = "<< 404684003 |Clinical finding| : 363698007 |Finding site| = 113331007"

func TestImplicitValidateCode(t *testing.T) {
	ts := implicitService(t)
	ctx := t.Context()
	const sct = System + "?fhir_vs"
	for _, tc := range []struct {
		vs, code     string
		valid, known bool
	}{
		{sct, "113331007", true, true},
		{sct, "999999999", false, true},
		{sct + "=isa/404684003", "404684003", true, true},
		{sct + "=isa/404684003", "362969004", true, true},
		{sct + "=isa/404684003", "113331007", false, true},
		{sct + "=isa/999999999", "404684003", false, true},
		{sct + "=refset/450970008", "362969004", true, true},
		{sct + "=refset/450970008", "113331007", false, true}, // inactive member
		{sct + "=refset", "450970008", true, true},
		{sct + "=refset", "404684003", false, true},
		{sct + "=ecl/" + refinedECL, "362969004", true, true},
		{sct + "=ecl/" + refinedECL, "404684003", false, true},
		{sct + "=ecl/" + url.PathEscape(refinedECL), "362969004", true, true},
		{sct + "=ecl/^ 450970008 AND << 362969004", "362969004", true, true},
		{sct + "=ecl/<< 404684003 :", "362969004", false, false}, // invalid ECL
		{sct + "=isa/abc", "362969004", false, false},
		{sct + "=nonsense/1", "362969004", false, false},
		{System + "/900000000000207008/version/20210131?fhir_vs=isa/404684003", "362969004", true, true},
		{System + "/900000000000207008?fhir_vs=isa/404684003", "362969004", true, true},
		{System + "/900000000000207008/version/20990101?fhir_vs=isa/404684003", "362969004", false, false},
		{System + "/83821000000107?fhir_vs=isa/404684003", "362969004", false, false}, // UK edition not held
	} {
		r := ts.ValidateCode(ctx, tc.vs, terminology.Coding{System: System, Code: tc.code})
		if r.Valid != tc.valid || r.Known != tc.known {
			t.Errorf("ValidateCode(%s, %s) = %+v, want valid %v known %v", tc.vs, tc.code, r, tc.valid, tc.known)
		}
		if tc.valid && r.Display == "" {
			t.Errorf("ValidateCode(%s, %s) has no display", tc.vs, tc.code)
		}
	}
	r := ts.ValidateCodeableConcept(ctx, sct+"=isa/404684003", []terminology.Coding{
		{System: "http://example.org", Code: "x"}, {System: System, Code: "362969004"}})
	if !r.Valid {
		t.Errorf("ValidateCodeableConcept = %+v", r)
	}
}

func TestImplicitExpand(t *testing.T) {
	ts := implicitService(t)
	ctx := t.Context()
	const sct = System + "?fhir_vs"
	for _, tc := range []struct {
		vs    string
		opts  terminology.ExpandOptions
		total int
		codes []string // the page, in order when the set is in SCTID order
		err   error
	}{
		{vs: sct + "=isa/404684003", total: 2, codes: []string{"404684003", "362969004"}},
		{vs: sct + "=isa/404684003", opts: terminology.ExpandOptions{Offset: 1, Count: 1}, total: 2, codes: []string{"362969004"}},
		{vs: sct + "=isa/404684003", opts: terminology.ExpandOptions{Filter: "endocrine"}, total: 1, codes: []string{"362969004"}},
		{vs: sct + "=refset/450970008", total: 2, codes: []string{"404684003", "362969004"}},
		{vs: sct + "=refset", total: 1, codes: []string{"450970008"}},
		{vs: sct + "=ecl/" + url.PathEscape(refinedECL), total: 1, codes: []string{"362969004"}},
		{vs: sct + "=ecl/< 138875005 MINUS << 900000000000441003", total: 3, codes: []string{"113331007", "362969004", "404684003"}},
		{vs: sct, err: terminology.ErrNotEnumerable},
		{vs: sct + "=ecl/<<", err: terminology.ErrInvalidValueSet},
		{vs: "http://snomed.info/sct/83821000000107?fhir_vs", err: terminology.ErrUnknownValueSet},
	} {
		x, err := ts.Expand(ctx, tc.vs, tc.opts)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("Expand(%s) = %v, want %v", tc.vs, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Expand(%s): %v", tc.vs, err)
			continue
		}
		var codes []string
		for _, c := range x.Contains {
			codes = append(codes, c.Code)
			if c.System != System || c.Display == "" {
				t.Errorf("Expand(%s) entry %+v", tc.vs, c)
			}
		}
		if x.Total != tc.total || !sameCodes(codes, tc.codes) {
			t.Errorf("Expand(%s, %+v) = total %d %v, want %d %v", tc.vs, tc.opts, x.Total, codes, tc.total, tc.codes)
		}
	}
	if info, ok := ts.ValueSet(sct + "=isa/404684003"); !ok || info.Version != "http://snomed.info/sct/900000000000207008/version/20210131" {
		t.Errorf("ValueSet(isa) = %+v, %v", info, ok)
	}
}

// sameCodes compares pages as sets: an is-a listing follows the hierarchy walk.
func sameCodes(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestImplicitInvalidECL(t *testing.T) {
	ts := implicitService(t)
	for _, tc := range []struct {
		ecl    string
		offset int
	}{
		{"<< 404684003 :", 14},
		{"<< 404684003 AND (", 18},
		{"<< 404684003 )", 13},
	} {
		vs := System + "?fhir_vs=ecl/" + url.PathEscape(tc.ecl)
		_, err := ts.Expand(t.Context(), vs, terminology.ExpandOptions{})
		var ee *ecl.Error
		if !errors.Is(err, terminology.ErrInvalidValueSet) || !errors.As(err, &ee) || ee.Offset != tc.offset {
			t.Errorf("Expand(%q) = %v, want an ECL error at %d", tc.ecl, err, tc.offset)
		}
		if err := ts.CheckValueSet(t.Context(), vs); !errors.Is(err, terminology.ErrInvalidValueSet) {
			t.Errorf("CheckValueSet(%q) = %v", tc.ecl, err)
		}
	}
	if err := ts.CheckValueSet(t.Context(), System+"?fhir_vs=isa/404684003"); err != nil {
		t.Errorf("CheckValueSet(valid) = %v", err)
	}
}

// Without a SNOMED CT provider an implicit value set is unknown, and adding one later
// drops the cached answer.
func TestImplicitWithoutProvider(t *testing.T) {
	ts := terminology.New()
	ctx := t.Context()
	vs := System + "?fhir_vs=isa/404684003"
	if r := ts.ValidateCode(ctx, vs, terminology.Coding{System: System, Code: "362969004"}); r.Known {
		t.Errorf("ValidateCode without SNOMED CT = %+v", r)
	}
	if _, err := ts.Expand(ctx, vs, terminology.ExpandOptions{}); !errors.Is(err, terminology.ErrUnknownValueSet) {
		t.Errorf("Expand without SNOMED CT = %v", err)
	}
	if _, ok := ts.ValueSet(vs); ok {
		t.Error("ValueSet found without SNOMED CT")
	}
	ts.AddProvider(NewProvider(load(t, Options{}, fixture(t, "dummy-snomed-content/SnomedCT_MiniRF2"))))
	if r := ts.ValidateCode(ctx, vs, terminology.Coding{System: System, Code: "362969004"}); !r.Valid {
		t.Errorf("ValidateCode after AddProvider = %+v", r)
	}
}

// A ValueSet resource selecting by ECL (filter property constraint) and including an
// implicit value set.
func TestConstraintFilter(t *testing.T) {
	ts := implicitService(t)
	ctx := t.Context()
	for _, tc := range []struct {
		name, body string
		total      int
		in, out    string
	}{
		{"constraint", `{"resourceType":"ValueSet","url":"http://example.org/vs/endocrine","status":"active",
		  "compose":{"include":[{"system":"http://snomed.info/sct","filter":[{"property":"constraint","op":"=","value":"` + refinedECL + `"}]}]}}`,
			1, "362969004", "404684003"},
		{"constraint and concept", `{"resourceType":"ValueSet","url":"http://example.org/vs/both","status":"active",
		  "compose":{"include":[{"system":"http://snomed.info/sct","filter":[{"property":"constraint","op":"=","value":"<< 138875005"},{"property":"concept","op":"is-a","value":"404684003"}]}]}}`,
			2, "404684003", "113331007"},
		{"no expressions", `{"resourceType":"ValueSet","url":"http://example.org/vs/noexpr","status":"active",
		  "compose":{"include":[{"system":"http://snomed.info/sct","filter":[{"property":"concept","op":"is-a","value":"404684003"},{"property":"expressions","op":"=","value":"false"}]}]}}`,
			2, "362969004", "113331007"},
		{"implicit included", `{"resourceType":"ValueSet","url":"http://example.org/vs/included","status":"active",
		  "compose":{"include":[{"valueSet":["http://snomed.info/sct?fhir_vs=refset/450970008"]}],
		    "exclude":[{"system":"http://snomed.info/sct","concept":[{"code":"404684003"}]}]}}`,
			1, "362969004", "404684003"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := fhir.Parse([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if err := ts.Add(res); err != nil {
				t.Fatal(err)
			}
			url := res.Root.Text("url")
			x, err := ts.Expand(ctx, url, terminology.ExpandOptions{})
			if err != nil || x.Total != tc.total {
				t.Fatalf("Expand = %+v, %v; want %d", x, err, tc.total)
			}
			if r := ts.ValidateCode(ctx, url, terminology.Coding{System: System, Code: tc.in}); !r.Valid {
				t.Errorf("ValidateCode(%s) = %+v", tc.in, r)
			}
			if r := ts.ValidateCode(ctx, url, terminology.Coding{System: System, Code: tc.out}); r.Valid || !r.Known {
				t.Errorf("ValidateCode(%s) = %+v", tc.out, r)
			}
		})
	}
	p := NewProvider(load(t, Options{}, fixture(t, "dummy-snomed-content/SnomedCT_MiniRF2")))
	for _, tc := range []struct {
		property, op, value string
		want                error
	}{
		{"constraint", "=", "<< 404684003 :", terminology.ErrInvalidValueSet},
		{"constraint", "is-a", "404684003", terminology.ErrUnsupportedFilter},
		{"expression", "=", "404684003", terminology.ErrUnsupportedFilter},
		{"expressions", "=", "true", terminology.ErrUnsupportedFilter},
		{"expressions", "=", "false", nil},
	} {
		if _, err := p.Filter(ctx, tc.property, tc.op, tc.value); !errors.Is(err, tc.want) {
			t.Errorf("Filter(%s %s %s) = %v, want %v", tc.property, tc.op, tc.value, err, tc.want)
		}
	}
}

// Codes are checked while the same ECL value set is first expanded: matching switches from
// per-code evaluation to the expanded set without a race.
func TestImplicitConcurrent(t *testing.T) {
	ts := implicitService(t)
	vs := System + "?fhir_vs=ecl/" + url.PathEscape(refinedECL)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if i%2 == 0 {
				if x, err := ts.Expand(t.Context(), vs, terminology.ExpandOptions{}); err != nil || x.Total != 1 {
					t.Errorf("Expand = %+v, %v", x, err)
				}
				return
			}
			if r := ts.ValidateCode(t.Context(), vs, terminology.Coding{System: System, Code: "362969004"}); !r.Valid {
				t.Errorf("ValidateCode = %+v", r)
			}
		})
	}
	wg.Wait()
}
