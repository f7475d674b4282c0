package icd10_test

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/terminology"
	"github.com/concord-health/concord/terminology/icd10"
	"github.com/concord-health/concord/terminology/release"
)

const (
	nhsDir   = "testdata/nhs"
	nhsName  = "ICD10_Edition5_CodesAndTitlesAndMetadata_GB_20160401.txt"
	clamlDir = "testdata/claml"
)

// service loads a release with load and holds it in a new terminology service.
func service(t testing.TB, res *fhir.Resource) *terminology.Service {
	t.Helper()
	s := terminology.New()
	if err := s.Add(res); err != nil {
		t.Fatal(err)
	}
	return s
}

func loadNHS(t testing.TB) *fhir.Resource {
	t.Helper()
	res, err := icd10.Load(t.Context(), []string{nhsDir})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func loadClaML(t testing.TB) *fhir.Resource {
	t.Helper()
	res, err := icd10.LoadClaML(t.Context(), []string{clamlDir})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// lookupCase is what LookupCode should report for a code.
type lookupCase struct {
	code, display      string
	abstract           bool
	props              map[string][]string // property code -> values, in order
	parents, children  []string
	designations       []string
	checkChildrenEmpty bool
}

func checkLookups(t *testing.T, s *terminology.Service, system string, cases []lookupCase) {
	t.Helper()
	for _, tc := range cases {
		r, err := s.LookupCode(t.Context(), system, "", tc.code)
		if err != nil {
			t.Errorf("%s: %v", tc.code, err)
			continue
		}
		if r.Display != tc.display {
			t.Errorf("%s: display %q, want %q", tc.code, r.Display, tc.display)
		}
		if r.Abstract != tc.abstract {
			t.Errorf("%s: abstract %v, want %v", tc.code, r.Abstract, tc.abstract)
		}
		for code, want := range tc.props {
			var got []string
			for _, p := range r.Properties {
				if p.Code == code {
					got = append(got, p.Value)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s: property %s = %v, want %v", tc.code, code, got, want)
			}
		}
		if tc.parents != nil && !slices.Equal(r.Parents, tc.parents) {
			t.Errorf("%s: parents %v, want %v", tc.code, r.Parents, tc.parents)
		}
		if (tc.children != nil || tc.checkChildrenEmpty) && !slices.Equal(r.Children, tc.children) {
			t.Errorf("%s: children %v, want %v", tc.code, r.Children, tc.children)
		}
		if tc.designations != nil {
			var got []string
			for _, d := range r.Designations {
				got = append(got, d.Value)
			}
			if !slices.Equal(got, tc.designations) {
				t.Errorf("%s: designations %v, want %v", tc.code, got, tc.designations)
			}
		}
	}
}

func TestLoadNHS(t *testing.T) {
	res := loadNHS(t)
	root := res.Root
	for name, want := range map[string]string{
		"url": icd10.URLUK, "version": "5.0", "date": "2016-04-01", "content": "complete",
		"hierarchyMeaning": "is-a", "status": "active", "count": "32",
	} {
		if got := root.First(name).String(); got != want {
			t.Errorf("CodeSystem.%s = %q, want %q", name, got, want)
		}
	}
	// The resource parses again from its own JSON: it is a valid CodeSystem.
	if _, err := fhir.Parse(res.Bytes()); err != nil {
		t.Fatal(err)
	}
	s := service(t, res)
	checkLookups(t, s, icd10.URLUK, []lookupCase{
		{code: "I", display: "Certain infectious and parasitic diseases", abstract: true,
			props: map[string][]string{"kind": {"chapter"}}, parents: []string{}, children: []string{"A00", "A17"}},
		{code: "A00", display: "Cholera", parents: []string{"I"}, children: []string{"A00.0", "A00.1", "A00.9"},
			props: map[string][]string{"kind": {"category"}, "altCode": {"A00"}, "usageUK": {"3"}, "usage": nil}},
		{code: "A00.0", display: "Cholera due to Vibrio cholerae 01, biovar cholerae", parents: []string{"A00"},
			checkChildrenEmpty: true, props: map[string][]string{"treeDescription": {"Classical cholera"}, "minAge": {"0"}, "maxAge": {"125"}}},
		{code: "A17.0", display: "Tuberculous meningitis", parents: []string{"A17"},
			props: map[string][]string{"usage": {"dagger"}, "usageUK": {"1"}, "qualifier": {"G01"}}},
		{code: "G01", display: "Meningitis in bacterial diseases classified elsewhere", parents: []string{"VI"},
			props: map[string][]string{"usage": {"asterisk"}, "qualifier": {"A17.0", "A01.0"}, "altCode": {"G01X"}}},
		{code: "C61", display: "Malignant neoplasm of prostate", parents: []string{"II"},
			props: map[string][]string{"genderMask": {"1"}, "sex": {"male"}, "altCode": {"C61X"}}},
		{code: "C53.0", display: "Malignant neoplasm of endocervix",
			props: map[string][]string{"genderMask": {"2"}, "sex": {"female"}}},
		{code: "A00.9", props: map[string][]string{"sex": nil}, display: "Cholera, unspecified"},
		{code: "E10.0", display: "Type 1 diabetes mellitus With coma", parents: []string{"E10"},
			props: map[string][]string{"modifier4": {"With coma"}}},
		{code: "M00.00", display: "Staphylococcal arthritis and polyarthritis Multiple sites", parents: []string{"M00.0"},
			props: map[string][]string{"modifier5": {"Multiple sites"}}},
		{code: "M00.0", display: "Staphylococcal arthritis and polyarthritis", parents: []string{"M00"},
			children: []string{"M00.00", "M00.01"}},
		{code: "P07.0", display: "Extremely low birth weight", props: map[string][]string{"maxAge": {"0"}}},
		{code: "U50.9", display: "Event awaiting determination of intent", parents: []string{"XXII"}},
	})
	if _, err := s.LookupCode(t.Context(), icd10.URLUK, "", "A000"); !errors.Is(err, terminology.ErrUnknownCode) {
		t.Errorf("undotted code: %v, want ErrUnknownCode", err)
	}

	for _, tc := range []struct {
		a, b string
		want terminology.Subsumption
	}{
		{"A00", "A00.0", terminology.ASubsumesB},
		{"I", "A00.9", terminology.ASubsumesB},
		{"A00.0", "A00", terminology.ASubsumedByB},
		{"M00", "M00.01", terminology.ASubsumesB},
		{"A00", "C61", terminology.NotSubsumed},
		{"E10", "E10", terminology.Equivalent},
	} {
		got, err := s.Subsumes(t.Context(), icd10.URLUK, tc.a, tc.b)
		if err != nil || got != tc.want {
			t.Errorf("Subsumes(%s, %s) = %s, %v; want %s", tc.a, tc.b, got, err, tc.want)
		}
	}

	checkValueSets(t, s, icd10.URLUK, []vsCase{
		{"is-a category", `[{"property":"concept","op":"is-a","value":"A00"}]`,
			[]string{"A00", "A00.0", "A00.1", "A00.9"}, map[string]bool{"A00.1": true, "C61": false}},
		{"is-a chapter", `[{"property":"concept","op":"is-a","value":"IV"}]`,
			[]string{"IV", "E10", "E10.0", "E10.1", "E10.9"}, map[string]bool{"E10.9": true, "IV": false, "A00": false}},
		{"descendent-of 4-character", `[{"property":"concept","op":"descendent-of","value":"M00.0"}]`,
			[]string{"M00.00", "M00.01"}, map[string]bool{"M00.00": true, "M00.0": false}},
		{"female only", `[{"property":"sex","op":"=","value":"female"}]`,
			[]string{"C53", "C53.0", "C53.9"}, map[string]bool{"C53.9": true, "C61": false}},
		{"daggers", `[{"property":"usage","op":"=","value":"dagger"}]`,
			[]string{"A17.0", "A17.9"}, map[string]bool{"A17.0": true, "G01": false}},
	})
}

type vsCase struct {
	name, filters string
	expand        []string
	valid         map[string]bool
}

// checkValueSets compiles inline value sets over system with the given filters and checks
// their expansion and validation.
func checkValueSets(t *testing.T, s *terminology.Service, system string, cases []vsCase) {
	t.Helper()
	for _, tc := range cases {
		res, err := fhir.Parse(fmt.Appendf(nil, `{"resourceType":"ValueSet","status":"active","compose":{"include":[{"system":%q,"filter":%s}]}}`, system, tc.filters))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		vs, err := s.CompileValueSet(t.Context(), res)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		x, err := vs.Expand(terminology.ExpandOptions{})
		if err != nil {
			t.Errorf("%s: expand: %v", tc.name, err)
			continue
		}
		var got []string
		for _, e := range x.Contains {
			got = append(got, e.Code)
		}
		if !slices.Equal(got, tc.expand) {
			t.Errorf("%s: expansion %v, want %v", tc.name, got, tc.expand)
		}
		for code, want := range tc.valid {
			r := vs.ValidateCode(t.Context(), terminology.Coding{System: system, Code: code})
			if r.Valid != want || !r.Known {
				t.Errorf("%s: ValidateCode(%s) = %+v, want valid=%v", tc.name, code, r, want)
			}
		}
	}
}

func TestLoadClaML(t *testing.T) {
	res := loadClaML(t)
	root := res.Root
	for name, want := range map[string]string{
		"url": icd10.URLWHO, "version": "2019", "date": "2019-01-01", "content": "complete", "title": "ICD-10",
	} {
		if got := root.First(name).String(); got != want {
			t.Errorf("CodeSystem.%s = %q, want %q", name, got, want)
		}
	}
	s := service(t, res)
	checkLookups(t, s, icd10.URLWHO, []lookupCase{
		{code: "I", display: "Certain infectious and parasitic diseases", abstract: true, children: []string{"A00-A09", "A15-A19"},
			props: map[string][]string{"kind": {"chapter"}, "exclusion": {"influenza and other acute respiratory infections (J00-J22)"}}},
		{code: "A00-A09", display: "Intestinal infectious diseases", abstract: true, parents: []string{"I"}, children: []string{"A00"},
			props: map[string][]string{"kind": {"block"}}},
		{code: "A00", display: "Cholera", parents: []string{"A00-A09"}, children: []string{"A00.0", "A00.1", "A00.9"},
			props: map[string][]string{"kind": {"category"}, "MortL1Code": {"1-002"}}},
		{code: "A00.0", display: "Cholera due to Vibrio cholerae 01, biovar cholerae", designations: []string{"Classical cholera"}},
		{code: "A17.0", display: "Tuberculous meningitis",
			designations: []string{"Tuberculosis of meninges (cerebral)(spinal)", "Tuberculous leptomeningitis"},
			props:        map[string][]string{"usage": {"dagger"}, "exclusion": {"tuberculous meningoencephalitis (G05.0)"}}},
		{code: "G01", display: "Meningitis in bacterial diseases classified elsewhere",
			props: map[string][]string{"usage": {"asterisk"}, "note": {"Use additional code to identify the bacterial disease"}}},
		// A modifier declared on the block applies to each category under it…
		{code: "E10", display: "Type 1 diabetes mellitus", children: []string{"E10.0", "E10.1", "E10.9"}},
		{code: "E10.0", display: "Type 1 diabetes mellitus With coma", parents: []string{"E10"},
			props: map[string][]string{"modifier": {"S04E10_4 .0"}, "kind": {"category"}}},
		// …unless a category excludes it, here to declare it again with fewer classes.
		{code: "E11", display: "Type 2 diabetes mellitus", children: []string{"E11.0", "E11.9"}},
		// A 5th-character modifier on a category applies to its 4-character subcategories.
		{code: "M00", display: "Pyogenic arthritis", children: []string{"M00.0", "M00.1"}},
		{code: "M00.1", children: []string{"M00.10", "M00.11"}, display: "Pneumococcal arthritis and polyarthritis"},
		{code: "M00.11", display: "Pneumococcal arthritis and polyarthritis Shoulder region", parents: []string{"M00.1"}},
	})
	if _, err := s.LookupCode(t.Context(), icd10.URLWHO, "", "E11.1"); !errors.Is(err, terminology.ErrUnknownCode) {
		t.Errorf("E11.1 (modifier class not valid for E11): %v, want ErrUnknownCode", err)
	}
	for _, tc := range []struct {
		a, b string
		want terminology.Subsumption
	}{
		{"E10-E14", "E10.9", terminology.ASubsumesB},
		{"IV", "E11.0", terminology.ASubsumesB},
		{"M00.00", "M00", terminology.ASubsumedByB},
		{"A00-A09", "A17", terminology.NotSubsumed},
	} {
		got, err := s.Subsumes(t.Context(), icd10.URLWHO, tc.a, tc.b)
		if err != nil || got != tc.want {
			t.Errorf("Subsumes(%s, %s) = %s, %v; want %s", tc.a, tc.b, got, err, tc.want)
		}
	}
	checkValueSets(t, s, icd10.URLWHO, []vsCase{
		{"is-a block", `[{"property":"concept","op":"is-a","value":"A15-A19"}]`,
			[]string{"A15-A19", "A17", "A17.0"}, map[string]bool{"A17.0": true, "A15-A19": false, "A00": false}},
		{"asterisks", `[{"property":"usage","op":"=","value":"asterisk"}]`, []string{"G01"}, map[string]bool{"G01": true}},
	})
}

// Both code systems can be held side by side: they have different URLs.
func TestBothHeld(t *testing.T) {
	s := terminology.New()
	for _, res := range []*fhir.Resource{loadNHS(t), loadClaML(t)} {
		if err := s.Add(res); err != nil {
			t.Fatal(err)
		}
	}
	uk, err := s.LookupCode(t.Context(), icd10.URLUK, "", "E10.0")
	if err != nil {
		t.Fatal(err)
	}
	who, err := s.LookupCode(t.Context(), icd10.URLWHO, "", "E10.0")
	if err != nil {
		t.Fatal(err)
	}
	if uk.Display != who.Display || uk.Version != "5.0" || who.Version != "2019" {
		t.Errorf("UK %+v, WHO %+v", uk, who)
	}
}

func TestSaveOpen(t *testing.T) {
	dir := t.TempDir()
	if _, err := icd10.Open(dir); !errors.Is(err, icd10.ErrNoIndex) {
		t.Fatalf("Open of an empty data directory: %v, want ErrNoIndex", err)
	}
	uk, who := loadNHS(t), loadClaML(t)
	if err := icd10.Save(dir, uk); err != nil {
		t.Fatal(err)
	}
	got, err := icd10.Open(dir)
	if err != nil || len(got) != 1 || got[0].Root.Text("url") != icd10.URLUK {
		t.Fatalf("Open after saving the NHS edition: %v, %v", got, err)
	}
	if err := icd10.Save(dir, who); err != nil {
		t.Fatal(err)
	}
	got, err = icd10.Open(dir)
	if err != nil || len(got) != 2 {
		t.Fatalf("Open after saving both: %d, %v", len(got), err)
	}
	if string(got[0].Bytes()) != string(uk.Bytes()) || string(got[1].Bytes()) != string(who.Bytes()) {
		t.Error("saved code systems differ from those loaded")
	}
	// No temporary files are left behind.
	entries, _ := os.ReadDir(filepath.Join(dir, "terminology"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"icd10-who.json", "icd10.json"}) {
		t.Errorf("terminology folder holds %v", names)
	}
	s := service(t, got[0])
	if _, err := s.LookupCode(t.Context(), icd10.URLUK, "", "M00.01"); err != nil {
		t.Error(err)
	}
	other, err := fhir.Parse([]byte(`{"resourceType":"CodeSystem","url":"http://example.org/cs","status":"active","content":"complete"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := icd10.Save(dir, other); err == nil {
		t.Error("Save accepted a code system that is not ICD-10")
	}
}

// zipDir writes the files of dir into a zip under prefix.
func zipDir(t *testing.T, dir, prefix string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "release.zip")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		w, err := zw.Create(prefix + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return out
}

func TestZip(t *testing.T) {
	z := zipDir(t, nhsDir, "ICD10_Edition5_20160401/Content/")
	res, err := icd10.Load(t.Context(), []string{z})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Bytes()) != string(loadNHS(t).Bytes()) {
		t.Error("the release read from a zip differs from the one read from its folder")
	}
	z = zipDir(t, clamlDir, "")
	res, err = icd10.LoadClaML(t.Context(), []string{z})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Bytes()) != string(loadClaML(t).Bytes()) {
		t.Error("the ClaML read from a zip differs from the one read from its folder")
	}
}

// release writes a one-file NHS release whose rows are the fixture's header followed by rows.
func nhsRelease(t *testing.T, rows ...string) string {
	t.Helper()
	dir := t.TempDir()
	hdr := "CODE\tALT_CODE\tUSAGE\tUSAGE_UK\tDESCRIPTION\tMODIFIER_4\tMODIFIER_5\tQUALIFIERS\tGENDER_MASK\tMIN_AGE\tMAX_AGE\tTREE_DESCRIPTION"
	body := strings.Join(append([]string{hdr}, rows...), "\n") + "\n"
	if err := os.WriteFile(filepath.Join(dir, nhsName), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestNHSErrors(t *testing.T) {
	good := "A00\tA00\tDEFAULT\t3\tCholera\t\t\t\t0\t0\t125\tCholera"
	for _, tc := range []struct {
		name  string
		dir   func(t *testing.T) string
		wants []string
	}{
		{"missing file", func(t *testing.T) string {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "readme.txt"), []byte("x"), 0o644)
			return dir
		}, []string{"CodesAndTitlesAndMetadata", "expected"}},
		{"wrong column count", func(t *testing.T) string {
			return nhsRelease(t, good, "A00.0\tA000\tDEFAULT\t3\tCholera due to Vibrio cholerae 01")
		}, []string{nhsName + ":3:", "5 fields, want 12"}},
		{"empty code", func(t *testing.T) string {
			return nhsRelease(t, good, "\tA001\tDEFAULT\t3\tCholera eltor\t\t\t\t0\t0\t125\t")
		}, []string{nhsName + ":3:", "empty CODE"}},
		{"duplicate code", func(t *testing.T) string {
			return nhsRelease(t, good, good)
		}, []string{nhsName + ":3:", "duplicate code A00 (first at line 2)"}},
		{"not a number", func(t *testing.T) string {
			return nhsRelease(t, "A00\tA00\tDEFAULT\t3\tCholera\t\t\t\tboth\t0\t125\t")
		}, []string{nhsName + ":2:", `GENDER_MASK "both"`}},
		{"bad code", func(t *testing.T) string {
			return nhsRelease(t, "A0\tA0\tDEFAULT\t3\tCholera\t\t\t\t0\t0\t125\t")
		}, []string{nhsName + ":2:", "not an ICD-10 code"}},
		{"bad header", func(t *testing.T) string {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, nhsName), []byte("CODE\tDESCRIPTION\n"+good+"\n"), 0o644)
			return dir
		}, []string{nhsName + ":1:", "header"}},
		{"several bad rows", func(t *testing.T) string {
			return nhsRelease(t, "A00", good, "B00")
		}, []string{nhsName + ":2:", nhsName + ":4:"}},
	} {
		_, err := icd10.Load(t.Context(), []string{tc.dir(t)})
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range tc.wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", tc.name, err, w)
			}
		}
		if tc.name == "missing file" && !errors.Is(err, release.ErrMissingFile) {
			t.Errorf("%s: %v does not wrap ErrMissingFile", tc.name, err)
		}
		if tc.name != "missing file" {
			var re *release.RowError
			if !errors.As(err, &re) {
				t.Errorf("%s: %v is not a RowError", tc.name, err)
			}
		}
	}
}

func TestClaMLErrors(t *testing.T) {
	write := func(t *testing.T, classes string) string {
		dir := t.TempDir()
		doc := `<?xml version="1.0" encoding="UTF-8"?>
<ClaML version="2.0.0"><Title name="ICD-10" version="2019">ICD-10</Title>
` + classes + `
</ClaML>`
		os.WriteFile(filepath.Join(dir, "icd10.xml"), []byte(doc), 0o644)
		return dir
	}
	class := func(code, super string) string {
		s := `<Class code="` + code + `" kind="category">`
		if super != "" {
			s += `<SuperClass code="` + super + `"/>`
		}
		return s + `<Rubric kind="preferred"><Label xml:lang="en">` + code + `</Label></Rubric></Class>`
	}
	for _, tc := range []struct {
		name  string
		dir   func(t *testing.T) string
		wants []string
	}{
		{"missing file", func(t *testing.T) string {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "other.xml"), []byte(`<root/>`), 0o644)
			return dir
		}, []string{"ClaML", "expected"}},
		{"duplicate code", func(t *testing.T) string { return write(t, class("A00", "")+"\n"+class("A00", "")) },
			[]string{"icd10.xml:4:", "duplicate code A00 (first at line 3)"}},
		{"unknown superclass", func(t *testing.T) string { return write(t, class("A00.0", "A00")) },
			[]string{"icd10.xml:3:", "superclass A00 is not in the file"}},
		{"no code", func(t *testing.T) string { return write(t, class("", "")) },
			[]string{"icd10.xml:3:", "Class without a code"}},
		{"superclass cycle", func(t *testing.T) string { return write(t, class("A00", "A00.0")+"\n"+class("A00.0", "A00")) },
			[]string{"icd10.xml:3:", "class A00 is its own superclass"}},
		{"malformed XML", func(t *testing.T) string { return write(t, `<Class code="A00">`) },
			[]string{"icd10.xml:"}},
		{"unknown modifier", func(t *testing.T) string {
			return write(t, `<Class code="A00" kind="category"><ModifiedBy code="S99"/></Class>`)
		}, []string{"modifier S99 is not in the file"}},
	} {
		_, err := icd10.LoadClaML(t.Context(), []string{tc.dir(t)})
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range tc.wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", tc.name, err, w)
			}
		}
	}
}

// Text in Windows-1252 (as older NHS files are written) is read as such.
func TestWindows1252(t *testing.T) {
	dir := nhsRelease(t, "A00\tA00\tDEFAULT\t3\tCholera \x96 classical\t\t\t\t0\t0\t125\t")
	res, err := icd10.Load(t.Context(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	r, err := service(t, res).LookupCode(t.Context(), icd10.URLUK, "", "A00")
	if err != nil || r.Display != "Cholera – classical" {
		t.Errorf("display %q, %v", r.Display, err)
	}
}

func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := icd10.Load(ctx, []string{nhsDir}); err == nil {
		t.Error("Load ignored a cancelled context")
	}
}

// BenchmarkLoad loads a generated NHS release of the real one's size (about 17,000 codes).
func BenchmarkLoad(b *testing.B) {
	dir := b.TempDir()
	rows := generate(17000)
	if err := os.WriteFile(filepath.Join(dir, nhsName), []byte(rows), 0o644); err != nil {
		b.Fatal(err)
	}
	// One load outside the timing: the first parse of any resource loads the FHIR
	// definitions, once per process.
	if _, err := icd10.Load(b.Context(), []string{dir}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(rows)))
	b.ReportAllocs()
	for b.Loop() {
		res, err := icd10.Load(b.Context(), []string{dir})
		if err != nil {
			b.Fatal(err)
		}
		if got := res.Root.Text("count"); got == "" {
			b.Fatal("no count")
		}
	}
}

// generate writes an NHS release file of about n codes: 3-character categories across the
// chapters' letters, each with ten 4-character subcategories.
func generate(n int) string {
	var sb strings.Builder
	sb.WriteString("CODE\tALT_CODE\tUSAGE\tUSAGE_UK\tDESCRIPTION\tMODIFIER_4\tMODIFIER_5\tQUALIFIERS\tGENDER_MASK\tMIN_AGE\tMAX_AGE\tTREE_DESCRIPTION\r\n")
	count := 0
	for _, letter := range "ABCDEFGHIJKLMNOPQRSTVWXYZ" {
		for cat := 0; cat < 100 && count < n; cat++ {
			code := fmt.Sprintf("%c%02d", letter, cat)
			fmt.Fprintf(&sb, "%s\t%s\tDEFAULT\t3\tGenerated category %s of the classification\t\t\t\t0\t0\t125\tCategory %s\r\n", code, code, code, code)
			count++
			for sub := 0; sub < 10 && count < n; sub++ {
				fmt.Fprintf(&sb, "%s.%d\t%s%d\tDEFAULT\t3\tGenerated subcategory %s.%d, a title of typical length\t\t\t\t%d\t0\t125\tSubcategory %d\r\n",
					code, sub, code, sub, code, sub, sub%3, sub)
				count++
			}
		}
	}
	return sb.String()
}

// A ClaML file declared as ISO-8859-1 is decoded as such.
func TestClaMLLatin1(t *testing.T) {
	dir := t.TempDir()
	doc := "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<ClaML version=\"2.0.0\"><Title name=\"ICD-10\" version=\"2019\">ICD-10</Title>" +
		"<Class code=\"A00\" kind=\"category\"><Rubric kind=\"preferred\"><Label xml:lang=\"fr\">Chol\xe9ra</Label></Rubric></Class></ClaML>"
	if err := os.WriteFile(filepath.Join(dir, "icd10fr.xml"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := icd10.LoadClaML(t.Context(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	r, err := service(t, res).LookupCode(t.Context(), icd10.URLWHO, "", "A00")
	if err != nil || r.Display != "Choléra" {
		t.Errorf("display %q, %v", r.Display, err)
	}
}

// A release that carries rows for blocks (a range as CODE) nests categories under them, and
// blocks under their chapter or an enclosing block.
func TestNHSBlocks(t *testing.T) {
	dir := nhsRelease(t,
		"A00-B99\t\tDEFAULT\t3\tInfections (a grouping)\t\t\t\t0\t0\t125\t",
		"A00-A09\t\tDEFAULT\t3\tIntestinal infectious diseases\t\t\t\t0\t0\t125\t",
		"A00\tA00\tDEFAULT\t3\tCholera\t\t\t\t0\t0\t125\tCholera",
		"A00.0\tA000\tDEFAULT\t3\tCholera due to Vibrio cholerae 01, biovar cholerae\t\t\t\t0\t0\t125\t",
		"A15\tA15\tDEFAULT\t3\tRespiratory tuberculosis\t\t\t\t0\t0\t125\t",
		"C61\tC61X\tDEFAULT\t3\tMalignant neoplasm of prostate\t\t\t\t1\t0\t125\t",
	)
	res, err := icd10.Load(t.Context(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	checkLookups(t, service(t, res), icd10.URLUK, []lookupCase{
		{code: "I", display: "Certain infectious and parasitic diseases", abstract: true, children: []string{"A00-B99"}},
		{code: "A00-B99", display: "Infections (a grouping)", abstract: true, parents: []string{"I"},
			children: []string{"A00-A09", "A15"}, props: map[string][]string{"kind": {"block"}}},
		{code: "A00-A09", display: "Intestinal infectious diseases", abstract: true, parents: []string{"A00-B99"}, children: []string{"A00"}},
		{code: "A00", display: "Cholera", parents: []string{"A00-A09"}, children: []string{"A00.0"}},
		{code: "C61", display: "Malignant neoplasm of prostate", parents: []string{"II"}},
	})
}
