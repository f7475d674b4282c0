package release

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
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
	if b := contents(t, got); b != "read me" {
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

// contents reads a release file.
func contents(t *testing.T, f File) string {
	t.Helper()
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// writeZip writes a zip of the entries given, name to content.
func writeZip(t *testing.T, w io.Writer, entries map[string][]byte) {
	t.Helper()
	zw := zip.NewWriter(w)
	for _, name := range slices.Sorted(maps.Keys(entries)) {
		fw, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(entries[name])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNestedZip(t *testing.T) {
	var inner bytes.Buffer
	writeZip(t, &inner, map[string][]byte{"f_gtin.xml": []byte("gtin")})
	dir := t.TempDir()
	z := filepath.Join(dir, "release.zip")
	f, _ := os.Create(z)
	writeZip(t, f, map[string][]byte{"Docs/readme.txt": []byte("read me"), "week21-GTIN.zip": inner.Bytes()})
	f.Close()
	os.Symlink(z, filepath.Join(dir, "link.zip"))
	os.Symlink("nowhere", filepath.Join(dir, "broken.txt"))

	files, closeFiles, err := Files([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	defer closeFiles()
	want := []string{"link.zip!Docs/readme.txt", "link.zip!week21-GTIN.zip!f_gtin.xml",
		"release.zip!Docs/readme.txt", "release.zip!week21-GTIN.zip!f_gtin.xml"}
	if len(files) != len(want) {
		t.Fatalf("files %+v, want %q", files, want)
	}
	for i, f := range files {
		if f.Name != filepath.Join(dir, want[i]) {
			t.Errorf("file %d is %s, want %s", i, f.Name, want[i])
		}
	}
	if gtin := files[3]; contents(t, gtin) != "gtin" || gtin.Base != "f_gtin.xml" || gtin.Size != 4 {
		t.Errorf("nested entry %+v", gtin)
	}

	// A zip inside a zip says how large it is before it is read: too large is an error.
	big := filepath.Join(t.TempDir(), "big.zip")
	f, _ = os.Create(big)
	zw := zip.NewWriter(f)
	w, _ := zw.CreateRaw(&zip.FileHeader{Name: "huge.zip", Method: zip.Store,
		CompressedSize64: uint64(inner.Len()), UncompressedSize64: maxNestedZip + 1})
	w.Write(inner.Bytes())
	zw.Close()
	f.Close()
	if _, _, err := Files([]string{big}); err == nil || !strings.Contains(err.Error(), "big.zip!huge.zip") ||
		!strings.Contains(err.Error(), "over the 512 MiB allowed") {
		t.Errorf("oversized nested zip: %v", err)
	}
}

func TestOpenFile(t *testing.T) {
	dir := t.TempDir()
	f, _ := os.Create(filepath.Join(dir, "release.zip"))
	writeZip(t, f, map[string][]byte{"codes.txt": []byte("A00\tCholera\n"), "notes.txt": []byte("x")})
	f.Close()

	codes := regexp.MustCompile(`^codes\.txt$`)
	got, rc, err := OpenFile([]string{dir}, "the codes", Named(codes))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	if err := rc.Close(); err != nil {
		t.Error(err)
	}
	if got.Base != "codes.txt" || string(b) != "A00\tCholera\n" {
		t.Errorf("OpenFile: %+v read %q", got, b)
	}
	if _, _, err := OpenFile(nil, "the codes", Named(codes)); err == nil || err.Error() != "no release given" {
		t.Errorf("no paths: %v", err)
	}
	if _, _, err := OpenFile([]string{dir}, "the index (index.txt)", Named(regexp.MustCompile(`^index`))); !errors.Is(err, ErrMissingFile) {
		t.Errorf("missing: %v", err)
	}
	boom := errors.New("unreadable")
	if _, _, err := OpenFile([]string{dir}, "the codes", func(File) (bool, error) { return false, boom }); !errors.Is(err, boom) {
		t.Errorf("match error: %v", err)
	}
}

func TestConcepts(t *testing.T) {
	in := "A00\tCholera\nskip\nA00\tAgain\nbad\nA01\tTyphoid\n"
	rs := NewRows(strings.NewReader(in), "f.txt")
	concept := func(row []string) (*Concept, string) {
		switch {
		case row[0] == "skip":
			return nil, ""
		case len(row) != 2:
			return nil, "one field"
		}
		return &Concept{Code: row[0], Display: row[1]}, ""
	}
	_, err := rs.Concepts(t.Context(), concept)
	if err == nil || !strings.Contains(err.Error(), "f.txt:3: duplicate code A00 (first at line 1)") || !strings.Contains(err.Error(), "f.txt:4: one field") {
		t.Errorf("Concepts: %v", err)
	}
	list, err := NewRows(strings.NewReader("A00\tCholera\nskip\nA01\tTyphoid\n"), "f.txt").Concepts(t.Context(), concept)
	if err != nil || len(list) != 2 || list[1].Display != "Typhoid" {
		t.Errorf("Concepts: %v, %v", list, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := NewRows(strings.NewReader(in), "f.txt").Concepts(ctx, concept); err != context.Canceled {
		t.Errorf("cancelled: %v", err)
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
