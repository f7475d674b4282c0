package snomed

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// fileKind is the kind of RF2 file, recognised by the start of its name.
type fileKind int

const (
	kindConcept fileKind = iota
	kindDescription
	kindTextDefinition
	kindRelationship
	kindStatedRelationship
	kindConcreteValues
	kindLanguage
	kindSimpleRefset
	kindMap
)

// kindPrefixes are matched in order: the longer names first where one begins another.
var kindPrefixes = []struct {
	prefix string
	kind   fileKind
}{
	{"sct2_Concept_", kindConcept},
	{"sct2_Description_", kindDescription},
	{"sct2_TextDefinition_", kindTextDefinition},
	{"sct2_RelationshipConcreteValues_", kindConcreteValues},
	{"sct2_Relationship_", kindRelationship},
	{"sct2_StatedRelationship_", kindStatedRelationship},
	{"der2_cRefset_Language", kindLanguage},
	{"der2_Refset_Simple", kindSimpleRefset},
}

// headers are the columns each kind must have, in order. Map refsets are checked column by
// column instead, since their additional columns vary (simple, complex, extended).
var headers = map[fileKind][]string{
	kindConcept:            {"id", "effectiveTime", "active", "moduleId", "definitionStatusId"},
	kindDescription:        {"id", "effectiveTime", "active", "moduleId", "conceptId", "languageCode", "typeId", "term", "caseSignificanceId"},
	kindRelationship:       {"id", "effectiveTime", "active", "moduleId", "sourceId", "destinationId", "relationshipGroup", "typeId", "characteristicTypeId", "modifierId"},
	kindConcreteValues:     {"id", "effectiveTime", "active", "moduleId", "sourceId", "value", "relationshipGroup", "typeId", "characteristicTypeId", "modifierId"},
	kindLanguage:           {"id", "effectiveTime", "active", "moduleId", "refsetId", "referencedComponentId", "acceptabilityId"},
	kindSimpleRefset:       {"id", "effectiveTime", "active", "moduleId", "refsetId", "referencedComponentId"},
	kindTextDefinition:     nil, // as kindDescription
	kindStatedRelationship: nil, // as kindRelationship
}

func init() {
	headers[kindTextDefinition] = headers[kindDescription]
	headers[kindStatedRelationship] = headers[kindRelationship]
}

// mapColumns are the columns a map refset may have after referencedComponentId. The UK
// extended maps add mapBlock (which rows were authored together); it is accepted and not
// kept, as nothing a translation reports depends on it.
var mapColumns = map[string]bool{
	"mapGroup": true, "mapPriority": true, "mapRule": true, "mapAdvice": true, "mapTarget": true,
	"correlationId": true, "mapCategoryId": true, "mapBlock": true,
}

// classify names the kind of an RF2 file and whether it is a snapshot (else a delta); ok is
// false for files not loaded (Full files, OWL, MRCM and other refsets, readmes).
func classify(name string) (kind fileKind, snapshot, ok bool) {
	if !strings.HasSuffix(name, ".txt") {
		return 0, false, false
	}
	rest := ""
	for _, p := range kindPrefixes {
		if strings.HasPrefix(name, p.prefix) {
			kind, rest = p.kind, name[len(p.prefix):]
			ok = true
			break
		}
	}
	if !ok {
		// der2_<pattern>Refset_<Simple|Complex|Extended>Map<Snapshot|Delta>…
		i := strings.Index(name, "Refset_")
		if !strings.HasPrefix(name, "der2_") || i < 0 {
			return 0, false, false
		}
		tail := name[i+len("Refset_"):]
		for _, m := range []string{"SimpleMap", "ComplexMap", "ExtendedMap"} {
			if strings.HasPrefix(tail, m) {
				kind, rest, ok = kindMap, tail[len(m):], true
			}
		}
		if !ok {
			return 0, false, false
		}
	}
	// The release type may follow a content marker, as in the UK's UKCLSnapshot and
	// UKDGSnapshot.
	token := rest
	if i := strings.IndexFunc(rest, func(r rune) bool { return r < 'A' || r > 'z' || r > 'Z' && r < 'a' }); i >= 0 {
		token = rest[:i]
	}
	switch {
	case strings.HasSuffix(token, "Snapshot"):
		return kind, true, true
	case strings.HasSuffix(token, "Delta"):
		return kind, false, true
	}
	return 0, false, false
}

// rf2File is one file of a source to read.
type rf2File struct {
	name     string // as reported in errors: the source path and the file's path in it
	kind     fileKind
	snapshot bool
	size     int64
	open     func() (io.ReadCloser, error)
}

// source lists the RF2 files of a folder or a release zip. A source with snapshot files is
// read as a snapshot (its delta files ignored); one with only delta files (a daily build, a
// patch) is read as changes applied on top of the sources before it.
type source struct {
	files []rf2File
	close func() error
}

func openSource(p string) (*source, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	var src source
	if st.IsDir() {
		err = filepath.WalkDir(p, func(fp string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if d.Name() == "Full" {
					return filepath.SkipDir
				}
				return nil
			}
			kind, snap, ok := classify(d.Name())
			if !ok {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			src.files = append(src.files, rf2File{name: fp, kind: kind, snapshot: snap, size: info.Size(),
				open: func() (io.ReadCloser, error) { return os.Open(fp) }})
			return nil
		})
		src.close = func() error { return nil }
	} else {
		var zr *zip.ReadCloser
		zr, err = zip.OpenReader(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		src.close = zr.Close
		for _, f := range zr.File {
			if f.FileInfo().IsDir() || strings.Contains("/"+f.Name, "/Full/") {
				continue
			}
			kind, snap, ok := classify(path.Base(f.Name))
			if !ok {
				continue
			}
			src.files = append(src.files, rf2File{name: p + "!" + f.Name, kind: kind, snapshot: snap,
				size: int64(f.UncompressedSize64), open: f.Open})
		}
	}
	if err != nil {
		src.close()
		return nil, err
	}
	snapshots := false
	for _, f := range src.files {
		snapshots = snapshots || f.snapshot
	}
	keep := src.files[:0]
	for _, f := range src.files {
		if f.snapshot == snapshots {
			keep = append(keep, f)
		}
	}
	src.files = keep
	sort.Slice(src.files, func(i, j int) bool { return src.files[i].name < src.files[j].name })
	if len(src.files) == 0 {
		src.close()
		return nil, fmt.Errorf("%s: no RF2 snapshot or delta files found", p)
	}
	return &src, nil
}

// RowError is a malformed row (or header) of an RF2 file.
type RowError struct {
	File string
	Line int
	Msg  string
}

func (e RowError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// LoadError fails a load that met malformed rows: the first of them, and how many there
// were in all.
type LoadError struct {
	Rows  []RowError
	Total int
}

func (e *LoadError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "snomed: %d malformed RF2 rows", e.Total)
	for i, r := range e.Rows {
		if i == 10 {
			fmt.Fprintf(&b, "; …")
			break
		}
		b.WriteString("; ")
		b.WriteString(r.Error())
	}
	return b.String()
}

// lineReader yields the fields of each data row of an RF2 file. Blank lines and lines
// starting with '#' are skipped: releases have none, but hand-made test content annotates
// rows that way.
type lineReader struct {
	r      *bufio.Reader
	file   string
	line   int
	fields [][]byte
	buf    []byte // a row longer than the reader's buffer
	read   int64  // bytes consumed
}

func newLineReader(r io.Reader, file string) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 1<<20), file: file}
}

// next returns the next data row split on tabs (trailing empty fields kept), or io.EOF.
// The slices are valid until the following call.
func (lr *lineReader) next() ([][]byte, error) {
	for {
		b, err := lr.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			lr.buf = append(lr.buf[:0], b...)
			for errors.Is(err, bufio.ErrBufferFull) {
				b, err = lr.r.ReadSlice('\n')
				lr.buf = append(lr.buf, b...)
			}
			b = lr.buf
		}
		if len(b) == 0 && err != nil {
			return nil, err
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		lr.line++
		lr.read += int64(len(b))
		b = bytes.TrimSuffix(b, []byte{'\n'})
		b = bytes.TrimSuffix(b, []byte{'\r'})
		if len(b) == 0 || b[0] == '#' {
			if err == io.EOF {
				return nil, io.EOF
			}
			continue
		}
		lr.fields = lr.fields[:0]
		for {
			i := bytes.IndexByte(b, '\t')
			if i < 0 {
				lr.fields = append(lr.fields, b)
				break
			}
			lr.fields = append(lr.fields, b[:i])
			b = b[i+1:]
		}
		return lr.fields, nil
	}
}

func (lr *lineReader) errorf(format string, args ...any) RowError {
	return RowError{File: lr.file, Line: lr.line, Msg: fmt.Sprintf(format, args...)}
}

// parseTime reads an effectiveTime (YYYYMMDD). A blank one marks content not yet published
// (authoring exports, test content): it is newer than any dated row, returned as blankTime.
// Month and day are range-checked only, not against the calendar.
func parseTime(b []byte) (uint32, bool) {
	if len(b) == 0 {
		return blankTime, true
	}
	if len(b) != 8 {
		return 0, false
	}
	var v uint32
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint32(c-'0')
	}
	m, d := v/100%100, v%100
	if m < 1 || m > 12 || d < 1 || d > 31 || v/10000 < 1970 {
		return 0, false
	}
	return v, true
}

const blankTime = ^uint32(0)

func parseActive(b []byte) (bool, bool) {
	if len(b) == 1 && (b[0] == '0' || b[0] == '1') {
		return b[0] == '1', true
	}
	return false, false
}

func parseInt(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// parseUUID reads a refset member id (a UUID in its 8-4-4-4-12 form).
func parseUUID(b []byte) (uuid, bool) {
	var u [16]byte
	if len(b) != 36 || b[8] != '-' || b[13] != '-' || b[18] != '-' || b[23] != '-' {
		return uuid{}, false
	}
	j := 0
	for i := 0; i < 36; i += 2 {
		if b[i] == '-' {
			i--
			continue
		}
		hi, ok1 := unhex(b[i])
		lo, ok2 := unhex(b[i+1])
		if !ok1 || !ok2 || j >= 16 {
			return uuid{}, false
		}
		u[j] = hi<<4 | lo
		j++
	}
	return uuid{binary.BigEndian.Uint64(u[:8]), binary.BigEndian.Uint64(u[8:])}, j == 16
}

// uuid is a refset member id, as two halves that sort like the text form.
type uuid struct{ hi, lo uint64 }

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
