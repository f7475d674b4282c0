package dmd

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The fixture under testdata/release is a small release in the official file format:
// paracetamol and amoxicillin products from three suppliers, an invalid VTM, an invalid
// VMP and an invalid ingredient. Its ids are SCTIDs with valid check digits; those of the
// VTMs, the tablet and capsule VMPs, the substances, forms, routes and units are the real
// ones, the others (UK extension ids) are made up for the fixture.
const fixture = "testdata/release"

// Ids from the fixture.
const (
	vtmParacetamol  uint64 = 90332006
	vtmAmoxicillin  uint64 = 27658006
	vtmInvalid      uint64 = 502111000001104
	vmpPara500      uint64 = 322236009
	vmpParaSusp     uint64 = 396951000001103
	vmpParaInf      uint64 = 421091000001100
	vmpAmox250      uint64 = 323509004
	vmpAmox500      uint64 = 323510009
	vmpAmoxSachet   uint64 = 391131000001103
	vmppPara500x32  uint64 = 108971000001101
	vmppPara500x100 uint64 = 108981000001104
	vmppParaSusp    uint64 = 108991000001102
	vmppParaInf     uint64 = 109001000001102
	vmppAmox250     uint64 = 109011000001100
	vmppAmox500     uint64 = 109021000001109
	ampPara500Acc   uint64 = 205511000001107
	ampPara500Kent  uint64 = 205521000001103
	ampCalpol       uint64 = 205531000001101
	ampParaInf      uint64 = 205541000001108
	ampAmox250      uint64 = 205551000001106
	ampAmox500      uint64 = 205561000001109
	amppAcc32       uint64 = 307111000001104
	amppAcc100      uint64 = 307121000001108
	amppKent32      uint64 = 307131000001105
	amppCalpol      uint64 = 307141000001103
	amppParaInf     uint64 = 307151000001100
	amppAmox250     uint64 = 307161000001102
	amppAmox500     uint64 = 307171000001107
)

func loadFixture(tb testing.TB) *Release {
	tb.Helper()
	r, err := Load(context.Background(), []string{fixture}, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func TestLoad(t *testing.T) {
	var reports []Progress
	r, err := Load(t.Context(), []string{fixture}, Options{Progress: func(p Progress) { reports = append(reports, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if r.Version() != "2024-05-20" {
		t.Errorf("Version = %q", r.Version())
	}
	if r.Len() != 28 {
		t.Errorf("Len = %d, want 28", r.Len())
	}
	if len(reports) == 0 {
		t.Fatal("no progress reported")
	}
	last := reports[len(reports)-1]
	if last.BytesTotal == 0 || last.BytesRead != last.BytesTotal || last.Records == 0 {
		t.Errorf("last progress = %+v", last)
	}
	for i := 1; i < len(reports); i++ {
		if reports[i].BytesRead < reports[i-1].BytesRead {
			t.Errorf("progress went back: %+v after %+v", reports[i], reports[i-1])
		}
	}
}

func TestConcept(t *testing.T) {
	r := loadFixture(t)
	tablet := Coded{Code: "385055001", Display: "Tablet"}
	oral := Coded{Code: "26643006", Display: "Oral"}
	tests := []struct {
		id   uint64
		want Concept
	}{
		{vtmParacetamol, Concept{Class: VTM, ID: vtmParacetamol, Name: "Paracetamol"}},
		{vtmInvalid, Concept{Class: VTM, ID: vtmInvalid, Name: "Amoxicillin sodium", AbbrevName: "Amoxicillin Na", Invalid: true}},
		{vmpPara500, Concept{Class: VMP, ID: vmpPara500, Name: "Paracetamol 500mg tablets", VTM: vtmParacetamol,
			Ingredients: []Ingredient{{ID: 387517004, Name: "Paracetamol", Strength: "500 mg",
				BasisOfStrength: Coded{"0001", "Based on Ingredient Substance"}}},
			Forms: []Coded{tablet}, Routes: []Coded{oral},
			PrescribingStatus: Coded{"0001", "Valid as a prescribable product"},
			BasisOfName:       Coded{"0001", "rINN - Recommended International Non-proprietary"},
			ControlledDrug:    Coded{"0000", "No Controlled Drug Status"},
			Availability:      Coded{"0000", "Actual Products Available"}}},
		{vmpParaSusp, Concept{Class: VMP, ID: vmpParaSusp, Name: "Paracetamol 120mg/5ml oral suspension sugar free",
			AbbrevName: "Paracetamol 120mg/5ml oral susp S/F", VTM: vtmParacetamol,
			Ingredients: []Ingredient{{ID: 387517004, Name: "Paracetamol", Strength: "120 mg/5 ml",
				BasisOfStrength: Coded{"0001", "Based on Ingredient Substance"}}},
			Forms: []Coded{{"385024007", "Oral suspension"}}, Routes: []Coded{oral},
			PrescribingStatus: Coded{"0001", "Valid as a prescribable product"},
			BasisOfName:       Coded{"0001", "rINN - Recommended International Non-proprietary"},
			ControlledDrug:    Coded{"0000", "No Controlled Drug Status"},
			Availability:      Coded{"0000", "Actual Products Available"}}},
		{vmpAmoxSachet, Concept{Class: VMP, ID: vmpAmoxSachet, Name: "Amoxicillin 3g oral powder sachets sugar free",
			AbbrevName: "Amoxicillin 3g oral pdr sach S/F", Invalid: true, PreviousID: 391121000001100, VTM: vtmAmoxicillin,
			Ingredients: []Ingredient{{ID: 96068000, Name: "Amoxicillin trihydrate", Strength: "3 gram",
				BasisOfStrength: Coded{"0002", "Based on Base Substance"}, BasisSubstance: 372687004}},
			Forms: []Coded{{"85581007", "Powder"}}, Routes: []Coded{oral},
			PrescribingStatus: Coded{"0002", "Invalid to prescribe in NHS primary care"},
			BasisOfName:       Coded{"0001", "rINN - Recommended International Non-proprietary"},
			Availability:      Coded{"0001", "Actual Products not Available"}}},
		{vmppPara500x32, Concept{Class: VMPP, ID: vmppPara500x32, Name: "Paracetamol 500mg tablets 32 tablet", VMP: vmpPara500, Quantity: "32 tablet"}},
		{vmppParaSusp, Concept{Class: VMPP, ID: vmppParaSusp, Name: "Paracetamol 120mg/5ml oral suspension sugar free 100 ml", VMP: vmpParaSusp, Quantity: "100 ml"}},
		{ampPara500Kent, Concept{Class: AMP, ID: ampPara500Kent, Name: "Paracetamol 500mg tablets",
			Description: "Paracetamol 500mg tablets (Kent Pharma (UK) Ltd)", VMP: vmpPara500, Routes: []Coded{oral},
			Supplier:           Coded{"20801000001101", "Kent Pharma (UK) Ltd"},
			LicensingAuthority: Coded{"0001", "Medicines - MHRA/EMA"},
			Availability:       Coded{"0001", "None"}}},
		{ampCalpol, Concept{Class: AMP, ID: ampCalpol, Name: "Calpol Infant 120mg/5ml oral suspension",
			AbbrevName: "Calpol Infant 120mg/5ml oral susp", Description: "Calpol Infant 120mg/5ml oral suspension (McNeil Products Ltd)",
			VMP: vmpParaSusp, Routes: []Coded{oral}, Excipients: []Ingredient{{ID: 88201000001109, Name: "Maltitol liquid", Strength: "1 gram"}},
			Supplier:           Coded{"31371000001109", "McNeil Products Ltd"},
			LicensingAuthority: Coded{"0001", "Medicines - MHRA/EMA"},
			Availability:       Coded{"0001", "None"}}},
		{amppAcc32, Concept{Class: AMPP, ID: amppAcc32, Name: "Paracetamol 500mg tablets (Accord Healthcare Ltd) 32 tablet",
			VMPP: vmppPara500x32, AMP: ampPara500Acc, LegalCategory: Coded{"0002", "P"}, GTINs: []string{"5012345600024"}}},
		{amppKent32, Concept{Class: AMPP, ID: amppKent32, Name: "Paracetamol 500mg tablets (Kent Pharma (UK) Ltd) 32 tablet",
			VMPP: vmppPara500x32, AMP: ampPara500Kent, LegalCategory: Coded{"0002", "P"}, Discontinued: Coded{"0001", "Discontinued Flag"}}},
		{amppCalpol, Concept{Class: AMPP, ID: amppCalpol, Name: "Calpol Infant 120mg/5ml oral suspension (McNeil Products Ltd) 100 ml",
			VMPP: vmppParaSusp, AMP: ampCalpol, LegalCategory: Coded{"0001", "GSL"}}},
	}
	for _, tc := range tests {
		got, ok := r.Concept(tc.id)
		if !ok {
			t.Errorf("Concept(%d) not found", tc.id)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Concept(%d) =\n%+v\nwant\n%+v", tc.id, got, tc.want)
		}
	}
	if _, ok := r.Concept(387517004); ok {
		t.Error("a substance was found as a product")
	}
	if name, ok := r.Substance(307181000001109); !ok || name != "Paracetamol DC 96%" {
		t.Errorf("Substance = %q, %v", name, ok)
	}
}

func TestHierarchy(t *testing.T) {
	r := loadFixture(t)
	tests := []struct {
		id                uint64
		parents, children []uint64
	}{
		{vtmParacetamol, nil, []uint64{vmpPara500, vmpParaSusp, vmpParaInf}},
		{vtmAmoxicillin, nil, []uint64{vmpAmox250, vmpAmox500, vmpAmoxSachet}},
		{vtmInvalid, nil, nil},
		{vmpPara500, []uint64{vtmParacetamol}, []uint64{vmppPara500x32, vmppPara500x100, ampPara500Acc, ampPara500Kent}},
		{vmpAmoxSachet, []uint64{vtmAmoxicillin}, nil},
		{vmppPara500x32, []uint64{vmpPara500}, []uint64{amppAcc32, amppKent32}},
		{ampPara500Acc, []uint64{vmpPara500}, []uint64{amppAcc32, amppAcc100}},
		{amppKent32, []uint64{vmppPara500x32, ampPara500Kent}, nil},
		{12345, nil, nil},
	}
	for _, tc := range tests {
		if got := r.Parents(tc.id); !slices.Equal(got, tc.parents) {
			t.Errorf("Parents(%d) = %v, want %v", tc.id, got, tc.parents)
		}
		if got := r.Children(tc.id); !slices.Equal(got, tc.children) {
			t.Errorf("Children(%d) = %v, want %v", tc.id, got, tc.children)
		}
	}
	for _, tc := range []struct {
		a, b uint64
		want bool
	}{
		{vtmParacetamol, vtmParacetamol, true},
		{vtmParacetamol, vmpPara500, true},
		{vtmParacetamol, amppKent32, true},
		{vtmParacetamol, ampCalpol, true},
		{vmpPara500, amppAcc100, true},
		{vmppPara500x32, amppKent32, true},
		{ampPara500Kent, amppKent32, true},
		{ampPara500Kent, amppAcc32, false},
		{vmppPara500x32, amppAcc100, false},
		{vtmAmoxicillin, amppAcc32, false},
		{vmpPara500, vtmParacetamol, false},
		{amppKent32, ampPara500Kent, false},
		{vmppPara500x32, ampPara500Acc, false},
		{vtmParacetamol, 12345, false},
	} {
		if got := r.Subsumes(tc.a, tc.b); got != tc.want {
			t.Errorf("Subsumes(%d, %d) = %v", tc.a, tc.b, got)
		}
	}
}

// zipFixture writes the fixture as a release zip: the XML files in a folder, and the GTIN
// file in a zip of its own inside, as TRUD ships it.
func zipFixture(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nhsbsa_dmd_5.3.0_20240520000001.zip")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	entries, err := os.ReadDir(fixture)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(fixture, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(e.Name(), "f_gtin2") {
			var inner bytes.Buffer
			iz := zip.NewWriter(&inner)
			w, _ := iz.Create(e.Name())
			w.Write(data)
			if err := iz.Close(); err != nil {
				t.Fatal(err)
			}
			e, data := "week212024-r2_3-GTIN.zip", inner.Bytes()
			w, _ = zw.Create(e)
			w.Write(data)
			continue
		}
		w, err := zw.Create("nhsbsa_dmd_5.3.0_20240520000001/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// sameRelease compares two releases concept by concept.
func sameRelease(t *testing.T, got, want *Release) {
	t.Helper()
	if got.Version() != want.Version() || got.Len() != want.Len() {
		t.Fatalf("release %s with %d products, want %s with %d", got.Version(), got.Len(), want.Version(), want.Len())
	}
	for _, rec := range want.idx.Records {
		a, _ := got.Concept(rec.ID)
		b, _ := want.Concept(rec.ID)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("Concept(%d) = %+v, want %+v", rec.ID, a, b)
		}
		if !slices.Equal(got.Children(rec.ID), want.Children(rec.ID)) || !slices.Equal(got.Parents(rec.ID), want.Parents(rec.ID)) {
			t.Errorf("hierarchy of %d differs", rec.ID)
		}
	}
}

func TestLoadZip(t *testing.T) {
	want := loadFixture(t)
	zipped := zipFixture(t)
	got, err := Load(t.Context(), []string{zipped}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sameRelease(t, got, want)
	if c, _ := got.Concept(amppAmox500); !slices.Equal(c.GTINs, []string{"5012345600031"}) {
		t.Errorf("GTINs from the nested zip = %v", c.GTINs)
	}
	// A folder holding the unpacked files and the zip they came from is the same release.
	dir := t.TempDir()
	copyFixture(t, dir, nil)
	data, _ := os.ReadFile(zipped)
	os.WriteFile(filepath.Join(dir, "release.zip"), data, 0o644)
	got, err = Load(t.Context(), []string{dir}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sameRelease(t, got, want)
}

// copyFixture copies the fixture into dir, with edit changing a file's content (nil to
// leave it out).
func copyFixture(t *testing.T, dir string, edit map[string]func(string) []byte) {
	t.Helper()
	entries, err := os.ReadDir(fixture)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(fixture, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if fn, ok := edit[e.Name()]; ok {
			if fn == nil {
				continue
			}
			data = fn(string(data))
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	replace := func(old, new string) func(string) []byte {
		return func(s string) []byte {
			if !strings.Contains(s, old) {
				panic("fixture does not contain " + old)
			}
			return []byte(strings.Replace(s, old, new, 1))
		}
	}
	tests := []struct {
		name string
		edit map[string]func(string) []byte
		want []string // substrings of the error
	}{
		{"missing VMPP file", map[string]func(string) []byte{"f_vmpp2_3200524.xml": nil}, []string{"no VMPP file"}},
		{"missing lookup and ingredient files", map[string]func(string) []byte{"f_lookup2_3200524.xml": nil, "f_ingredient2_3200524.xml": nil},
			[]string{"no LOOKUP file (f_lookup2_3DDMMYY.xml)", "no INGREDIENT file"}},
		{"malformed XML", map[string]func(string) []byte{"f_vmp2_3200524.xml": replace("</NM>\n      <BASISCD>0001</BASISCD>\n      <PRES_STATCD>0001</PRES_STATCD>\n      <NON_AVAILCD>", "</NAME>\n      <NON_AVAILCD>")},
			[]string{"f_vmp2_3200524.xml", "line 9"}},
		{"truncated file", map[string]func(string) []byte{"f_amp2_3200524.xml": func(s string) []byte { return []byte(s[:len(s)/2]) }},
			[]string{"f_amp2_3200524.xml", "unexpected EOF"}},
		{"record without id", map[string]func(string) []byte{"f_vmpp2_3200524.xml": replace("<VPPID>108991000001102</VPPID>", "")},
			[]string{"f_vmpp2_3200524.xml", "<VMPP> at line 19", `"Paracetamol 120mg/5ml oral suspension sugar free 100 ml"`, "no VPPID"}},
		{"id not a number", map[string]func(string) []byte{"f_vtm2_3200524.xml": replace("<VTMID>27658006</VTMID>", "<VTMID>27658OO6</VTMID>")},
			[]string{"f_vtm2_3200524.xml", "<VTM> at line 4", `"Amoxicillin"`, `VTMID "27658OO6" is not an identifier`}},
		{"AMPP without its AMP", map[string]func(string) []byte{"f_ampp2_3200524.xml": replace("<APID>205531000001101</APID>", "")},
			[]string{"f_ampp2_3200524.xml", "<AMPP> at line", "Calpol", "no APID"}},
		{"bad strength", map[string]func(string) []byte{"f_vmp2_3200524.xml": replace("<STRNT_NMRTR_VAL>500.000", "<STRNT_NMRTR_VAL>five hundred")},
			[]string{"f_vmp2_3200524.xml", "<VPI> at line", `"five hundred" is not a number`}},
		{"wrong root", map[string]func(string) []byte{"f_vtm2_3200524.xml": replace("VIRTUAL_THERAPEUTIC_MOIETIES", "VIRTUAL_THERAPEUTIC_MOIETY")},
			[]string{"f_vtm2_3200524.xml", "root element"}},
		{"empty file", map[string]func(string) []byte{"f_vtm2_3200524.xml": func(string) []byte { return nil }},
			[]string{"f_vtm2_3200524.xml", "empty file"}},
		{"duplicate product", map[string]func(string) []byte{"f_amp2_3200524.xml": replace("<APID>205561000001109</APID>", "<APID>323510009</APID>")},
			[]string{"product 323510009 appears twice", "VMP", "AMP"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			copyFixture(t, dir, tc.edit)
			_, err := Load(t.Context(), []string{dir}, Options{})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}

	// Two releases in one folder.
	dir := t.TempDir()
	copyFixture(t, dir, nil)
	data, _ := os.ReadFile(filepath.Join(fixture, "f_vmp2_3200524.xml"))
	os.WriteFile(filepath.Join(dir, "f_vmp2_3270524.xml"), data, 0o644)
	if _, err := Load(t.Context(), []string{dir}, Options{}); err == nil || !strings.Contains(err.Error(), "two VMP files") {
		t.Errorf("two releases: %v", err)
	}
	if _, err := Load(t.Context(), nil, Options{}); err == nil {
		t.Error("no paths: no error")
	}
	if _, err := Load(t.Context(), []string{filepath.Join(dir, "nowhere")}, Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing folder: %v", err)
	}
}

func TestLoadCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Load(ctx, []string{fixture}, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled before: %v", err)
	}
	// Cancelled part way, from the progress callback.
	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	calls := 0
	_, err := Load(ctx, []string{fixture}, Options{Progress: func(p Progress) {
		if calls++; calls == 3 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled during: %v", err)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind fileKind
		date string
		ok   bool
	}{
		{"f_vtm2_3200524.xml", kindVTM, "2024-05-20", true},
		{"f_vmp2_3101220.xml", kindVMP, "2020-12-10", true},
		{"f_vmpp2_3101220.xml", kindVMPP, "2020-12-10", true},
		{"f_amp2_3101220.xml", kindAMP, "2020-12-10", true},
		{"f_ampp2_3101220.xml", kindAMPP, "2020-12-10", true},
		{"f_ingredient2_3101220.xml", kindIngredient, "2020-12-10", true},
		{"f_lookup2_3101220.xml", kindLookup, "2020-12-10", true},
		{"f_gtin2_0101220.xml", kindGTIN, "2020-12-10", true},
		{"F_VTM2_3200524.XML", kindVTM, "2024-05-20", true},
		{"f_vtm2_3999999.xml", kindVTM, "", true},
		{"f_bnf1_0260821.xml", 0, "", false},
		{"f_vtm_ing1_0260821.xml", 0, "", false},
		{"f_history1_0260821.xml", 0, "", false},
		{"vtm_v2_3.xsd", 0, "", false},
	} {
		kind, date, ok := classify(tc.name)
		if ok != tc.ok || ok && (kind != tc.kind || date != tc.date) {
			t.Errorf("classify(%s) = %v %q %v", tc.name, kind, date, ok)
		}
	}
}

// The fixture's ids are SCTIDs: their Verhoeff check digits hold.
func TestFixtureIDs(t *testing.T) {
	ids := regexp.MustCompile(`<([A-Z_]+)>(\d{6,})</([A-Z_]+)>`)
	files, _ := filepath.Glob(filepath.Join(fixture, "*.xml"))
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ids.FindAllStringSubmatch(string(data), -1) {
			if m[1] == "GTIN" {
				continue
			}
			n++
			if !verhoeff(m[2]) {
				t.Errorf("%s: <%s>%s is not an SCTID (check digit)", filepath.Base(f), m[1], m[2])
			}
		}
	}
	if n < 100 {
		t.Errorf("only %d ids checked", n)
	}
}

func verhoeff(s string) bool {
	d := [10][10]int{
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 3, 4, 0, 6, 7, 8, 9, 5},
		{2, 3, 4, 0, 1, 7, 8, 9, 5, 6}, {3, 4, 0, 1, 2, 8, 9, 5, 6, 7},
		{4, 0, 1, 2, 3, 9, 5, 6, 7, 8}, {5, 9, 8, 7, 6, 0, 4, 3, 2, 1},
		{6, 5, 9, 8, 7, 1, 0, 4, 3, 2}, {7, 6, 5, 9, 8, 2, 1, 0, 4, 3},
		{8, 7, 6, 5, 9, 3, 2, 1, 0, 4}, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
	}
	p := [8][10]int{
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 5, 7, 6, 2, 8, 3, 0, 9, 4},
		{5, 8, 0, 3, 7, 9, 6, 1, 4, 2}, {8, 9, 1, 6, 0, 4, 3, 5, 2, 7},
		{9, 4, 5, 3, 1, 2, 6, 8, 7, 0}, {4, 2, 8, 6, 5, 7, 3, 9, 0, 1},
		{2, 7, 9, 3, 8, 0, 6, 4, 1, 5}, {7, 0, 4, 6, 9, 1, 3, 2, 5, 8},
	}
	c := 0
	for i := range len(s) {
		digit, _ := strconv.Atoi(s[len(s)-1-i : len(s)-i])
		c = d[c][p[i%8][digit]]
	}
	return c == 0
}
