package dmd

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// fileKind is one of the XML files of a release, in the order they are read: codes and
// substances first, so that products can be decoded as they are read.
type fileKind uint8

const (
	kindLookup fileKind = iota
	kindIngredient
	kindVTM
	kindVMP
	kindVMPP
	kindAMP
	kindAMPP
	kindGTIN
	numKinds
)

// kindNames are the names the files carry: f_<name>2_<schema digit><DDMMYY>.xml.
var kindNames = [numKinds]string{"lookup", "ingredient", "vtm", "vmp", "vmpp", "amp", "ampp", "gtin"}

// kindRequired marks the files a release cannot do without; the GTIN file ships separately
// and only adds bar codes.
var kindRequired = [numKinds]bool{true, true, true, true, true, true, true, false}

// fileName matches a release file. The digit after "2_" is the schema's minor version (3
// for the v2_3 files, 0 for the GTIN file); the six after it are the date the release was
// extracted, day month year (a few days before TRUD publishes it).
var fileName = regexp.MustCompile(`^f_([a-z]+)2_(\d)(\d{6})\.xml$`)

// classify recognises a release file by its base name, returning its kind and the date in
// its name as YYYY-MM-DD ("" if the digits are not a date).
func classify(base string) (fileKind, string, bool) {
	m := fileName.FindStringSubmatch(strings.ToLower(base))
	if m == nil {
		return 0, "", false
	}
	for k, n := range kindNames {
		if n == m[1] {
			date := ""
			if t, err := time.Parse("020106", m[3]); err == nil {
				date = t.Format(time.DateOnly)
			}
			return fileKind(k), date, true
		}
	}
	return 0, "", false
}

// xmlFile is one release file found in a folder or zip.
type xmlFile struct {
	kind fileKind
	name string // as shown in messages: its path, or the zip's path and the entry's
	base string
	date string
	size int64
	open func() (io.ReadCloser, error)
}

// maxNestedZip bounds a zip inside a release zip, which is read into memory (the GTIN file
// ships that way).
const maxNestedZip = 1 << 30

// collector gathers the files of a release from the paths given.
type collector struct {
	files   [numKinds]*xmlFile
	closers []io.Closer
}

func (c *collector) close() {
	for _, x := range c.closers {
		x.Close()
	}
}

func (c *collector) add(f *xmlFile) error {
	old := c.files[f.kind]
	switch {
	case old == nil:
		c.files[f.kind] = f
	case old.base == f.base:
		// The same file twice, say a release unpacked next to its zip: either will do.
	default:
		return fmt.Errorf("dmd: two %s files, %s and %s: give one release at a time", strings.ToUpper(kindNames[f.kind]), old.name, f.name)
	}
	return nil
}

// addPath takes a folder (searched with its subfolders and any zips in them), a release
// zip, or one release file.
func (c *collector) addPath(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("dmd: %w", err)
	}
	if !st.IsDir() {
		return c.addFile(p, st.Size())
	}
	return filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("dmd: %w", err)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("dmd: %w", err)
		}
		base := d.Name()
		if _, _, ok := classify(base); !ok && !isZip(base) {
			return nil
		}
		return c.addFile(q, info.Size())
	})
}

func isZip(name string) bool { return strings.EqualFold(path.Ext(name), ".zip") }

func (c *collector) addFile(p string, size int64) error {
	base := filepath.Base(p)
	if isZip(base) {
		zr, err := zip.OpenReader(p)
		if err != nil {
			return fmt.Errorf("dmd: %s: %w", p, err)
		}
		c.closers = append(c.closers, zr)
		return c.addZip(p, &zr.Reader)
	}
	kind, date, ok := classify(base)
	if !ok {
		return fmt.Errorf("dmd: %s is neither a folder, a zip nor a dm+d release file (f_vmp2_3DDMMYY.xml…)", p)
	}
	return c.add(&xmlFile{kind: kind, name: p, base: base, date: date, size: size,
		open: func() (io.ReadCloser, error) { return os.Open(p) }})
}

func (c *collector) addZip(name string, zr *zip.Reader) error {
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		base := path.Base(f.Name)
		entry := name + "/" + f.Name
		if isZip(base) {
			if f.UncompressedSize64 > maxNestedZip {
				continue
			}
			data, err := readEntry(f)
			if err != nil {
				return fmt.Errorf("dmd: %s: %w", entry, err)
			}
			inner, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				return fmt.Errorf("dmd: %s: %w", entry, err)
			}
			if err := c.addZip(entry, inner); err != nil {
				return err
			}
			continue
		}
		kind, date, ok := classify(base)
		if !ok {
			continue
		}
		if err := c.add(&xmlFile{kind: kind, name: entry, base: base, date: date, size: int64(f.UncompressedSize64), open: f.Open}); err != nil {
			return err
		}
	}
	return nil
}

func readEntry(f *zip.File) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// check reports the first required file missing.
func (c *collector) check(paths []string) error {
	var missing []string
	for k, f := range c.files {
		if f == nil && kindRequired[k] {
			missing = append(missing, fmt.Sprintf("no %s file (f_%s2_3DDMMYY.xml)", strings.ToUpper(kindNames[k]), kindNames[k]))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("dmd: %s in %s", strings.Join(missing, ", "), strings.Join(paths, ", "))
	}
	return nil
}

// countingReader counts the bytes read through it, for progress reports.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

var errNoPaths = errors.New("dmd: no release given")
