package dmd

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/concord-health/concord/terminology/release"
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
	release.File
	kind fileKind
	date string
}

// findFiles finds the files of one release in paths: folders (searched with their
// subfolders and any zips in them), release zips, or release files. close releases the
// zips once the files have been read.
func findFiles(paths []string) (found [numKinds]*xmlFile, close func() error, err error) {
	files, close, err := release.Files(paths)
	if err != nil {
		return found, nil, fmt.Errorf("dmd: %w", err)
	}
	if err := pick(&found, files, paths); err != nil {
		close()
		return found, nil, err
	}
	return found, close, nil
}

// pick takes the release files among files, one of each kind.
func pick(found *[numKinds]*xmlFile, files []release.File, paths []string) error {
	for _, f := range files {
		kind, date, ok := classify(f.Base)
		if !ok {
			if slices.Contains(paths, f.Name) { // a file given by name, not found in a folder or zip
				return fmt.Errorf("dmd: %s is neither a folder, a zip nor a dm+d release file (f_vmp2_3DDMMYY.xml…)", f.Name)
			}
			continue
		}
		switch old := found[kind]; {
		case old == nil:
			found[kind] = &xmlFile{File: f, kind: kind, date: date}
		case old.Base == f.Base:
			// The same file twice, say a release unpacked next to its zip: either will do.
		default:
			return fmt.Errorf("dmd: two %s files, %s and %s: give one release at a time", strings.ToUpper(kindNames[kind]), old.Name, f.Name)
		}
	}
	var missing []string
	for k, f := range found {
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
