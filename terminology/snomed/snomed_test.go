package snomed

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/concord-health/concord/terminology"
)

// fixtures is the SNOMED CT test content of the shared data folder (hand-made RF2 with
// made-up ids, hence NoCheckDigits).
const fixtures = "../../../shared/data/snomed-rf2-test"

func fixture(t *testing.T, parts ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{fixtures}, parts...)...)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("SNOMED CT test fixtures not found at %s (see /work/shared/data/README.md)", p)
	}
	return p
}

func load(t *testing.T, opts Options, paths ...string) *Edition {
	t.Helper()
	opts.NoCheckDigits = true
	e, err := Load(t.Context(), paths, opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestSCTID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		part int
		want error
	}{
		{"138875005", PartitionConcept, nil},
		{"900000000000441003", PartitionConcept, nil},
		{"517382016", PartitionDescription, nil},
		// UK extension ids, whose digits exercise every row of the position table.
		{"999002271000000101", PartitionConcept, nil},
		{"999000011000000103", PartitionConcept, nil},
		{"1382401000000109", PartitionConcept, nil},
		{"83821000000107", PartitionConcept, nil},
		{"999002271000000102", PartitionConcept, errIDCheck},
		{"138875004", PartitionConcept, errIDCheck},
		{"517382016", PartitionConcept, errIDPartition},
		{"12345", PartitionConcept, errIDSyntax},
		{"0138875005", PartitionConcept, errIDSyntax},
		{"13887500x", PartitionConcept, errIDSyntax},
	} {
		_, err := parseID([]byte(tc.id), tc.part, true)
		if err != tc.want {
			t.Errorf("parseID(%s, %d) = %v, want %v", tc.id, tc.part, err, tc.want)
		}
	}
	for _, item := range []uint64{1234, 12345, 1000000001} {
		// 10, 11, 12: the long format, with a namespace in the item.
		for _, p := range []int{0, 1, 2, 10, 11, 12} {
			id := MakeID(item, p)
			if _, err := parseID(appendUint(nil, id), p%10, true); err != nil || !ValidID(id) {
				t.Errorf("MakeID(%d, %d) = %d: %v", item, p, id, err)
			}
		}
	}
}

func TestMiniRelease(t *testing.T) {
	e := load(t, Options{}, fixture(t, "dummy-snomed-content/SnomedCT_MiniRF2"))
	if got, want := e.Version(), "http://snomed.info/sct/900000000000207008/version/20210131"; got != want {
		t.Errorf("Version = %s, want %s", got, want)
	}
	for _, tc := range []struct {
		id             uint64
		fsn, preferred string
		defined        bool
	}{
		{404684003, "Clinical finding (finding)", "Clinical finding (finding)", false}, // no synonym: the FSN
		{362969004, "Disorder of endocrine system (disorder)", "Disorder of endocrine system (disorder)", true},
		{871866001, "", "Meningitis C vaccine", false}, // a synonym in no language refset
	} {
		c, ok := e.Concept(tc.id)
		if !ok || !c.Active || c.FSN != tc.fsn || c.Preferred != tc.preferred || c.Defined != tc.defined {
			t.Errorf("Concept(%d) = %+v, %v; want FSN %q, preferred %q, defined %v", tc.id, c, ok, tc.fsn, tc.preferred, tc.defined)
		}
	}
	for _, tc := range []struct {
		a, b uint64
		want bool
	}{
		{404684003, 362969004, true},
		{138875005, 362969004, true},
		{362969004, 362969004, true},
		{362969004, 404684003, false},
		{113331007, 362969004, false}, // finding site is not is-a
		{404684003, 999999999, false},
	} {
		if got := e.Subsumes(tc.a, tc.b); got != tc.want {
			t.Errorf("Subsumes(%d, %d) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
	if got := e.Parents(363698007); !slices.Equal(got, []uint64{410662002}) {
		t.Errorf("Parents(363698007) = %v", got)
	}
	var anc []uint64
	e.Ancestors(362969004, func(id uint64) bool { anc = append(anc, id); return true })
	if !slices.Equal(anc, []uint64{138875005, 404684003}) {
		t.Errorf("Ancestors(362969004) = %v", anc)
	}
	var desc []uint64
	e.Descendants(138875005, func(id uint64) bool { desc = append(desc, id); return true })
	slices.Sort(desc)
	if len(desc) != 9 || !slices.Contains(desc, 362969004) || slices.Contains(desc, 138875005) {
		t.Errorf("Descendants(root) = %v", desc)
	}
	rels := e.Relationships(362969004)[:1]
	if rels[0] != (Relationship{Type: 363698007, Destination: 113331007}) {
		t.Errorf("Relationships(362969004) = %+v", rels)
	}
	if got := e.Sources(363698007, 113331007); !slices.Equal(got, []uint64{362969004}) {
		t.Errorf("Sources = %v", got)
	}
	// Concrete values, as written.
	var values []string
	for _, r := range e.Relationships(871866001) {
		if r.Type == 3311486008 {
			values = append(values, r.Value)
		}
	}
	if !slices.Equal(values, []string{"#1", "#2.2", "#3"}) {
		t.Errorf("concrete values of 871866001 = %v", values)
	}
	if got := e.Relationships(362969004); len(got) != 3 || got[1].Value != `"Before bed"` || got[1].Destination != 0 {
		t.Errorf("Relationships(362969004) = %+v", got)
	}
	// Language refset: the US one has the root's FSN as acceptable.
	c, _ := e.Concept(138875005)
	if len(c.Descriptions) != 1 || !c.Descriptions[0].Acceptable || c.Descriptions[0].Language != "en" {
		t.Errorf("root descriptions = %+v", c.Descriptions)
	}
	if got := e.Terms(3311486008); !slices.Equal(got, []string{"Count of active ingredient concrete (attribute)"}) {
		t.Errorf("Terms = %v", got)
	}
}

func TestExtensionOnBase(t *testing.T) {
	base := fixture(t, "dummy-snomed-content/SnomedCT_MiniRF2_Base_snapshot")
	ext := fixture(t, "dummy-snomed-content/SnomedCT_MiniRF2_Extension_snapshot")
	e := load(t, Options{}, base)
	if got, want := e.Version(), "http://snomed.info/sct/900000000000207008/version/20180731"; got != want {
		t.Errorf("base Version = %s, want %s", got, want)
	}
	if e.Known(18736003) {
		t.Error("base has the extension's concept")
	}
	e = load(t, Options{}, base, ext)
	if got, want := e.Version(), "http://snomed.info/sct/900101001/version/20180931"; got != want {
		t.Errorf("Version = %s, want %s", got, want)
	}
	c, ok := e.Concept(18736003)
	if !ok || c.Module != 900101001 || c.FSN != "Middle ear exploration through ear canal incision (procedure)" {
		t.Errorf("extension concept = %+v, %v", c, ok)
	}
	if !e.Subsumes(138875005, 404684003) || !e.Subsumes(900000000000441003, 900101001) {
		t.Error("base hierarchy lost, or extension is-a missing")
	}
	stated := e.StatedRelationships(18736003)
	want := []Relationship{{Type: IsA, Destination: 12481008}, {Type: 260686004, Destination: 281615006, Group: 1}, {Type: 260686004, Destination: 129287005, Group: 2}}
	if !slices.Equal(stated, want) {
		t.Errorf("StatedRelationships(18736003) = %+v, want %+v", stated, want)
	}
	if e2 := load(t, Options{Module: 83821000000107}, base, ext); !strings.Contains(e2.Version(), "/83821000000107/") {
		t.Errorf("Options.Module ignored: %s", e2.Version())
	}
}

func TestReleaseZip(t *testing.T) {
	z := fixture(t, "dummy-release-import/SNOMEDCT/SnomedCT_InternationalRF2_PRODUCTION_20250701T120000Z.zip")
	var last Progress
	e := load(t, Options{Progress: func(p Progress) { last = p }}, z)
	if !e.Exists(13995008) || e.Len() != 1 {
		t.Errorf("zip release: %d concepts", e.Len())
	}
	if e.Version() != "http://snomed.info/sct/900000000000207008/version/20250701" {
		t.Errorf("Version = %s", e.Version())
	}
	if last.Stage != "index" || last.BytesRead != last.BytesTotal || last.BytesTotal == 0 || last.Rows != 1 {
		t.Errorf("last progress = %+v", last)
	}
}

// The import-tests cases: a delta applied on a snapshot takes rows newer than the ones held
// and undated ones, and leaves older and same-dated ones; trailing blank fields count as
// columns.
func TestEffectiveTimes(t *testing.T) {
	base := fixture(t, "import-tests/blankOrLaterEffectiveTimeBase")
	delta := fixture(t, "import-tests/blankOrLaterEffectiveTimeTest")
	e := load(t, Options{}, base, delta)
	for _, tc := range []struct {
		id      uint64
		defined bool
	}{{100000000, false}, {200000000, false}, {300000000, true}, {400000000, true}, {500000000, false}} {
		if c, _ := e.Concept(tc.id); c.Defined != tc.defined {
			t.Errorf("concept %d defined = %v, want %v", tc.id, c.Defined, tc.defined)
		}
	}
	for _, tc := range []struct {
		concept uint64
		pref    bool
	}{{100000000, true}, {200000000, true}, {300000000, false}, {400000000, false}, {500000000, true}} {
		c, _ := e.Concept(tc.concept)
		if len(c.Descriptions) != 1 || c.Descriptions[0].Preferred != tc.pref {
			t.Errorf("concept %d descriptions = %+v, want preferred %v", tc.concept, c.Descriptions, tc.pref)
		}
	}
	groups := map[uint64]int{}
	for _, id := range []uint64{200000000, 300000000, 400000000, 500000000} {
		for _, r := range e.StatedRelationships(id) {
			groups[id] = r.Group
		}
	}
	if want := map[uint64]int{200000000: 0, 300000000: 0, 400000000: 1, 500000000: 1}; !mapsEqual(groups, want) {
		t.Errorf("stated groups = %v, want %v", groups, want)
	}

	// Undated rows on their own.
	e = load(t, Options{}, fixture(t, "import-tests/blankEffectiveTimeTest"))
	if e.Len() != 5 || !e.Subsumes(100000000, 200000000) {
		t.Errorf("blank effectiveTime: %d concepts, subsumes %v", e.Len(), e.Subsumes(100000000, 200000000))
	}
	if c, _ := e.Concept(300000000); c.Preferred != "Clinical history and observations" {
		t.Errorf("blank effectiveTime preferred term = %q", c.Preferred)
	}

	e = load(t, Options{}, fixture(t, "import-tests/multipleTrailingBlankFields"))
	if e.Len() != 0 {
		t.Errorf("header-only files: %d concepts", e.Len())
	}

	e = load(t, Options{}, fixture(t, "import-tests/refset-snapshot-import"))
	if got := e.Members(12341234001); !slices.Equal(got, []uint64{400000010}) {
		t.Errorf("Members = %v", got)
	}
	if !e.IsMember(12341234001, 400000010) || e.IsMember(12341234001, 400000000) {
		t.Error("IsMember wrong")
	}
}

func mapsEqual(a, b map[uint64]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestMalformedRows(t *testing.T) {
	_, err := Load(t.Context(), []string{"testdata/bad"}, Options{})
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("Load(bad) error = %v, want a *LoadError", err)
	}
	concepts := "testdata/bad/Snapshot/Terminology/sct2_Concept_Snapshot_INT_20250101.txt"
	descs := "testdata/bad/Snapshot/Terminology/sct2_Description_Snapshot-en_INT_20250101.txt"
	want := []struct {
		file string
		line int
		msg  string
	}{
		{concepts, 3, "4 fields, want 5"},
		{concepts, 4, "check digit"},
		{concepts, 5, "effectiveTime \"20021331\""},
		{concepts, 6, "active \"2\""},
		{descs, 2, "partition"},
	}
	if le.Total != len(want) || len(le.Rows) != len(want) {
		t.Fatalf("errors = %v", le)
	}
	for i, w := range want {
		r := le.Rows[i]
		if r.File != w.file || r.Line != w.line || !strings.Contains(r.Msg, w.msg) {
			t.Errorf("error %d = %v, want %s:%d: …%s…", i, r, w.file, w.line, w.msg)
		}
	}
	if !strings.Contains(err.Error(), concepts+":3: 4 fields") {
		t.Errorf("message %q does not name file and line", err)
	}
	// MaxErrors keeps the first ones, counts all.
	_, err = Load(t.Context(), []string{"testdata/bad"}, Options{MaxErrors: 2})
	if !errors.As(err, &le) || len(le.Rows) != 2 || le.Total != 5 {
		t.Errorf("MaxErrors 2: %v", err)
	}
	_, err = Load(t.Context(), []string{"testdata/badheader"}, Options{})
	if !errors.As(err, &le) || !strings.Contains(le.Rows[0].Msg, `"definitionStatus"`) || le.Rows[0].Line != 1 {
		t.Errorf("bad header: %v", err)
	}
	if _, err := Load(t.Context(), []string{"testdata/none"}, Options{}); err == nil {
		t.Error("missing folder loaded")
	}
	if _, err := Load(t.Context(), []string{"testdata"}, Options{}); err == nil {
		t.Error("testdata (bad files among them) loaded")
	}
}

func TestSaveOpen(t *testing.T) {
	base := fixture(t, "dummy-snomed-content/SnomedCT_MiniRF2_Base_snapshot")
	ext := fixture(t, "dummy-snomed-content/SnomedCT_MiniRF2_Extension_snapshot")
	e := load(t, Options{}, base, ext)
	dir := t.TempDir()
	if _, err := Open(dir); !errors.Is(err, ErrNoIndex) {
		t.Errorf("Open(empty) = %v, want ErrNoIndex", err)
	}
	if err := e.Save(dir); err != nil {
		t.Fatal(err)
	}
	o, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Saved again, the opened edition gives the same bytes.
	dir2 := t.TempDir()
	if err := o.Save(dir2); err != nil {
		t.Fatal(err)
	}
	b1, _ := os.ReadFile(filepath.Join(dir, IndexFile))
	b2, _ := os.ReadFile(filepath.Join(dir2, IndexFile))
	if !bytes.Equal(b1, b2) {
		t.Error("index differs after a round trip")
	}
	if o.Version() != e.Version() || o.Len() != e.Len() {
		t.Errorf("opened %s %d, saved %s %d", o.Version(), o.Len(), e.Version(), e.Len())
	}
	e.All(func(id uint64) bool {
		a, _ := e.Concept(id)
		b, _ := o.Concept(id)
		if a.FSN != b.FSN || a.Preferred != b.Preferred || len(a.Descriptions) != len(b.Descriptions) ||
			!slices.Equal(e.Parents(id), o.Parents(id)) || !slices.Equal(e.StatedRelationships(id), o.StatedRelationships(id)) {
			t.Errorf("concept %d differs after Open", id)
		}
		return true
	})
	if !o.Subsumes(138875005, 362969004) || len(o.Search("endocrine", 5, nil)) == 0 {
		t.Error("opened edition does not answer")
	}

	// A corrupt file is refused.
	bad := slices.Clone(b1)
	bad[len(bad)/2] ^= 0xff
	if err := os.WriteFile(filepath.Join(dir2, IndexFile), bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir2); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("Open(corrupt) = %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir2, IndexFile), b1[:100], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir2); err == nil {
		t.Error("Open(truncated) succeeded")
	}
}

// A failed or cancelled load, and a save cut short, leave the saved edition in service.
func TestInterruptedLoad(t *testing.T) {
	base := fixture(t, "dummy-snomed-content/SnomedCT_MiniRF2_Base_snapshot")
	dir := t.TempDir()
	e := load(t, Options{}, base)
	if err := e.Save(dir); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Load(ctx, []string{base}, Options{NoCheckDigits: true}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Load = %v", err)
	}
	if _, err := Load(t.Context(), []string{base, "testdata/bad"}, Options{NoCheckDigits: false}); err == nil {
		t.Error("bad release loaded")
	}
	// A save that died before its rename leaves a temporary file behind.
	if err := os.WriteFile(filepath.Join(dir, "terminology", ".snomed-123.idx"), []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := Open(dir)
	if err != nil || o.Version() != e.Version() || !o.Subsumes(404684003, 362969004) {
		t.Errorf("previous edition not in service: %v", err)
	}
}

func TestSearch(t *testing.T) {
	e := load(t, Options{}, fixture(t, "dummy-snomed-content/SnomedCT_MiniRF2_Base_snapshot"))
	for _, tc := range []struct {
		q    string
		want []uint64
	}{
		{"endocrine", []uint64{362969004, 113331007}}, // shorter term first
		{"ENDO sys dis", []uint64{362969004}},
		{"clinical finding (finding)", []uint64{404684003}},
		{"incision", []uint64{12481008, 129287005}},
		{"zzz", nil},
		{"", nil},
	} {
		var got []uint64
		for _, m := range e.Search(tc.q, 10, nil) {
			got = append(got, m.ID)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Search(%q) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := e.Search("endocrine", 1, nil); len(got) != 1 {
		t.Errorf("limit ignored: %v", got)
	}
}

func TestProvider(t *testing.T) {
	e := load(t, Options{}, fixture(t, "dummy-snomed-content/SnomedCT_MiniRF2_Base_snapshot"))
	p := NewProvider(e)
	ctx := t.Context()
	c, ok, err := p.Lookup(ctx, "362969004")
	if err != nil || !ok || c.Display != "Disorder of endocrine system (disorder)" || c.Inactive {
		t.Fatalf("Lookup = %+v, %v, %v", c, ok, err)
	}
	props := map[string][]string{}
	for _, pr := range c.Properties {
		props[pr.Code] = append(props[pr.Code], pr.Value)
	}
	if !slices.Equal(props["parent"], []string{"404684003"}) || props["sufficientlyDefined"][0] != "true" || props["inactive"][0] != "false" || props["moduleId"][0] != "900000000000207008" {
		t.Errorf("properties = %v", props)
	}
	if len(c.Designations) != 1 || c.Designations[0].Use.Code != "900000000000003001" {
		t.Errorf("designations = %+v", c.Designations)
	}
	if _, ok, _ := p.Lookup(ctx, "12345678"); ok {
		t.Error("unknown code found")
	}
	if err := p.Concepts(ctx, func(terminology.Concept) bool { return true }); !errors.Is(err, terminology.ErrNotEnumerable) {
		t.Errorf("Concepts = %v", err)
	}
	for _, tc := range []struct {
		op, value string
		match     map[string]bool
		list      int
	}{
		{"is-a", "404684003", map[string]bool{"404684003": true, "362969004": true, "138875005": false}, 2},
		{"descendent-of", "404684003", map[string]bool{"404684003": false, "362969004": true}, 1},
		{"is-not-a", "404684003", map[string]bool{"404684003": false, "138875005": true}, e.Len() - 2},
		{"generalizes", "362969004", map[string]bool{"138875005": true, "113331007": false}, 3},
		{"=", "113331007", map[string]bool{"113331007": true, "404684003": false}, 1},
	} {
		f, err := p.Filter(ctx, "concept", tc.op, tc.value)
		if err != nil {
			t.Fatal(err)
		}
		for code, want := range tc.match {
			if got, _ := f.Match(ctx, code); got != want {
				t.Errorf("%s %s: Match(%s) = %v", tc.op, tc.value, code, got)
			}
		}
		n := 0
		f.Concepts(ctx, func(c terminology.Concept) bool { n++; return true })
		if n != tc.list {
			t.Errorf("%s %s lists %d concepts, want %d", tc.op, tc.value, n, tc.list)
		}
	}
	if _, err := p.Filter(ctx, "concept", "regex", "x"); !errors.Is(err, terminology.ErrUnsupportedFilter) {
		t.Errorf("regex filter: %v", err)
	}
	if _, err := p.Filter(ctx, "parent", "=", "404684003"); !errors.Is(err, terminology.ErrUnsupportedFilter) {
		t.Errorf("parent filter: %v", err)
	}

	// Refset membership through "in", and a provider in the terminology service.
	e = load(t, Options{}, fixture(t, "import-tests/refset-snapshot-import"))
	f, err := NewProvider(e).Filter(ctx, "concept", "in", "12341234001")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := f.Match(ctx, "400000010"); ok {
		t.Error("a description member matched as a concept") // 400000010 is not a concept here
	}
	s := terminology.New()
	s.AddProvider(p)
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name     string
		kind     fileKind
		snapshot bool
		ok       bool
	}{
		{"sct2_Concept_Snapshot_INT_20250701.txt", kindConcept, true, true},
		{"sct2_Concept_Delta_INT_20250701.txt", kindConcept, false, true},
		{"sct2_Concept_Full_INT_20250701.txt", 0, false, false},
		{"sct2_Concept_UKCLSnapshot_GB1000000_20250402.txt", kindConcept, true, true},
		{"sct2_Description_UKDGSnapshot-en_GB1000001_20250402.txt", kindDescription, true, true},
		{"sct2_TextDefinition_Snapshot-en_INT_20250701.txt", kindTextDefinition, true, true},
		{"sct2_Relationship_Snapshot_INT_20250701.txt", kindRelationship, true, true},
		{"sct2_RelationshipConcreteValues_Snapshot_INT_20250701.txt", kindConcreteValues, true, true},
		{"sct2_StatedRelationship_Snapshot_INT_20250701.txt", kindStatedRelationship, true, true},
		{"der2_cRefset_LanguageSnapshot-en_INT_20250701.txt", kindLanguage, true, true},
		{"der2_cRefset_LanguageUKCLSnapshot-en_GB1000000_20250402.txt", kindLanguage, true, true},
		{"der2_Refset_SimpleSnapshot_INT_20250701.txt", kindSimpleRefset, true, true},
		{"der2_iisssccRefset_ExtendedMapSnapshot_INT_20250701.txt", kindMap, true, true},
		{"der2_iissscRefset_ComplexMapUKCLSnapshot_GB1000000_20250402.txt", kindMap, true, true},
		{"der2_sRefset_SimpleMapSnapshot_INT_20250701.txt", kindMap, true, true},
		{"der2_ciRefset_MapCorrelationOriginSnapshot_INT_20250701.txt", 0, false, false},
		{"der2_sRefset_OWLExpressionSnapshot_INT_20250701.txt", 0, false, false},
		{"der2_sssssssRefset_MRCMDomainSnapshot_INT_20250701.txt", 0, false, false},
		{"sct2_Identifier_Snapshot_INT_20250701.txt", 0, false, false},
		{"Readme_en_20250701.txt", 0, false, false},
		{"sct2_Concept_Snapshot_INT_20250701.json", 0, false, false},
	} {
		kind, snap, ok := classify(tc.name)
		if ok != tc.ok || ok && (kind != tc.kind || snap != tc.snapshot) {
			t.Errorf("classify(%s) = %v %v %v, want %v %v %v", tc.name, kind, snap, ok, tc.kind, tc.snapshot, tc.ok)
		}
	}
}

// Map refsets: extended (ICD-10) with trailing blank fields, simple (OPCS-4 style);
// inactive rows left out.
func TestMaps(t *testing.T) {
	e, err := Load(t.Context(), []string{"testdata/maps"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := e.Maps(447562003, 73211009)
	want := []MapEntry{
		{Group: 1, Priority: 1, Rule: "TRUE", Advice: "ALWAYS E14.9", Target: "E14.9", Correlation: 447561005},
		{Group: 2, Priority: 1, Rule: "OTHERWISE TRUE"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Maps(ICD-10, 73211009) = %+v, want %+v", got, want)
	}
	if got := e.Maps(447562003, 404684003); got != nil {
		t.Errorf("inactive map row returned: %+v", got)
	}
	if got := e.Maps(1126441105, 73211009); len(got) != 1 || got[0].Target != "X12.3" {
		t.Errorf("simple map = %+v", got)
	}
	if got := e.MapRefsets(); !slices.Equal(got, []uint64{447562003, 1126441105, 1382401000000109, 999002271000000101}) {
		t.Errorf("MapRefsets = %v", got)
	}
}
