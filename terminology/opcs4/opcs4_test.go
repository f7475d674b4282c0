package opcs4_test

import (
	"archive/zip"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/terminology"
	"github.com/concord-health/concord/terminology/opcs4"
	"github.com/concord-health/concord/terminology/release"
)

const (
	releaseDir = "testdata/release"
	fileName   = "OPCS410 CodesAndTitles Nov 2022 V1.0.txt"
)

func load(t testing.TB, paths ...string) *fhir.Resource {
	t.Helper()
	if len(paths) == 0 {
		paths = []string{releaseDir}
	}
	res, err := opcs4.Load(t.Context(), paths)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func service(t testing.TB, res *fhir.Resource) *terminology.Service {
	t.Helper()
	s := terminology.New()
	if err := s.Add(res); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLoad(t *testing.T) {
	res := load(t)
	for name, want := range map[string]string{
		"url": opcs4.URL, "version": "4.10", "date": "2022-11", "content": "complete",
		"hierarchyMeaning": "is-a", "count": "22", "title": "OPCS Classification of Interventions and Procedures 4.10",
	} {
		if got := res.Root.First(name).String(); got != want {
			t.Errorf("CodeSystem.%s = %q, want %q", name, got, want)
		}
	}
	if _, err := fhir.Parse(res.Bytes()); err != nil {
		t.Fatal(err)
	}
	s := service(t, res)
	for _, tc := range []struct {
		code, display     string
		abstract          bool
		kind              string
		parents, children []string
	}{
		{"A", "Nervous system", true, "chapter", []string{}, []string{"A01", "A02"}},
		{"A01", "Major excision of tissue of brain", false, "category", []string{"A"},
			[]string{"A01.1", "A01.2", "A01.3", "A01.8", "A01.9"}},
		{"A01.1", "Hemispherectomy", false, "subcategory", []string{"A01"}, nil},
		{"W37.1", "Primary total prosthetic replacement of hip joint using cement", false, "subcategory", []string{"W37"}, nil},
		{"W", "Other bones and joints", true, "chapter", nil, []string{"W37"}},
		{"Z94.2", "Right sided operation", false, "subcategory", []string{"Z94"}, nil},
	} {
		r, err := s.LookupCode(t.Context(), opcs4.URL, "", tc.code)
		if err != nil {
			t.Errorf("%s: %v", tc.code, err)
			continue
		}
		kind := ""
		for _, p := range r.Properties {
			if p.Code == "kind" {
				kind = p.Value
			}
		}
		if r.Display != tc.display || r.Abstract != tc.abstract || kind != tc.kind {
			t.Errorf("%s: display %q abstract %v kind %q, want %q %v %q", tc.code, r.Display, r.Abstract, kind, tc.display, tc.abstract, tc.kind)
		}
		if tc.parents != nil && !slices.Equal(r.Parents, tc.parents) {
			t.Errorf("%s: parents %v, want %v", tc.code, r.Parents, tc.parents)
		}
		if !slices.Equal(r.Children, tc.children) {
			t.Errorf("%s: children %v, want %v", tc.code, r.Children, tc.children)
		}
	}
	if _, err := s.LookupCode(t.Context(), opcs4.URL, "", "A011"); !errors.Is(err, terminology.ErrUnknownCode) {
		t.Errorf("undotted code: %v, want ErrUnknownCode", err)
	}

	for _, tc := range []struct {
		a, b string
		want terminology.Subsumption
	}{
		{"A01", "A01.3", terminology.ASubsumesB},
		{"A", "A02.9", terminology.ASubsumesB},
		{"W37.9", "W37", terminology.ASubsumedByB},
		{"A01", "A02.1", terminology.NotSubsumed},
		{"Z94", "Z94", terminology.Equivalent},
	} {
		got, err := s.Subsumes(t.Context(), opcs4.URL, tc.a, tc.b)
		if err != nil || got != tc.want {
			t.Errorf("Subsumes(%s, %s) = %s, %v; want %s", tc.a, tc.b, got, err, tc.want)
		}
	}

	for _, tc := range []struct {
		name, filters string
		expand        []string
		valid         map[string]bool
	}{
		{"is-a category", `[{"property":"concept","op":"is-a","value":"A02"}]`,
			[]string{"A02", "A02.1", "A02.9"}, map[string]bool{"A02.1": true, "A01.1": false}},
		{"is-a chapter", `[{"property":"concept","op":"is-a","value":"W"}]`,
			[]string{"W", "W37", "W37.1", "W37.8", "W37.9"}, map[string]bool{"W37.8": true, "W": false, "Z94.1": false}},
		{"subcategories of laterality", `[{"property":"concept","op":"descendent-of","value":"Z94"}]`,
			[]string{"Z94.1", "Z94.2", "Z94.3", "Z94.4", "Z94.9"}, map[string]bool{"Z94.3": true, "Z94": false}},
	} {
		vsRes, err := fhir.Parse(fmt.Appendf(nil, `{"resourceType":"ValueSet","status":"active","compose":{"include":[{"system":%q,"filter":%s}]}}`, opcs4.URL, tc.filters))
		if err != nil {
			t.Fatal(err)
		}
		vs, err := s.CompileValueSet(t.Context(), vsRes)
		if err != nil {
			t.Fatal(err)
		}
		x, err := vs.Expand(terminology.ExpandOptions{})
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
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
			r := vs.ValidateCode(t.Context(), terminology.Coding{System: opcs4.URL, Code: code})
			if r.Valid != want || !r.Known {
				t.Errorf("%s: ValidateCode(%s) = %+v, want valid=%v", tc.name, code, r, want)
			}
		}
	}
}

// writeRelease writes a codes and titles file named name holding body.
func writeRelease(t *testing.T, name, body string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Codes without their dot (as some extracts write them) are read into the dotted form, and
// a release named for OPCS-4.9 is version 4.9.
func TestUndottedCodes(t *testing.T) {
	dir := writeRelease(t, "OPCS49 CodesAndTitles Apr 2020 V1.0.txt", "A01\tMajor excision of tissue of brain\nA011\tHemispherectomy\n")
	res := load(t, dir)
	if v, d := res.Root.Text("version"), res.Root.Text("date"); v != "4.9" || d != "2020-04" {
		t.Errorf("version %q date %q", v, d)
	}
	r, err := service(t, res).LookupCode(t.Context(), opcs4.URL, "", "A01.1")
	if err != nil || r.Display != "Hemispherectomy" || !slices.Equal(r.Parents, []string{"A01"}) {
		t.Errorf("A01.1: %+v, %v", r, err)
	}
}

func TestSaveOpen(t *testing.T) {
	dir := t.TempDir()
	if _, err := opcs4.Open(dir); !errors.Is(err, opcs4.ErrNoIndex) {
		t.Fatalf("Open of an empty data directory: %v, want ErrNoIndex", err)
	}
	res := load(t)
	if err := opcs4.Save(dir, res); err != nil {
		t.Fatal(err)
	}
	// Saving again replaces the file.
	if err := opcs4.Save(dir, res); err != nil {
		t.Fatal(err)
	}
	got, err := opcs4.Open(dir)
	if err != nil || len(got) != 1 {
		t.Fatalf("Open: %v, %v", got, err)
	}
	if string(got[0].Bytes()) != string(res.Bytes()) {
		t.Error("saved code system differs from the one loaded")
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "terminology"))
	if len(entries) != 1 || entries[0].Name() != "opcs4.json" {
		t.Errorf("terminology folder holds %v", entries)
	}
	if _, err := service(t, got[0]).LookupCode(t.Context(), opcs4.URL, "", "Z94.1"); err != nil {
		t.Error(err)
	}
	other, _ := fhir.Parse([]byte(`{"resourceType":"CodeSystem","url":"http://example.org/cs","status":"active","content":"complete"}`))
	if err := opcs4.Save(dir, other); err == nil {
		t.Error("Save accepted a code system that is not OPCS-4")
	}
}

func TestZip(t *testing.T) {
	z := filepath.Join(t.TempDir(), "nhs_opcs4df_10.0.0_20221101000001.zip")
	f, err := os.Create(z)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	b, err := os.ReadFile(filepath.Join(releaseDir, fileName))
	if err != nil {
		t.Fatal(err)
	}
	w, _ := zw.Create("OPCS410 Data files txt/" + fileName)
	w.Write(b)
	w, _ = zw.Create("OPCS410 Data files txt/OPCS410 Data Nov 2022 V1.0.txt")
	w.Write([]byte("fixed-width metadata\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got, want := load(t, z).Bytes(), load(t).Bytes(); string(got) != string(want) {
		t.Error("the release read from a zip differs from the one read from its folder")
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		wants      []string
	}{
		{"wrong column count", "A01\tMajor excision of tissue of brain\nA01.1\tHemispherectomy\textra\n",
			[]string{fileName + ":2:", "3 fields, want 2"}},
		{"one column", "A01\n", []string{fileName + ":1:", "1 fields, want 2"}},
		{"empty code", "A01\tMajor excision\n\tHemispherectomy\n", []string{fileName + ":2:", "empty code"}},
		{"duplicate code", "A01\tMajor excision\nA01.1\tHemispherectomy\nA011\tHemispherectomy again\n",
			[]string{fileName + ":3:", "duplicate code A01.1 (first at line 2)"}},
		{"not a code", "A01\tMajor excision\nA1.1\tHemispherectomy\n", []string{fileName + ":2:", `"A1.1" is not an OPCS-4 code`}},
		{"no title", "A01\t\n", []string{fileName + ":1:", "has no title"}},
		{"empty file", "\n", []string{"has no codes"}},
	} {
		_, err := opcs4.Load(t.Context(), []string{writeRelease(t, fileName, tc.body)})
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
	_, err := opcs4.Load(t.Context(), []string{writeRelease(t, "OPCS410 Data Nov 2022 V1.0.txt", "x\n")})
	if !errors.Is(err, release.ErrMissingFile) || !strings.Contains(err.Error(), "CodesAndTitles") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := opcs4.Load(t.Context(), []string{filepath.Join(t.TempDir(), "absent")}); err == nil {
		t.Error("a path that does not exist was accepted")
	}
}

// A header row, which some extracts add, is skipped.
func TestHeaderRow(t *testing.T) {
	res := load(t, writeRelease(t, fileName, "CODE\tDESCRIPTION\nA01\tMajor excision of tissue of brain\n"))
	if got := res.Root.Text("count"); got != "2" {
		t.Errorf("count %s, want 2 (chapter and category)", got)
	}
}

// BenchmarkLoad loads a generated release of the real one's size (about 11,000 codes).
func BenchmarkLoad(b *testing.B) {
	var sb strings.Builder
	count := 0
	for _, letter := range "ABCDEFGHJKLMNOPQRSTUVWXYZ" {
		for cat := 1; cat < 100 && count < 11000; cat++ {
			fmt.Fprintf(&sb, "%c%02d\tGenerated category %c%02d of the classification\r\n", letter, cat, letter, cat)
			count++
			for sub := 1; sub <= 9 && count < 11000; sub++ {
				fmt.Fprintf(&sb, "%c%02d.%d\tGenerated subcategory %c%02d.%d, a title of typical length\r\n", letter, cat, sub, letter, cat, sub)
				count++
			}
		}
	}
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, fileName), []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	// One load outside the timing: the first parse of any resource loads the FHIR
	// definitions, once per process.
	if _, err := opcs4.Load(b.Context(), []string{dir}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(sb.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := opcs4.Load(b.Context(), []string{dir}); err != nil {
			b.Fatal(err)
		}
	}
}
