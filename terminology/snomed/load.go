package snomed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// Well-known SNOMED CT concepts the loader and index rely on.
const (
	IsA                    uint64 = 116680003
	Root                   uint64 = 138875005
	CoreModule             uint64 = 900000000000207008
	ModelModule            uint64 = 900000000000012004
	FSNType                uint64 = 900000000000003001
	SynonymType            uint64 = 900000000000013009
	DefinitionType         uint64 = 900000000000550004
	Preferred              uint64 = 900000000000548007
	Acceptable             uint64 = 900000000000549004
	GBEnglish              uint64 = 900000000000508004
	USEnglish              uint64 = 900000000000509007
	Defined                uint64 = 900000000000073002
	Primitive              uint64 = 900000000000074008
	StatedCharacteristic   uint64 = 900000000000010007
	InferredCharacteristic uint64 = 900000000000011006
)

// Options shape a load.
type Options struct {
	// Languages are the language refsets whose preferred synonym is a concept's display, in
	// order of preference; default GB English then US English. Any other language refset
	// loaded is a last resort.
	Languages []uint64
	// Module is the edition's module for Version; by default the module owning most
	// concepts of the last source that is not the international core or model module, else
	// the international core.
	Module uint64
	// NoCheckDigits accepts SCTIDs without verifying their Verhoeff check digit and
	// partition: hand-made content (test fixtures) carries made-up ids.
	NoCheckDigits bool
	// MaxErrors is how many malformed rows are kept for the error (default 100); all are
	// counted.
	MaxErrors int
	// Progress, when set, is called as the load advances (often: keep it cheap).
	Progress func(Progress)
}

// Progress reports a load under way.
type Progress struct {
	File       string // being read
	BytesRead  int64  // over all files, uncompressed
	BytesTotal int64
	Rows       int64  // data rows read so far
	Stage      string // "read", then "index" while the index is built
}

// Stats count what a load took in and what it left out.
type Stats struct {
	Files, Rows int
	// Dangling counts active rows naming a concept or description not in the release
	// (skipped).
	Dangling int
}

// staging holds the rows read, before the snapshot winner of each component is chosen.
type staging struct {
	seq      uint32
	concepts []conceptRow
	descs    []descRow
	rels     []relRow
	langs    []langRow
	simple   []memberRow
	maps     []mapRow
	langCode map[string]string // interned language codes
	// lastModules counts the concepts of the source being read by module: those of the last
	// source name the edition.
	lastModules map[uint64]int
	date        uint32 // the latest release date in a concept or description file name
}

type conceptRow struct {
	id, module uint64
	eff, seq   uint32
	active     bool
	defined    bool
}

type descRow struct {
	id, concept uint64
	eff, seq    uint32
	typ         uint8 // descFSN…
	active      bool
	lang, term  string
}

type relRow struct {
	id, src, dst, typ uint64
	eff, seq          uint32
	group             uint32
	active, stated    bool
	value             string // concrete value as written
}

type langRow struct {
	uuid      uuid
	eff, seq  uint32
	active    bool
	preferred bool
	refset    uint64
	desc      uint64
}

type memberRow struct {
	uuid        uuid
	eff, seq    uint32
	active      bool
	refset, ref uint64
}

type mapRow struct {
	uuid                   uuid
	eff, seq               uint32
	active                 bool
	group, priority        uint16
	refset, ref, corr, cat uint64
	rule, advice, target   string
}

const (
	descFSN uint8 = iota
	descSynonym
	descDefinition
	descOther
)

// Load reads SNOMED CT RF2 releases (folders or release zips; an international release
// first, then extensions on top) into one edition. Every malformed row is counted and the
// load fails with a *LoadError naming the first of them; nothing is written anywhere, so
// the edition in service stays until Save replaces it.
func Load(ctx context.Context, paths []string, opts Options) (*Edition, error) {
	if len(paths) == 0 {
		return nil, errors.New("snomed: no release given")
	}
	if opts.MaxErrors <= 0 {
		opts.MaxErrors = 100
	}
	var sources []*source
	defer func() {
		for _, s := range sources {
			s.close()
		}
	}()
	var total int64
	for _, p := range paths {
		s, err := openSource(p)
		if err != nil {
			return nil, fmt.Errorf("snomed: %w", err)
		}
		sources = append(sources, s)
		for _, f := range s.files {
			total += f.size
		}
	}
	l := &loader{ctx: ctx, opts: opts, total: total, st: staging{langCode: map[string]string{}}}
	var stats Stats
	for _, s := range sources {
		l.st.lastModules = map[uint64]int{}
		for _, f := range s.files {
			if err := l.readFile(f); err != nil {
				return nil, err
			}
			stats.Files++
		}
	}
	if l.errTotal > 0 {
		return nil, &LoadError{Rows: l.errs, Total: l.errTotal}
	}
	stats.Rows = int(l.rows)
	l.progress("", "index")
	module := opts.Module
	if module == 0 {
		module = CoreModule
		best := 0
		for m, n := range l.st.lastModules {
			if m != CoreModule && m != ModelModule && (n > best || n == best && m < module) {
				module, best = m, n
			}
		}
	}
	e, err := build(ctx, &l.st, opts, module, &stats)
	if err != nil {
		return nil, err
	}
	e.stats = stats
	return e, nil
}

type loader struct {
	ctx      context.Context
	opts     Options
	st       staging
	total    int64
	done     int64 // bytes of finished files
	rows     int64
	errs     []RowError
	errTotal int
	lr       *lineReader
}

func (l *loader) fail(e RowError) {
	l.errTotal++
	if len(l.errs) < l.opts.MaxErrors {
		l.errs = append(l.errs, e)
	}
}

func (l *loader) progress(file, stage string) {
	if l.opts.Progress == nil {
		return
	}
	read := l.done
	if l.lr != nil {
		read += l.lr.read
	}
	l.opts.Progress(Progress{File: file, BytesRead: read, BytesTotal: l.total, Rows: l.rows, Stage: stage})
}

// releaseDate is the date at the end of an RF2 file name (…_INT_20250701.txt).
func releaseDate(name string) uint32 {
	base := strings.TrimSuffix(filepath.Base(name), ".txt")
	if i := strings.LastIndexByte(base, '_'); i >= 0 {
		if v, ok := parseTime([]byte(base[i+1:])); ok && v != blankTime {
			return v
		}
	}
	return 0
}

func (l *loader) readFile(f rf2File) error {
	rc, err := f.open()
	if err != nil {
		return fmt.Errorf("snomed: %s: %w", f.name, err)
	}
	defer rc.Close()
	lr := newLineReader(rc, f.name)
	l.lr = lr
	defer func() { l.done += lr.read; l.lr = nil }()
	if d := releaseDate(f.name); d > l.st.date && (f.kind == kindConcept || f.kind == kindDescription) {
		l.st.date = d
	}
	hdr, err := lr.next()
	if err == io.EOF {
		l.fail(RowError{File: f.name, Line: lr.line, Msg: "empty file: no header"})
		return nil
	}
	if err != nil {
		return fmt.Errorf("snomed: %s: %w", f.name, err)
	}
	hdr[0] = bytes.TrimPrefix(hdr[0], []byte("\xef\xbb\xbf")) // a byte-order mark some tools add
	var mapCols map[string]int
	if f.kind == kindMap {
		mapCols, err = checkMapHeader(hdr)
	} else {
		err = checkHeader(hdr, headers[f.kind])
	}
	if err != nil {
		// Rows cannot be read without knowing the columns.
		l.fail(lr.errorf("%v", err))
		return nil
	}
	width := len(hdr)
	check := !l.opts.NoCheckDigits
	for n := 0; ; n++ {
		if n&0xffff == 0 {
			if err := l.ctx.Err(); err != nil {
				return err
			}
			l.progress(f.name, "read")
		}
		row, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("snomed: %s: %w", f.name, err)
		}
		l.rows++
		if len(row) != width {
			l.fail(lr.errorf("%d fields, want %d", len(row), width))
			continue
		}
		if e := l.row(f.kind, row, mapCols, check); e != "" {
			l.fail(lr.errorf("%s", e))
		}
	}
	l.progress(f.name, "read")
	return nil
}

func checkHeader(got [][]byte, want []string) error {
	if len(got) != len(want) {
		return fmt.Errorf("header has %d columns, want %d (%s)", len(got), len(want), strings.Join(want, " "))
	}
	for i, w := range want {
		if string(got[i]) != w {
			return fmt.Errorf("header column %d is %q, want %q", i+1, got[i], w)
		}
	}
	return nil
}

func checkMapHeader(got [][]byte) (map[string]int, error) {
	if err := checkHeader(got[:min(6, len(got))], headers[kindSimpleRefset]); err != nil {
		return nil, err
	}
	cols := map[string]int{}
	for i, c := range got[6:] {
		if !mapColumns[string(c)] {
			return nil, fmt.Errorf("unknown map refset column %q", c)
		}
		cols[string(c)] = 6 + i
	}
	if _, ok := cols["mapTarget"]; !ok {
		return nil, errors.New("map refset has no mapTarget column")
	}
	return cols, nil
}

// common reads the columns every RF2 file starts with; the id is an SCTID for components
// (partition >= 0) and a UUID for refset members (partition < 0).
type common struct {
	id     uint64
	uuid   uuid
	eff    uint32
	active bool
	module uint64
}

// member reads the columns every reference set row starts with: the common ones, the
// refset (a concept) and the referenced component (of the given partition, -1 for any).
func (l *loader) member(row [][]byte, partition int, check bool) (c common, refset, ref uint64, msg string) {
	if c, msg = l.common(row, -1, check); msg != "" {
		return c, 0, 0, msg
	}
	var err error
	if refset, err = parseID(row[4], PartitionConcept, check); err != nil {
		return c, 0, 0, fmt.Sprintf("refsetId %q: %v", row[4], err)
	}
	if ref, err = parseID(row[5], partition, check); err != nil {
		return c, 0, 0, fmt.Sprintf("referencedComponentId %q: %v", row[5], err)
	}
	return c, refset, ref, ""
}

func (l *loader) common(row [][]byte, partition int, check bool) (c common, msg string) {
	var err error
	if partition >= 0 {
		if c.id, err = parseID(row[0], partition, check); err != nil {
			return c, fmt.Sprintf("id %q: %v", row[0], err)
		}
	} else {
		var ok bool
		if c.uuid, ok = parseUUID(row[0]); !ok {
			return c, fmt.Sprintf("id %q is not a UUID", row[0])
		}
	}
	var ok bool
	if c.eff, ok = parseTime(row[1]); !ok {
		return c, fmt.Sprintf("effectiveTime %q is not a date (YYYYMMDD)", row[1])
	}
	if c.active, ok = parseActive(row[2]); !ok {
		return c, fmt.Sprintf("active %q is not 0 or 1", row[2])
	}
	if c.module, err = parseID(row[3], PartitionConcept, check); err != nil {
		return c, fmt.Sprintf("moduleId %q: %v", row[3], err)
	}
	return c, ""
}

// conceptIDs parses the concept ids in the given columns.
func conceptIDs(row [][]byte, names []string, check bool, cols ...int) ([5]uint64, string) {
	var out [5]uint64
	for i, c := range cols {
		v, err := parseID(row[c], PartitionConcept, check)
		if err != nil {
			return out, fmt.Sprintf("%s %q: %v", names[c], row[c], err)
		}
		out[i] = v
	}
	return out, ""
}

// row takes one data row into staging, or says what is wrong with it.
func (l *loader) row(kind fileKind, row [][]byte, mapCols map[string]int, check bool) string {
	st := &l.st
	st.seq++
	switch kind {
	case kindConcept:
		c, msg := l.common(row, PartitionConcept, check)
		if msg != "" {
			return msg
		}
		ds, err := parseID(row[4], PartitionConcept, check)
		if err != nil {
			return fmt.Sprintf("definitionStatusId %q: %v", row[4], err)
		}
		st.concepts = append(st.concepts, conceptRow{id: c.id, module: c.module, eff: c.eff, seq: st.seq, active: c.active, defined: ds == Defined})
		st.lastModules[c.module]++
	case kindDescription, kindTextDefinition:
		c, msg := l.common(row, PartitionDescription, check)
		if msg != "" {
			return msg
		}
		ids, msg := conceptIDs(row, headers[kind], check, 4, 6)
		if msg != "" {
			return msg
		}
		typ := descOther
		switch ids[1] {
		case FSNType:
			typ = descFSN
		case SynonymType:
			typ = descSynonym
		case DefinitionType:
			typ = descDefinition
		}
		lang, ok := st.langCode[string(row[5])]
		if !ok {
			lang = string(row[5])
			st.langCode[lang] = lang
		}
		st.descs = append(st.descs, descRow{id: c.id, concept: ids[0], eff: c.eff, seq: st.seq, typ: typ, active: c.active, lang: lang, term: string(row[7])})
	case kindRelationship, kindStatedRelationship, kindConcreteValues:
		c, msg := l.common(row, PartitionRelationship, check)
		if msg != "" {
			return msg
		}
		cols := []int{4, 5, 7, 8, 9}
		if kind == kindConcreteValues {
			cols = []int{4, 7, 8, 9}
		}
		ids, msg := conceptIDs(row, headers[kind], check, cols...)
		if msg != "" {
			return msg
		}
		g, ok := parseInt(row[6])
		if !ok {
			return fmt.Sprintf("relationshipGroup %q is not a number", row[6])
		}
		r := relRow{id: c.id, src: ids[0], eff: c.eff, seq: st.seq, group: uint32(g), active: c.active}
		if kind == kindConcreteValues {
			if len(row[5]) == 0 {
				return "concrete value is empty"
			}
			r.typ, r.value = ids[1], string(row[5])
		} else {
			r.dst, r.typ = ids[1], ids[2]
			r.stated = kind == kindStatedRelationship || ids[3] == StatedCharacteristic
		}
		st.rels = append(st.rels, r)
	case kindLanguage:
		c, refset, desc, msg := l.member(row, PartitionDescription, check)
		if msg != "" {
			return msg
		}
		acc, err := parseID(row[6], PartitionConcept, check)
		if err != nil {
			return fmt.Sprintf("acceptabilityId %q: %v", row[6], err)
		}
		if acc != Preferred && acc != Acceptable {
			return fmt.Sprintf("acceptabilityId %d is neither preferred nor acceptable", acc)
		}
		st.langs = append(st.langs, langRow{uuid: c.uuid, eff: c.eff, seq: st.seq, active: c.active, preferred: acc == Preferred, refset: refset, desc: desc})
	case kindSimpleRefset:
		c, refset, ref, msg := l.member(row, -1, check)
		if msg != "" {
			return msg
		}
		st.simple = append(st.simple, memberRow{uuid: c.uuid, eff: c.eff, seq: st.seq, active: c.active, refset: refset, ref: ref})
	case kindMap:
		c, refset, ref, msg := l.member(row, -1, check)
		if msg != "" {
			return msg
		}
		m := mapRow{uuid: c.uuid, eff: c.eff, seq: st.seq, active: c.active, refset: refset, ref: ref, target: string(row[mapCols["mapTarget"]])}
		for _, col := range []struct {
			name string
			dst  *uint16
		}{{"mapGroup", &m.group}, {"mapPriority", &m.priority}} {
			if i, ok := mapCols[col.name]; ok {
				v, ok := parseInt(row[i])
				if !ok || v > 0xffff {
					return fmt.Sprintf("%s %q is not a number", col.name, row[i])
				}
				*col.dst = uint16(v)
			}
		}
		for _, col := range []struct {
			name string
			dst  *uint64
		}{{"correlationId", &m.corr}, {"mapCategoryId", &m.cat}} {
			if i, ok := mapCols[col.name]; ok && len(row[i]) > 0 {
				v, err := parseID(row[i], PartitionConcept, check)
				if err != nil {
					return fmt.Sprintf("%s %q: %v", col.name, row[i], err)
				}
				*col.dst = v
			}
		}
		if i, ok := mapCols["mapRule"]; ok {
			m.rule = string(row[i])
		}
		if i, ok := mapCols["mapAdvice"]; ok {
			m.advice = string(row[i])
		}
		st.maps = append(st.maps, m)
	}
	return ""
}
