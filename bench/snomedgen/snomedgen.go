// Package snomedgen writes a synthetic SNOMED CT RF2 snapshot release for tests and
// benchmarks: the shape of a national edition (hierarchies of realistic depth with multiple
// parents, three descriptions per concept, attribute relationships in role groups, concrete
// values, language, simple and extended map refsets, some inactive content) with valid
// SCTIDs, and no real SNOMED CT content beyond the well-known metadata concept ids.
package snomedgen

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"github.com/concord-health/concord/terminology/snomed"
)

// Config sizes a release.
type Config struct {
	Concepts int    // generated clinical concepts, besides the metadata (default 10,000)
	Seed     uint64 // same seed, same release
	Date     string // effectiveTime and file date, YYYYMMDD (default 20250701)
}

// Info describes a written release, for tests to query.
type Info struct {
	Dir                                   string
	Concepts, Descriptions, Relationships int
	ClinicalFinding                       uint64 // about a sixth of the concepts descend from it
	Sample                                uint64 // an active generated finding with a grandparent
	SimpleRefset, MapRefset               uint64
	SimpleMembers, MapRows                int
	InactiveConcept                       uint64
}

// Well-known ids the release uses.
const (
	ClinicalFinding  uint64 = 404684003
	Procedure        uint64 = 71388002
	BodyStructure    uint64 = 123037004
	Product          uint64 = 373873005
	Substance        uint64 = 105590001
	Morphology       uint64 = 49755003
	Organism         uint64 = 410607006
	Qualifier        uint64 = 362981000
	FindingSite      uint64 = 363698007
	Morph            uint64 = 116676008
	Causative        uint64 = 246075003
	Method           uint64 = 260686004
	ProcSite         uint64 = 363704007
	ActiveIngredient uint64 = 127489000
	DoseForm         uint64 = 411116001
	CountOfBase      uint64 = 3311486008
	SimpleRefset     uint64 = 446609009
	ICD10Map         uint64 = 447562003
	ModuleConcept    uint64 = 900000000000443000
	Modifier         uint64 = 900000000000451002
	CaseInsensitive  uint64 = 900000000000448009
	MapCorrelation   uint64 = 447561005
	MapCategory      uint64 = 447637006
)

type hierarchy struct {
	top   uint64
	name  string // of the top concept
	tag   string // semantic tag of the concepts under it
	share float64
	attrs []uint64 // attribute types its concepts carry
	dest  int      // hierarchy (index) their destinations are drawn from, -1: none
}

var hierarchies = []hierarchy{
	{ClinicalFinding, "Clinical finding", "disorder", 0.17, []uint64{FindingSite, Morph, Causative}, 2},
	{Procedure, "Procedure", "procedure", 0.15, []uint64{Method, ProcSite}, 2},
	{BodyStructure, "Body structure", "body structure", 0.18, nil, -1},
	{Product, "Pharmaceutical / biologic product", "product", 0.14, []uint64{ActiveIngredient, DoseForm}, 4},
	{Substance, "Substance", "substance", 0.12, nil, -1},
	{Morphology, "Morphologically abnormal structure", "morphologic abnormality", 0.08, nil, -1},
	{Organism, "Organism", "organism", 0.08, nil, -1},
	{Qualifier, "Qualifier value", "qualifier value", 0.08, nil, -1},
}

// metadata concepts, each with its parent and FSN.
var metadata = []struct {
	id, parent uint64
	fsn        string
}{
	{snomed.Root, 0, "SNOMED CT Concept (SNOMED RT+CTV3)"},
	{900000000000441003, snomed.Root, "SNOMED CT Model Component (metadata)"},
	{410662002, 900000000000441003, "Concept model attribute (attribute)"},
	{snomed.IsA, 410662002, "Is a (attribute)"},
	{FindingSite, 410662002, "Finding site (attribute)"},
	{Morph, 410662002, "Associated morphology (attribute)"},
	{Causative, 410662002, "Causative agent (attribute)"},
	{Method, 410662002, "Method (attribute)"},
	{ProcSite, 410662002, "Procedure site (attribute)"},
	{ActiveIngredient, 410662002, "Has active ingredient (attribute)"},
	{DoseForm, 410662002, "Has manufactured dose form (attribute)"},
	{CountOfBase, 410662002, "Count of base of active ingredient (attribute)"},
	{ModuleConcept, 900000000000441003, "Module (core metadata concept)"},
	{snomed.CoreModule, ModuleConcept, "SNOMED CT core module (core metadata concept)"},
	{snomed.ModelModule, ModuleConcept, "SNOMED CT model component module (core metadata concept)"},
	{snomed.FSNType, 900000000000441003, "Fully specified name (core metadata concept)"},
	{snomed.SynonymType, 900000000000441003, "Synonym (core metadata concept)"},
	{snomed.DefinitionType, 900000000000441003, "Definition (core metadata concept)"},
	{snomed.Preferred, 900000000000441003, "Preferred (foundation metadata concept)"},
	{snomed.Acceptable, 900000000000441003, "Acceptable (foundation metadata concept)"},
	{snomed.GBEnglish, 900000000000441003, "Great Britain English language reference set (foundation metadata concept)"},
	{snomed.USEnglish, 900000000000441003, "United States of America English language reference set (foundation metadata concept)"},
	{snomed.Defined, 900000000000441003, "Defined (core metadata concept)"},
	{snomed.Primitive, 900000000000441003, "Primitive (core metadata concept)"},
	{snomed.InferredCharacteristic, 900000000000441003, "Inferred relationship (core metadata concept)"},
	{snomed.StatedCharacteristic, 900000000000441003, "Stated relationship (core metadata concept)"},
	{Modifier, 900000000000441003, "Existential restriction modifier (core metadata concept)"},
	{CaseInsensitive, 900000000000441003, "Only initial character case insensitive (core metadata concept)"},
	{SimpleRefset, 900000000000441003, "Simple type reference set (foundation metadata concept)"},
	{ICD10Map, 900000000000441003, "ICD-10 complex map reference set (foundation metadata concept)"},
	{MapCorrelation, 900000000000441003, "Map source concept is properly classified (foundation metadata concept)"},
	{MapCategory, 900000000000441003, "Properly classified (foundation metadata concept)"},
}

var syllables = []string{"ab", "ac", "ad", "al", "am", "an", "ar", "as", "at", "ba", "be", "bi", "bo", "ca",
	"ce", "chi", "co", "cu", "da", "de", "di", "do", "du", "el", "em", "en", "er", "es", "fa", "fe", "fi",
	"ga", "ge", "gi", "go", "ha", "he", "hi", "ho", "id", "il", "im", "in", "ir", "is", "it", "la", "le",
	"li", "lo", "lu", "ma", "me", "mi", "mo", "mu", "na", "ne", "ni", "no", "nu", "ob", "oc", "ol", "om",
	"on", "or", "os", "pa", "pe", "pi", "po", "pu", "ra", "re", "ri", "ro", "ru", "sa", "se", "si", "so",
	"ta", "te", "ti", "to", "tu", "ul", "um", "un", "ur", "us", "va", "ve", "vi", "vo"}

// Generate writes a release under dir (Snapshot/Terminology, Snapshot/Refset/…).
func Generate(dir string, cfg Config) (Info, error) {
	if cfg.Concepts <= 0 {
		cfg.Concepts = 10000
	}
	if cfg.Date == "" {
		cfg.Date = "20250701"
	}
	g := &gen{cfg: cfg, rnd: rand.New(rand.NewPCG(cfg.Seed, 0x5eed)), info: Info{Dir: dir, ClinicalFinding: ClinicalFinding, SimpleRefset: SimpleRefset, MapRefset: ICD10Map}}
	for _, m := range metadata {
		if !snomed.ValidID(m.id) {
			return Info{}, fmt.Errorf("snomedgen: metadata id %d is not a valid SCTID", m.id)
		}
	}
	g.vocab = make([]string, 6000)
	for i := range g.vocab {
		w := ""
		for k := 2 + g.rnd.IntN(3); k > 0; k-- {
			w += syllables[g.rnd.IntN(len(syllables))]
		}
		g.vocab[i] = w
	}
	if err := g.write(dir); err != nil {
		return Info{}, err
	}
	return g.info, nil
}

type gen struct {
	cfg   Config
	rnd   *rand.Rand
	info  Info
	vocab []string
	item  uint64
	uuid  uint64
	files map[string]*rf2Writer
}

type rf2Writer struct {
	f *os.File
	w *bufio.Writer
	b []byte
}

func (g *gen) open(dir, sub, name, header string) (*rf2Writer, error) {
	p := filepath.Join(dir, "Snapshot", sub)
	if err := os.MkdirAll(p, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(p, fmt.Sprintf(name, g.cfg.Date)))
	if err != nil {
		return nil, err
	}
	w := &rf2Writer{f: f, w: bufio.NewWriterSize(f, 1<<20)}
	w.w.WriteString(header + "\r\n")
	return w, nil
}

// row writes tab-separated fields; each is a string or a uint64.
func (w *rf2Writer) row(fields ...any) {
	b := w.b[:0]
	for i, f := range fields {
		if i > 0 {
			b = append(b, '\t')
		}
		switch v := f.(type) {
		case string:
			b = append(b, v...)
		case uint64:
			b = strconv.AppendUint(b, v, 10)
		case int:
			b = strconv.AppendInt(b, int64(v), 10)
		}
	}
	b = append(b, '\r', '\n')
	w.w.Write(b)
	w.b = b
}

func (w *rf2Writer) close() error {
	if err := w.w.Flush(); err != nil {
		w.f.Close()
		return err
	}
	return w.f.Close()
}

func (g *gen) id(partition int) uint64 {
	g.item++
	return snomed.MakeID(10000000+g.item, partition)
}

func (g *gen) nextUUID() string {
	g.uuid++
	u := g.uuid * 0x9e3779b97f4a7c15
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(u>>32), uint16(u>>16), uint16(u)&0xfff, g.uuid>>48&0xfff, g.uuid&0xffffffffffff)
}

func (g *gen) words(n int) string {
	s := ""
	for i := 0; i < n; i++ {
		if i > 0 {
			s += " "
		}
		s += g.vocab[g.rnd.IntN(len(g.vocab))]
	}
	return s
}

func (g *gen) write(dir string) (err error) {
	type fileSpec struct{ key, sub, name, header string }
	specs := []fileSpec{
		{"concept", "Terminology", "sct2_Concept_Snapshot_INT_%s.txt", "id\teffectiveTime\tactive\tmoduleId\tdefinitionStatusId"},
		{"desc", "Terminology", "sct2_Description_Snapshot-en_INT_%s.txt", "id\teffectiveTime\tactive\tmoduleId\tconceptId\tlanguageCode\ttypeId\tterm\tcaseSignificanceId"},
		{"rel", "Terminology", "sct2_Relationship_Snapshot_INT_%s.txt", "id\teffectiveTime\tactive\tmoduleId\tsourceId\tdestinationId\trelationshipGroup\ttypeId\tcharacteristicTypeId\tmodifierId"},
		{"concrete", "Terminology", "sct2_RelationshipConcreteValues_Snapshot_INT_%s.txt", "id\teffectiveTime\tactive\tmoduleId\tsourceId\tvalue\trelationshipGroup\ttypeId\tcharacteristicTypeId\tmodifierId"},
		{"lang", "Refset/Language", "der2_cRefset_LanguageSnapshot-en_INT_%s.txt", "id\teffectiveTime\tactive\tmoduleId\trefsetId\treferencedComponentId\tacceptabilityId"},
		{"simple", "Refset/Content", "der2_Refset_SimpleSnapshot_INT_%s.txt", "id\teffectiveTime\tactive\tmoduleId\trefsetId\treferencedComponentId"},
		{"map", "Refset/Map", "der2_iisssccRefset_ExtendedMapSnapshot_INT_%s.txt", "id\teffectiveTime\tactive\tmoduleId\trefsetId\treferencedComponentId\tmapGroup\tmapPriority\tmapRule\tmapAdvice\tmapTarget\tcorrelationId\tmapCategoryId"},
	}
	g.files = map[string]*rf2Writer{}
	defer func() {
		for _, w := range g.files {
			if cerr := w.close(); err == nil {
				err = cerr
			}
		}
	}()
	for _, s := range specs {
		w, err := g.open(dir, s.sub, s.name, s.header)
		if err != nil {
			return err
		}
		g.files[s.key] = w
	}
	date := g.cfg.Date
	core := snomed.CoreModule
	concept := func(id uint64, active bool, defined bool) {
		ds := snomed.Primitive
		if defined {
			ds = snomed.Defined
		}
		a := "1"
		if !active {
			a = "0"
		}
		g.files["concept"].row(id, date, a, core, ds)
		g.info.Concepts++
	}
	desc := func(c uint64, typ uint64, term string, gb, us uint64, active bool) {
		id := g.id(snomed.PartitionDescription)
		a := "1"
		if !active {
			a = "0"
		}
		g.files["desc"].row(id, date, a, core, c, "en", typ, term, CaseInsensitive)
		g.info.Descriptions++
		if gb != 0 {
			g.files["lang"].row(g.nextUUID(), date, a, core, snomed.GBEnglish, id, gb)
		}
		if us != 0 {
			g.files["lang"].row(g.nextUUID(), date, a, core, snomed.USEnglish, id, us)
		}
	}
	rel := func(src, dst uint64, group int, typ uint64, active bool) {
		a := "1"
		if !active {
			a = "0"
		}
		g.files["rel"].row(g.id(snomed.PartitionRelationship), date, a, core, src, dst, group, typ, snomed.InferredCharacteristic, Modifier)
		g.info.Relationships++
	}
	for _, m := range metadata {
		concept(m.id, true, false)
		desc(m.id, snomed.FSNType, m.fsn, snomed.Preferred, snomed.Preferred, true)
		pt := m.fsn
		if i := len(pt) - 1; pt[i] == ')' {
			for j := i; j > 0; j-- {
				if pt[j] == '(' {
					pt = pt[:j-1]
					break
				}
			}
		}
		desc(m.id, snomed.SynonymType, pt, snomed.Preferred, snomed.Preferred, true)
		if m.parent != 0 {
			rel(m.id, m.parent, 0, snomed.IsA, true)
		}
	}
	// Hierarchies: each concept's first parent is a random earlier concept of its hierarchy
	// (a random recursive tree: depth about ln n), a quarter get a second one.
	members := make([][]uint64, len(hierarchies))
	for h, hy := range hierarchies {
		concept(hy.top, true, false)
		desc(hy.top, snomed.FSNType, hy.name+" ("+hy.tag+")", snomed.Preferred, snomed.Preferred, true)
		desc(hy.top, snomed.SynonymType, hy.name, snomed.Preferred, snomed.Preferred, true)
		rel(hy.top, snomed.Root, 0, snomed.IsA, true)
		members[h] = []uint64{hy.top}
	}
	n := g.cfg.Concepts
	for h, hy := range hierarchies {
		count := int(float64(n) * hy.share)
		for k := 0; k < count; k++ {
			id := g.id(snomed.PartitionConcept)
			list := members[h]
			// One concept in 40 is inactive: it keeps its descriptions, loses its
			// relationships (as retired concepts do).
			active := g.rnd.IntN(40) != 0
			concept(id, active, g.rnd.IntN(3) == 0)
			term := capital(g.words(2 + g.rnd.IntN(4)))
			desc(id, snomed.FSNType, term+" ("+hy.tag+")", snomed.Preferred, snomed.Preferred, true)
			if g.rnd.IntN(10) == 0 {
				// a US spelling variant: acceptable in GB, preferred in US
				desc(id, snomed.SynonymType, term, snomed.Preferred, snomed.Acceptable, true)
				desc(id, snomed.SynonymType, term+" "+g.words(1), snomed.Acceptable, snomed.Preferred, true)
			} else {
				desc(id, snomed.SynonymType, term, snomed.Preferred, snomed.Preferred, true)
				desc(id, snomed.SynonymType, capital(g.words(1+g.rnd.IntN(3))), snomed.Acceptable, snomed.Acceptable, true)
			}
			if !active {
				rel(id, list[g.rnd.IntN(len(list))], 0, snomed.IsA, false)
				if g.info.InactiveConcept == 0 {
					g.info.InactiveConcept = id
				}
				continue
			}
			p1 := list[g.rnd.IntN(len(list))]
			rel(id, p1, 0, snomed.IsA, true)
			if len(list) > 2 && g.rnd.IntN(4) == 0 {
				if p2 := list[g.rnd.IntN(len(list))]; p2 != p1 {
					rel(id, p2, 0, snomed.IsA, true)
				}
			}
			if h == 0 && g.info.Sample == 0 && p1 != hy.top {
				g.info.Sample = id
			}
			members[h] = append(list, id)
		}
	}
	// Attributes in role groups, drawn from the destination hierarchy; an inactive one now
	// and then, as a snapshot keeps retired rows.
	for h, hy := range hierarchies {
		if hy.attrs == nil {
			continue
		}
		dest := members[hy.dest]
		for _, id := range members[h][1:] {
			groups := 1 + g.rnd.IntN(2)
			for grp := 1; grp <= groups; grp++ {
				for _, typ := range hy.attrs {
					if typ == Causative && g.rnd.IntN(2) == 0 {
						continue
					}
					d := dest[g.rnd.IntN(len(dest))]
					if typ == Morph {
						d = members[5][g.rnd.IntN(len(members[5]))]
					}
					if typ == Causative {
						d = members[6][g.rnd.IntN(len(members[6]))]
					}
					if typ == DoseForm {
						d = members[7][g.rnd.IntN(len(members[7]))]
					}
					rel(id, d, grp, typ, g.rnd.IntN(12) != 0)
				}
			}
			if hy.top == Product {
				g.files["concrete"].row(g.id(snomed.PartitionRelationship), date, "1", core, id, "#"+strconv.Itoa(1+g.rnd.IntN(3)), 0, CountOfBase, snomed.InferredCharacteristic, Modifier)
				g.info.Relationships++
			}
		}
	}
	// Body structures, substances and the rest relate to each other loosely ("part of"
	// style links reuse finding site), bringing relationships to about five per concept.
	for h := 2; h < len(hierarchies); h++ {
		list := members[h]
		for _, id := range list[1:] {
			for k := g.rnd.IntN(7); k > 0; k-- {
				rel(id, list[g.rnd.IntN(len(list))], k, FindingSite, true)
			}
		}
	}
	// A simple refset of one finding in fifty; an ICD-10 map of every finding.
	for i, id := range members[0][1:] {
		if i%50 == 0 {
			g.files["simple"].row(g.nextUUID(), date, "1", core, SimpleRefset, id)
			g.info.SimpleMembers++
		}
		for grp := 1; grp <= 1+g.rnd.IntN(2); grp++ {
			target := fmt.Sprintf("%c%02d.%d", 'A'+rune(g.rnd.IntN(26)), g.rnd.IntN(100), g.rnd.IntN(10))
			g.files["map"].row(g.nextUUID(), date, "1", core, ICD10Map, id, grp, 1, "TRUE", "ALWAYS "+target, target, MapCorrelation, MapCategory)
			g.info.MapRows++
		}
	}
	return nil
}

func capital(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
