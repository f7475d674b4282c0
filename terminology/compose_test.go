package terminology

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/concord-health/concord/fhir"
)

// body is a small code system with a hierarchy given both by nesting and by the parent and
// child properties, and a few properties to filter on.
const body = `{"resourceType":"CodeSystem","url":"http://example.org/cs/body","version":"1","status":"active",
	"content":"complete","caseSensitive":false,"hierarchyMeaning":"is-a",
	"property":[{"code":"parent","type":"code"},{"code":"child","type":"code"},{"code":"colour","type":"string"},
		{"code":"status","type":"code"},{"code":"notSelectable","type":"boolean"}],
	"concept":[
		{"code":"limb","display":"Limb","concept":[
			{"code":"arm","display":"Arm","property":[{"code":"colour","valueString":"red"}],
				"concept":[{"code":"hand","display":"Hand"}]},
			{"code":"leg","display":"Leg","property":[{"code":"colour","valueString":"blue"}]}]},
		{"code":"foot","display":"Foot","property":[{"code":"parent","valueCode":"leg"}]},
		{"code":"head","display":"Head","property":[{"code":"child","valueCode":"eye"}]},
		{"code":"eye","display":"Eye","property":[{"code":"status","valueCode":"retired"}]},
		{"code":"grouper","display":"Grouper","property":[{"code":"notSelectable","valueBoolean":true}]}]}`

const bodyURL = "http://example.org/cs/body"

func TestFilters(t *testing.T) {
	s := New()
	add(t, s, body)
	include := func(filters string) string {
		return fmt.Sprintf(`{"include":[{"system":%q,"filter":%s}]}`, bodyURL, filters)
	}
	tests := []struct {
		name, compose string
		want          []string
	}{
		{"whole system", `{"include":[{"system":"` + bodyURL + `"}]}`, []string{"limb", "arm", "hand", "leg", "foot", "head", "eye", "grouper"}},
		{"listed", `{"include":[{"system":"` + bodyURL + `","concept":[{"code":"EYE"},{"code":"arm"},{"code":"nope"}]}]}`, []string{"eye", "arm"}},
		{"is-a", include(`[{"property":"concept","op":"is-a","value":"limb"}]`), []string{"limb", "arm", "hand", "leg", "foot"}},
		{"is-a, code in other case", include(`[{"property":"concept","op":"is-a","value":"LEG"}]`), []string{"leg", "foot"}},
		{"descendent-of", include(`[{"property":"concept","op":"descendent-of","value":"limb"}]`), []string{"arm", "hand", "leg", "foot"}},
		{"is-not-a", include(`[{"property":"concept","op":"is-not-a","value":"limb"}]`), []string{"head", "eye", "grouper"}},
		{"generalizes", include(`[{"property":"concept","op":"generalizes","value":"foot"}]`), []string{"limb", "leg", "foot"}},
		{"is-a unknown code", include(`[{"property":"concept","op":"is-a","value":"tail"}]`), nil},
		{"child property", include(`[{"property":"concept","op":"is-a","value":"head"}]`), []string{"head", "eye"}},
		{"= property", include(`[{"property":"colour","op":"=","value":"red"}]`), []string{"arm"}},
		{"in codes", include(`[{"property":"concept","op":"in","value":"arm, leg"}]`), []string{"arm", "leg"}},
		{"not-in codes", include(`[{"property":"concept","op":"not-in","value":"arm,leg,limb,hand"}]`), []string{"foot", "head", "eye", "grouper"}},
		{"regex", include(`[{"property":"code","op":"regex","value":"[a-z]{3}"}]`), []string{"arm", "leg", "eye"}},
		{"exists", include(`[{"property":"colour","op":"exists","value":"true"}]`), []string{"arm", "leg"}},
		{"exists false", include(`[{"property":"colour","op":"exists","value":"false"}]`), []string{"limb", "hand", "foot", "head", "eye", "grouper"}},
		{"parent =", include(`[{"property":"parent","op":"=","value":"leg"}]`), []string{"foot"}},
		{"child =", include(`[{"property":"child","op":"=","value":"hand"}]`), []string{"arm"}},
		{"status", include(`[{"property":"status","op":"=","value":"retired"}]`), []string{"eye"}},
		{"inactive from status", include(`[{"property":"inactive","op":"=","value":"true"}]`), []string{"eye"}},
		{"two filters intersect", include(`[{"property":"concept","op":"is-a","value":"limb"},{"property":"colour","op":"exists","value":"true"}]`), []string{"arm", "leg"}},
		{"exclude", `{"include":[{"system":"` + bodyURL + `"}],"exclude":[{"system":"` + bodyURL + `","filter":[{"property":"concept","op":"is-a","value":"limb"}]}]}`,
			[]string{"head", "eye", "grouper"}},
		{"two includes union", `{"include":[{"system":"` + bodyURL + `","concept":[{"code":"eye"}]},{"system":"` + bodyURL + `","concept":[{"code":"arm"},{"code":"eye"}]}]}`,
			[]string{"eye", "arm"}},
		{"system and value set intersect", `{"include":[{"system":"` + bodyURL + `","concept":[{"code":"arm"},{"code":"head"}],"valueSet":["http://example.org/vs/limbs"]}]}`,
			[]string{"arm"}},
		{"value sets intersect", `{"include":[{"valueSet":["http://example.org/vs/limbs","http://example.org/vs/coloured"]}]}`,
			[]string{"arm", "leg"}},
		{"inactive left out", `{"inactive":false,"include":[{"system":"` + bodyURL + `","filter":[{"property":"concept","op":"is-a","value":"head"}]}]}`,
			[]string{"head"}},
	}
	add(t, s, vsJSON("http://example.org/vs/limbs", include(`[{"property":"concept","op":"is-a","value":"limb"}]`)))
	add(t, s, vsJSON("http://example.org/vs/coloured", include(`[{"property":"colour","op":"exists","value":"true"}]`)))
	for i, tc := range tests {
		url := fmt.Sprintf("http://example.org/vs/t%d", i)
		add(t, s, vsJSON(url, tc.compose))
		if got := expandCodes(t, s, url); !slices.Equal(got, tc.want) {
			t.Errorf("%s: expansion %v, want %v", tc.name, got, tc.want)
		}
		// Validation agrees with the expansion for every code of the system.
		for _, code := range []string{"limb", "arm", "hand", "leg", "foot", "head", "eye", "grouper"} {
			r := s.ValidateCode(t.Context(), url, Coding{System: bodyURL, Code: code})
			in := slices.Contains(tc.want, code) && code != "grouper"
			if r.Valid != in || !r.Known {
				t.Errorf("%s: ValidateCode(%s) = %+v, want valid=%v", tc.name, code, r, in)
			}
		}
	}

	for i, tc := range []struct{ name, filters string }{
		{"unknown property", `[{"property":"size","op":"=","value":"big"}]`},
		{"bad regex", `[{"property":"code","op":"regex","value":"("}]`},
		{"is-a on a property", `[{"property":"colour","op":"is-a","value":"red"}]`},
		{"unknown operator", `[{"property":"concept","op":"near","value":"arm"}]`},
	} {
		url := fmt.Sprintf("http://example.org/vs/bad%d", i)
		add(t, s, vsJSON(url, include(tc.filters)))
		check(t, tc.name, s.ValidateCode(t.Context(), url, Coding{System: bodyURL, Code: "arm"}), false, false, "cannot be evaluated")
		if _, err := s.Expand(t.Context(), url, ExpandOptions{}); !errors.Is(err, ErrNotEnumerable) {
			t.Errorf("%s: Expand error %v", tc.name, err)
		}
	}
}

func TestContentAndExpansion(t *testing.T) {
	s := New()
	add(t, s, `{"resourceType":"CodeSystem","url":"http://example.org/cs/frag","status":"active","content":"fragment",
		"concept":[{"code":"a","display":"A"}]}`)
	add(t, s, vsJSON("http://example.org/vs/frag", `{"include":[{"system":"http://example.org/cs/frag"}]}`))
	add(t, s, `{"resourceType":"CodeSystem","url":"http://example.org/cs/supp","status":"active","content":"supplement",
		"supplements":"http://example.org/cs/frag","concept":[{"code":"z","display":"Z"}]}`)
	add(t, s, vsJSON("http://example.org/vs/supp", `{"include":[{"system":"http://example.org/cs/supp"}]}`))
	// A value set known only by its expansion, and one whose compose needs SNOMED CT but
	// which carries a complete expansion.
	add(t, s, `{"resourceType":"ValueSet","url":"http://example.org/vs/expanded","status":"active",
		"expansion":{"timestamp":"2024-01-01T00:00:00Z","total":3,"contains":[
			{"system":"http://example.org/x","code":"1","display":"One"},
			{"system":"http://example.org/x","abstract":true,"code":"2","display":"Two",
				"contains":[{"system":"http://example.org/y","code":"3","display":"Three","inactive":true}]}]}}`)
	add(t, s, `{"resourceType":"ValueSet","url":"http://example.org/vs/snomed-expanded","status":"active",
		"compose":{"include":[{"system":"http://snomed.info/sct","filter":[{"property":"concept","op":"is-a","value":"404684003"}]}]},
		"expansion":{"timestamp":"2024-01-01T00:00:00Z","contains":[{"system":"http://snomed.info/sct","code":"22298006","display":"Myocardial infarction"}]}}`)
	add(t, s, `{"resourceType":"ValueSet","url":"http://example.org/vs/paged","status":"active",
		"expansion":{"timestamp":"2024-01-01T00:00:00Z","total":100,"offset":0,"contains":[{"system":"http://example.org/x","code":"1"}]}}`)

	tests := []struct {
		name, vs    string
		c           Coding
		valid, know bool
		msg         string
	}{
		{"fragment listed", "http://example.org/vs/frag", Coding{System: "http://example.org/cs/frag", Code: "a"}, true, true, ""},
		{"fragment not listed", "http://example.org/vs/frag", Coding{System: "http://example.org/cs/frag", Code: "b"}, false, false, "held only in part"},
		{"supplement codes ignored", "http://example.org/vs/supp", Coding{System: "http://example.org/cs/supp", Code: "z"}, false, false, "not available"},
		{"expansion", "http://example.org/vs/expanded", Coding{System: "http://example.org/x", Code: "1"}, true, true, ""},
		{"expansion nested, inactive", "http://example.org/vs/expanded", Coding{System: "http://example.org/y", Code: "3"}, true, true, "inactive"},
		{"expansion abstract", "http://example.org/vs/expanded", Coding{System: "http://example.org/x", Code: "2"}, false, true, "abstract"},
		{"expansion not listed", "http://example.org/vs/expanded", Coding{System: "http://example.org/x", Code: "4"}, false, true, ""},
		{"expansion other system", "http://example.org/vs/expanded", Coding{System: "http://example.org/z", Code: "1"}, false, true, ""},
		{"stored expansion decides", "http://example.org/vs/snomed-expanded", Coding{System: "http://snomed.info/sct", Code: "22298006"}, true, true, "stored expansion"},
		{"stored expansion excludes", "http://example.org/vs/snomed-expanded", Coding{System: "http://snomed.info/sct", Code: "38341003"}, false, true, "stored expansion"},
		{"partial expansion", "http://example.org/vs/paged", Coding{System: "http://example.org/x", Code: "1"}, true, true, ""},
		{"partial expansion, not listed", "http://example.org/vs/paged", Coding{System: "http://example.org/x", Code: "2"}, false, false, "partial"},
	}
	for _, tc := range tests {
		check(t, tc.name, s.ValidateCode(t.Context(), tc.vs, tc.c), tc.valid, tc.know, tc.msg)
	}
	if got := expandCodes(t, s, "http://example.org/vs/expanded"); !slices.Equal(got, []string{"1", "2", "3"}) {
		t.Errorf("expanded = %v", got)
	}
	if got := expandCodes(t, s, "http://example.org/vs/snomed-expanded"); !slices.Equal(got, []string{"22298006"}) {
		t.Errorf("snomed-expanded = %v", got)
	}
	for _, vs := range []string{"http://example.org/vs/frag", "http://example.org/vs/paged"} {
		if _, err := s.Expand(t.Context(), vs, ExpandOptions{}); !errors.Is(err, ErrNotEnumerable) {
			t.Errorf("Expand(%s) error %v, want ErrNotEnumerable", vs, err)
		}
	}
}

func TestProviders(t *testing.T) {
	s := core(t)
	s.AddProvider(numbers{url: "http://example.org/numbers"})
	s.AddProvider(snomed{})
	add(t, s, vsJSON("http://example.org/vs/numbers", `{"include":[{"system":"http://example.org/numbers"}]}`))
	add(t, s, vsJSON("http://example.org/vs/even", `{"include":[{"system":"http://example.org/numbers","filter":[{"property":"parity","op":"=","value":"even"}]}],
		"exclude":[{"system":"http://example.org/numbers","concept":[{"code":"10"}]}]}`))
	add(t, s, vsJSON("http://example.org/vs/bad-filter", `{"include":[{"system":"http://example.org/numbers","filter":[{"property":"prime","op":"=","value":"true"}]}]}`))
	tests := []struct {
		name, vs    string
		c           Coding
		valid, know bool
		display     string
		msg         string
	}{
		{"whole system", "http://example.org/vs/numbers", Coding{System: "http://example.org/numbers", Code: "42"}, true, true, "number 42", ""},
		{"inactive", "http://example.org/vs/numbers", Coding{System: "http://example.org/numbers", Code: "13"}, true, true, "number 13", "inactive"},
		{"not a code", "http://example.org/vs/numbers", Coding{System: "http://example.org/numbers", Code: "forty"}, false, true, "", "not a code of"},
		{"filter", "http://example.org/vs/even", Coding{System: "http://example.org/numbers", Code: "42"}, true, true, "number 42", ""},
		{"filter fails", "http://example.org/vs/even", Coding{System: "http://example.org/numbers", Code: "43"}, false, true, "", "not in value set"},
		{"excluded", "http://example.org/vs/even", Coding{System: "http://example.org/numbers", Code: "10"}, false, true, "", ""},
		{"unsupported filter", "http://example.org/vs/bad-filter", Coding{System: "http://example.org/numbers", Code: "7"}, false, false, "", "filter not supported"},
		// The core value set of SNOMED CT findings, now that a SNOMED CT provider is in.
		{"snomed is-a", "http://hl7.org/fhir/ValueSet/condition-code", Coding{System: "http://snomed.info/sct", Code: "22298006"}, true, true, "Myocardial infarction", ""},
		{"snomed root", "http://hl7.org/fhir/ValueSet/condition-code", Coding{System: "http://snomed.info/sct", Code: "404684003"}, true, true, "Clinical finding", ""},
		{"snomed other hierarchy", "http://hl7.org/fhir/ValueSet/condition-code", Coding{System: "http://snomed.info/sct", Code: "71388002"}, false, true, "", "Procedure"},
		{"snomed listed", "http://hl7.org/fhir/ValueSet/condition-code", Coding{System: "http://snomed.info/sct", Code: "160245001"}, true, true, "No current problems or disability", ""},
	}
	for _, tc := range tests {
		r := s.ValidateCode(t.Context(), tc.vs, tc.c)
		check(t, tc.name, r, tc.valid, tc.know, tc.msg)
		if r.Display != tc.display {
			t.Errorf("%s: display %q, want %q", tc.name, r.Display, tc.display)
		}
	}
	if _, err := s.Expand(t.Context(), "http://example.org/vs/numbers", ExpandOptions{}); !errors.Is(err, ErrNotEnumerable) {
		t.Errorf("Expand(numbers) error %v", err)
	}
	if c, ok := s.Lookup(t.Context(), "http://snomed.info/sct", "22298006"); !ok || c.Display != "Myocardial infarction" {
		t.Errorf("Lookup via provider = %+v, %v", c, ok)
	}
	// Core services made later do not see the providers added to this one.
	if r := core(t).ValidateCode(t.Context(), "http://hl7.org/fhir/ValueSet/condition-code", Coding{System: "http://snomed.info/sct", Code: "22298006"}); r.Known {
		t.Errorf("a fresh core Service knows SNOMED CT: %+v", r)
	}
}

func TestAddReplacesAndInvalidates(t *testing.T) {
	s := core(t)
	ctx := t.Context()
	colours := func(version string, codes ...string) string {
		js := `{"resourceType":"CodeSystem","url":"http://example.org/cs/colours","status":"active","content":"complete"`
		if version != "" {
			js += `,"version":"` + version + `"`
		}
		js += `,"concept":[`
		for i, c := range codes {
			if i > 0 {
				js += ","
			}
			js += `{"code":"` + c + `","display":"` + c + `"}`
		}
		return js + "]}"
	}
	add(t, s, colours("1", "red", "green"))
	add(t, s, vsJSON("http://example.org/vs/colours", `{"include":[{"system":"http://example.org/cs/colours"}]}`))
	add(t, s, vsJSON("http://example.org/vs/outer", `{"include":[{"valueSet":["http://example.org/vs/colours"]}]}`))
	blue := Coding{System: "http://example.org/cs/colours", Code: "blue"}

	if got := expandCodes(t, s, "http://example.org/vs/outer"); !slices.Equal(got, []string{"red", "green"}) {
		t.Fatalf("outer = %v", got)
	}
	check(t, "blue before", s.ValidateCode(ctx, "http://example.org/vs/outer", blue), false, true, "")

	// Same url and version: replaces the code system, and the value sets built on it.
	add(t, s, colours("1", "red", "blue"))
	if got := expandCodes(t, s, "http://example.org/vs/outer"); !slices.Equal(got, []string{"red", "blue"}) {
		t.Errorf("outer after replacing the code system = %v", got)
	}
	check(t, "blue after", s.ValidateCode(ctx, "http://example.org/vs/outer", blue), true, true, "")

	// A newer version is used by value sets that do not pin one.
	add(t, s, colours("2", "red", "blue", "white"))
	if got := expandCodes(t, s, "http://example.org/vs/outer"); !slices.Equal(got, []string{"red", "blue", "white"}) {
		t.Errorf("outer after version 2 = %v", got)
	}
	if p, ok := s.CodeSystem("http://example.org/cs/colours|1"); !ok || p.Version() != "1" {
		t.Errorf("CodeSystem(colours|1) = %v, %v", p, ok)
	}

	// Replacing the imported value set changes the importing one.
	add(t, s, vsJSON("http://example.org/vs/colours", `{"include":[{"system":"http://example.org/cs/colours","concept":[{"code":"white"}]}]}`))
	if got := expandCodes(t, s, "http://example.org/vs/outer"); !slices.Equal(got, []string{"white"}) {
		t.Errorf("outer after replacing the import = %v", got)
	}

	// A value set that was missing is found once added.
	check(t, "missing", s.ValidateCode(ctx, "http://example.org/vs/later", blue), false, false, "not found")
	add(t, s, vsJSON("http://example.org/vs/later", `{"include":[{"system":"http://example.org/cs/colours"}]}`))
	check(t, "added later", s.ValidateCode(ctx, "http://example.org/vs/later", blue), true, true, "")

	// Core content can be replaced too, without touching other Services.
	add(t, s, `{"resourceType":"CodeSystem","url":"`+genderCS+`","version":"4.0.1","status":"active","content":"complete",
		"concept":[{"code":"x","display":"X"}]}`)
	check(t, "replaced core", s.ValidateCode(ctx, gender, Coding{System: genderCS, Code: "male"}), false, true, "")
	check(t, "other service", core(t).ValidateCode(ctx, gender, Coding{System: genderCS, Code: "male"}), true, true, "")

	res, err := fhir.Parse([]byte(`{"resourceType":"Patient"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add(res); err == nil {
		t.Error("Add(Patient) succeeded")
	}
	res, err = fhir.Parse([]byte(`{"resourceType":"ValueSet","status":"active"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add(res); err == nil {
		t.Error("Add(ValueSet without url) succeeded")
	}
}

func TestCircular(t *testing.T) {
	s := New()
	add(t, s, body)
	add(t, s, vsJSON("http://example.org/vs/a", `{"include":[{"system":"`+bodyURL+`"}],"exclude":[{"valueSet":["http://example.org/vs/b"]}]}`))
	add(t, s, vsJSON("http://example.org/vs/b", `{"include":[{"valueSet":["http://example.org/vs/c"]}]}`))
	add(t, s, vsJSON("http://example.org/vs/c", `{"include":[{"valueSet":["http://example.org/vs/a"]}]}`))
	add(t, s, vsJSON("http://example.org/vs/d", `{"include":[{"valueSet":["http://example.org/vs/b"]}]}`))
	for _, vs := range []string{"a", "b", "c", "d"} {
		url := "http://example.org/vs/" + vs
		if _, err := s.Expand(t.Context(), url, ExpandOptions{}); !errors.Is(err, ErrCircular) {
			t.Errorf("Expand(%s) error %v, want ErrCircular", vs, err)
		}
		check(t, vs, s.ValidateCode(t.Context(), url, Coding{System: bodyURL, Code: "arm"}), false, false, "includes itself")
	}
	// Breaking the cycle mends every value set on it.
	add(t, s, vsJSON("http://example.org/vs/c", `{"include":[{"system":"`+bodyURL+`","concept":[{"code":"arm"}]}]}`))
	if got := expandCodes(t, s, "http://example.org/vs/d"); !slices.Equal(got, []string{"arm"}) {
		t.Errorf("d = %v", got)
	}
	if got := expandCodes(t, s, "http://example.org/vs/a"); slices.Contains(got, "arm") || len(got) != 7 {
		t.Errorf("a = %v", got)
	}
}

// TestConcurrentAdd validates and expands while code systems and value sets are replaced;
// run with -race.
func TestConcurrentAdd(t *testing.T) {
	s := core(t)
	add(t, s, body)
	add(t, s, vsJSON("http://example.org/vs/limbs", `{"include":[{"system":"`+bodyURL+`","filter":[{"property":"concept","op":"is-a","value":"limb"}]}]}`))
	add(t, s, vsJSON("http://example.org/vs/outer", `{"include":[{"valueSet":["http://example.org/vs/limbs"]}]}`))
	ctx := t.Context()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if r := s.ValidateCode(ctx, "http://example.org/vs/outer", Coding{System: bodyURL, Code: "arm"}); !r.Known {
					t.Errorf("arm: %+v", r)
				}
				if r := s.ValidateCode(ctx, gender, Coding{System: genderCS, Code: "male"}); !r.Valid {
					t.Errorf("male: %+v", r)
				}
				if _, err := s.Expand(ctx, "http://example.org/vs/outer", ExpandOptions{Count: 2}); err != nil {
					t.Error(err)
				}
				s.Lookup(ctx, bodyURL, "arm")
			}
		})
	}
	for i := range 200 {
		root := "limb"
		if i%2 == 1 {
			root = "head"
		}
		add(t, s, vsJSON("http://example.org/vs/limbs", `{"include":[{"system":"`+bodyURL+`","filter":[{"property":"concept","op":"is-a","value":"`+root+`"}]}]}`))
		if i%10 == 0 {
			add(t, s, body)
			s.AddProvider(numbers{url: "http://example.org/numbers"})
		}
	}
	close(stop)
	wg.Wait()
	// The last replacement is the one in force.
	if got := expandCodes(t, s, "http://example.org/vs/outer"); !slices.Equal(got, []string{"head", "eye"}) {
		t.Errorf("outer = %v", got)
	}
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.10", "1.9", 1},
		{"2.9", "2.9", 0},
		{"", "1", -1},
		{"4.0.1", "4.0", 1},
		{"2018-08-12", "2019-01-01", -1},
	} {
		if got := compareVersions(tc.a, tc.b); (got > 0) != (tc.want > 0) || (got < 0) != (tc.want < 0) {
			t.Errorf("compareVersions(%q, %q) = %d, want sign %d", tc.a, tc.b, got, tc.want)
		}
	}
}
