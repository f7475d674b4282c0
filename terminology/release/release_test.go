package release

import (
	"archive/zip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/concord-health/concord/fhir"
)

func TestFilesAndFind(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "Content"), 0o755)
	os.WriteFile(filepath.Join(dir, "Content", "codes.txt"), []byte("a\n"), 0o644)
	z := filepath.Join(dir, "Release.ZIP")
	f, _ := os.Create(z)
	zw := zip.NewWriter(f)
	w, _ := zw.Create("Docs/readme.txt")
	w.Write([]byte("read me"))
	zw.Close()
	f.Close()

	files, closeFiles, err := Files([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	defer closeFiles()
	var names []string
	for _, f := range files {
		names = append(names, f.Base)
	}
	if want := []string{"codes.txt", "readme.txt"}; !slices.Equal(names, want) {
		t.Fatalf("files %v, want %v", names, want)
	}
	got, err := Find(files, "the read-me", func(b string) bool { return b == "readme.txt" })
	if err != nil || !strings.HasSuffix(got.Name, "Release.ZIP!Docs/readme.txt") || got.Size != 7 {
		t.Fatalf("Find: %+v, %v", got, err)
	}
	rc, err := got.Open()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "read me" {
		t.Errorf("read %q", b)
	}
	if _, err := Find(files, "the index file (index.txt)", func(b string) bool { return b == "index.txt" }); !errors.Is(err, ErrMissingFile) || !strings.Contains(err.Error(), "index.txt") {
		t.Errorf("missing: %v", err)
	}
	if _, err := Find(files, "a text file", func(b string) bool { return strings.HasSuffix(b, ".txt") }); err == nil || !strings.Contains(err.Error(), "more than one") {
		t.Errorf("ambiguous: %v", err)
	}
	if _, _, err := Files([]string{filepath.Join(dir, "absent")}); err == nil {
		t.Error("a missing path was accepted")
	}
}

func TestRows(t *testing.T) {
	in := "\xef\xbb\xbfCODE\tTITLE\r\n\r\nA00\tCholera\r\n   \nA01\tTyphoid \x96 fever"
	rs := NewRows(strings.NewReader(in), "f.txt")
	var got [][]string
	var lines []int
	for {
		row, err := rs.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, row)
		lines = append(lines, rs.Line())
	}
	want := [][]string{{"CODE", "TITLE"}, {"A00", "Cholera"}, {"A01", "Typhoid – fever"}}
	if len(got) != len(want) {
		t.Fatalf("rows %q", got)
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("row %d: %q, want %q", i, got[i], want[i])
		}
	}
	if !slices.Equal(lines, []int{1, 3, 5}) {
		t.Errorf("lines %v", lines)
	}
	for i := 0; i < MaxRowErrors+5; i++ {
		if stop := rs.Reject("bad %d", i); stop != (i >= MaxRowErrors-1) {
			t.Fatalf("Reject %d: stop %v", i, stop)
		}
	}
	err := rs.Err()
	var re *RowError
	if !errors.As(err, &re) || re.Error() != "f.txt:5: bad 0" || !strings.Contains(err.Error(), "5 more malformed rows") {
		t.Errorf("Err: %v", err)
	}
}

func TestCodeSystem(t *testing.T) {
	child := &Concept{Code: "a.1", Display: "A one", Designations: []Designation{{Language: "en", Use: UseSynonym, UseDisplay: "Synonym", Value: "First A"}}}
	child.Add("rank", "1")
	child.Add("flag", "true")
	child.Add("site", "http://snomed.info/sct|123037004")
	cs := &CodeSystem{
		ID: "x", URL: "http://example.org/cs", Version: "1", Name: "X", Title: "X", Date: "2022-11",
		HierarchyMeaning: "is-a",
		Properties: []PropertyDef{{Code: "rank", Type: "integer"}, {Code: "flag", Type: "boolean"},
			{Code: "site", Type: "Coding"}, {Code: "note", Type: "string"}},
		Concepts: []*Concept{{Code: "a", Display: "A \"quoted\"", Definition: "Def", Children: []*Concept{child}}},
	}
	if cs.Count() != 2 {
		t.Errorf("count %d", cs.Count())
	}
	res, err := cs.Resource()
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Root.Text("count"); got != "2" {
		t.Errorf("count element %q", got)
	}
	c := res.Root.First("concept").First("concept")
	if c.Text("code") != "a.1" || len(c.Child("property")) != 3 || c.First("designation").First("use").Text("code") != UseSynonym {
		t.Errorf("nested concept %s", fhir.Marshal(c))
	}
	child.Add("undeclared", "x")
	if _, err := cs.Resource(); err == nil || !strings.Contains(err.Error(), `property "undeclared" is not declared`) {
		t.Errorf("undeclared property: %v", err)
	}
	child.Properties = []Property{{"rank", "one"}}
	if _, err := cs.Resource(); err == nil {
		t.Error("a non-integer integer property was accepted")
	}
}

func TestSaveOpen(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir, "terminology/x.json"); !errors.Is(err, ErrNoIndex) {
		t.Fatalf("Open: %v, want ErrNoIndex", err)
	}
	res, err := (&CodeSystem{URL: "http://example.org/cs", Concepts: []*Concept{{Code: "a"}}}).Resource()
	if err != nil {
		t.Fatal(err)
	}
	if err := Save(dir, "terminology/x.json", res); err != nil {
		t.Fatal(err)
	}
	got, err := Open(dir, "terminology/x.json")
	if err != nil || string(got.Bytes()) != string(res.Bytes()) {
		t.Fatalf("Open: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "terminology"))
	if len(entries) != 1 {
		t.Errorf("left %v", entries)
	}
	os.WriteFile(filepath.Join(dir, "terminology", "p.json"), []byte(`{"resourceType":"Patient"}`), 0o644)
	if _, err := Open(dir, "terminology/p.json"); err == nil {
		t.Error("a Patient was opened as a code system")
	}
	if err := Save(dir, "terminology/y.json", nil); err == nil {
		t.Error("saved nothing")
	}
}
