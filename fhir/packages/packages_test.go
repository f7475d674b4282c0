package packages

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concord-health/concord/fhir/profiles"
)

const ukCoreDir = "../../../shared/data/uk-core-r4"

func TestLoadFolder(t *testing.T) {
	if _, err := os.Stat(ukCoreDir); err != nil {
		t.Skipf("UK Core not found at %s (see /work/shared/data/README.md)", ukCoreDir)
	}
	pkg, err := Load(ukCoreDir)
	if err != nil {
		t.Fatal(err)
	}
	if pkg.Name != "UKCore.R4.STU.02.00.00" || pkg.Version != "2.0.0" || len(pkg.FHIRVersions) != 1 ||
		pkg.FHIRVersions[0] != "4.0.1" || pkg.Dependencies["hl7.fhir.r4.core"] != "4.0.1" {
		t.Errorf("manifest = %s %s %v %v", pkg.Name, pkg.Version, pkg.FHIRVersions, pkg.Dependencies)
	}
	byType := map[string]int{}
	for _, r := range pkg.Resources {
		byType[r.Type]++
	}
	// One of the 88 CodeSystems has stray text between its elements, which the XML
	// format does not allow: it is reported, and the rest of the package loads.
	want := map[string]int{"StructureDefinition": 153, "ValueSet": 134, "CodeSystem": 87, "ConceptMap": 3, "CapabilityStatement": 1}
	for typ, n := range want {
		if byType[typ] != n {
			t.Errorf("%d %s, want %d", byType[typ], typ, n)
		}
	}
	if len(pkg.Problems) != 1 || !strings.HasPrefix(pkg.Problems[0], filepath.Join("codesystems", "CodeSystem-UKCore-EthnicCategoryScotland.xml")+": ") {
		t.Errorf("problems: %q", pkg.Problems)
	}
}

// tgz builds a package archive from name → content.
func tgz(t *testing.T, files [][2]string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f[0], Mode: 0o644, Size: int64(len(f[1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "package.tgz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const (
	manifest = `{"name":"example.fhir.test","version":"1.2.3","fhirVersions":["4.0.1"],"dependencies":{"hl7.fhir.r4.core":"4.0.1"}}`
	vsJSON   = `{"resourceType":"ValueSet","id":"colours","url":"http://example.org/ValueSet/colours","status":"active"}`
	csXML    = `<CodeSystem xmlns="http://hl7.org/fhir"><id value="colours"/><url value="http://example.org/CodeSystem/colours"/><status value="active"/><content value="complete"/></CodeSystem>`
	patient  = `{"resourceType":"Patient","id":"p1"}`
	badSD    = `{"resourceType":"StructureDefinition","id":"bad","url":42}`
)

func TestLoadArchive(t *testing.T) {
	p := tgz(t, [][2]string{
		{"package/package.json", manifest},
		{"package/.index.json", `{"index-version":1,"files":[]}`},
		{"package/ValueSet-colours.json", vsJSON},
		{"package/CodeSystem-colours.xml", csXML},
		{"package/Patient-p1.json", patient},
		{"package/StructureDefinition-bad.json", badSD},
		{"package/broken.json", `{"resourceType":`},
		{"package/example/ValueSet-example.json", strings.Replace(vsJSON, "colours", "example", -1)},
		{"package/other/readme.json", vsJSON},
		{"package/notes.txt", "not a resource"},
		{"other/ValueSet-x.json", vsJSON},
	})
	pkg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if pkg.Name != "example.fhir.test" || pkg.Version != "1.2.3" || pkg.Dependencies["hl7.fhir.r4.core"] != "4.0.1" {
		t.Errorf("manifest = %+v", pkg)
	}
	var got []string
	for _, r := range pkg.Resources {
		got = append(got, r.Type+"/"+r.ID)
	}
	if strings.Join(got, " ") != "ValueSet/colours CodeSystem/colours" {
		t.Errorf("resources = %v", got)
	}
	if len(pkg.Problems) != 2 || !strings.HasPrefix(pkg.Problems[0], "package/StructureDefinition-bad.json: ") ||
		!strings.HasPrefix(pkg.Problems[1], "package/broken.json: ") {
		t.Errorf("problems = %q", pkg.Problems)
	}

	all, err := LoadWith(p, Options{AllResources: true})
	if err != nil || len(all.Resources) != 3 {
		t.Errorf("with all resources: %d, %v", len(all.Resources), err)
	}
}

func TestLoadLimits(t *testing.T) {
	files := [][2]string{{"package/package.json", manifest}}
	for i := 0; i < 20; i++ {
		files = append(files, [2]string{"package/ValueSet-" + string(rune('a'+i)) + ".json", vsJSON})
	}
	p := tgz(t, files)
	tests := []struct {
		name     string
		opt      Options
		tooLarge bool
		problems int
	}{
		{"within limits", Options{}, false, 0},
		{"too many files", Options{MaxFiles: 10}, true, 0},
		{"too many bytes", Options{MaxTotalSize: 1000}, true, 0},
		{"a file too large", Options{MaxFileSize: int64(len(vsJSON) - 1)}, false, 21},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pkg, err := LoadWith(p, tc.opt)
			if tc.tooLarge {
				if !errors.Is(err, ErrTooLarge) {
					t.Errorf("err = %v, want ErrTooLarge", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(pkg.Problems) != tc.problems {
				t.Errorf("problems = %q", pkg.Problems)
			}
		})
	}
}

// writeFiles writes name → content into a new temporary folder.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadFolderOfFiles(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"package.json":        manifest,
		"vs/ValueSet-c.json":  vsJSON,
		"cs/CodeSystem-c.xml": csXML,
		"cs/bad.xml":          "<CodeSystem",
		"Patient-p1.json":     patient,
		".git/config.json":    vsJSON,
		"examples/vs.json":    vsJSON,
	})
	pkg, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if pkg.Name != "example.fhir.test" || len(pkg.Resources) != 2 || len(pkg.Problems) != 1 ||
		!strings.HasPrefix(pkg.Problems[0], filepath.Join("cs", "bad.xml")+": ") {
		t.Errorf("name %q, %d resources, problems %q", pkg.Name, len(pkg.Resources), pkg.Problems)
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing path loaded")
	}

	// An unpacked archive is read from its package folder, without its examples.
	unpacked := writeFiles(t, map[string]string{
		"package/package.json":            manifest,
		"package/ValueSet-c.json":         vsJSON,
		"package/example/ValueSet-x.json": vsJSON,
	})
	pkg, err = Load(unpacked)
	if err != nil || pkg.Name != "example.fhir.test" || len(pkg.Resources) != 1 {
		t.Errorf("unpacked: %+v, %v", pkg, err)
	}
}

// TestLoadArchiveOfUKCore packs a few UK Core definitions as a registry package would and
// generates a profile's snapshot from what Load returns.
func TestLoadArchiveOfUKCore(t *testing.T) {
	dir := filepath.Join(ukCoreDir, "structuredefinitions")
	names := []string{"UKCore-Patient.xml", "Extension-UKCore-EthnicCategory.xml", "Extension-UKCore-NHSNumberVerificationStatus.xml"}
	files := [][2]string{}
	for _, n := range append([]string{"../package.json"}, names...) {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Skipf("UK Core not found at %s (see /work/shared/data/README.md): %v", ukCoreDir, err)
		}
		files = append(files, [2]string{"package/" + filepath.Base(n), string(data)})
	}
	pkg, err := Load(tgz(t, files))
	if err != nil {
		t.Fatal(err)
	}
	if pkg.Name != "UKCore.R4.STU.02.00.00" || len(pkg.Resources) != 3 || len(pkg.Problems) != 0 {
		t.Fatalf("%s: %d resources, problems %q", pkg.Name, len(pkg.Resources), pkg.Problems)
	}
	set := profiles.New()
	for _, r := range pkg.Resources {
		if err := set.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	sd, err := set.Get("https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient")
	if err != nil || sd == nil || !sd.Generated || len(sd.Problems) != 0 {
		t.Fatalf("UKCore-Patient: %v, %v", sd, err)
	}
	if e := sd.ElementByID("Patient.identifier:nhsNumber.system"); e == nil || e.Fixed.String() != "https://fhir.nhs.uk/Id/nhs-number" {
		t.Errorf("nhsNumber system = %+v", e)
	}
	if got := len(set.URLs()); got != 3 {
		t.Errorf("URLs = %v", set.URLs())
	}
}
