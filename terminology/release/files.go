// Package release holds what the classification loaders (terminology/icd10,
// terminology/opcs4) share: finding a release's files in folders and zips, reading
// tab-delimited rows with file and line in errors, building a FHIR CodeSystem resource, and
// saving it under the data directory.
package release

import (
	"archive/zip"
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

// File is one file of a release: on disk, or an entry of a zip.
type File struct {
	// Name is how errors name the file: its path, or the zip's path and the entry's
	// ("release.zip!Content/codes.txt").
	Name string
	// Base is the file's own name, without folders.
	Base string
	// Size is the file's size in bytes (uncompressed).
	Size int64
	open func() (io.ReadCloser, error)
}

// Open opens the file for reading.
func (f File) Open() (io.ReadCloser, error) { return f.open() }

// Files lists the files of the given paths: files as they are, folders walked, zips (a
// path ending ".zip", or a file in a folder ending so) opened and their entries listed.
// close releases the zips; call it once the files have been read.
func Files(paths []string) (files []File, close func() error, err error) {
	var zips []*zip.ReadCloser
	close = func() error {
		var errs []error
		for _, z := range zips {
			errs = append(errs, z.Close())
		}
		return errors.Join(errs...)
	}
	addZip := func(p string) error {
		z, err := zip.OpenReader(p)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		zips = append(zips, z)
		for _, f := range z.File {
			if f.FileInfo().IsDir() {
				continue
			}
			files = append(files, File{Name: p + "!" + f.Name, Base: path.Base(f.Name),
				Size: int64(f.UncompressedSize64), open: f.Open})
		}
		return nil
	}
	addFile := func(p string, size int64) error {
		if strings.EqualFold(filepath.Ext(p), ".zip") {
			return addZip(p)
		}
		files = append(files, File{Name: p, Base: filepath.Base(p), Size: size,
			open: func() (io.ReadCloser, error) { return os.Open(p) }})
		return nil
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			close()
			return nil, nil, err
		}
		if !st.IsDir() {
			if err := addFile(p, st.Size()); err != nil {
				close()
				return nil, nil, err
			}
			continue
		}
		err = filepath.WalkDir(p, func(fp string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			return addFile(fp, info.Size())
		})
		if err != nil {
			close()
			return nil, nil, err
		}
	}
	sort.SliceStable(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, close, nil
}

// Find returns the one file whose base name match accepts. what describes the file
// expected, for the error when there is none (or more than one).
func Find(files []File, what string, match func(base string) bool) (File, error) {
	var found []File
	for _, f := range files {
		if match(f.Base) {
			found = append(found, f)
		}
	}
	switch len(found) {
	case 0:
		return File{}, fmt.Errorf("%w: expected %s", ErrMissingFile, what)
	case 1:
		return found[0], nil
	}
	names := make([]string, len(found))
	for i, f := range found {
		names[i] = f.Name
	}
	return File{}, fmt.Errorf("more than one %s: %s", what, strings.Join(names, ", "))
}

// ErrMissingFile is wrapped by Find when the release lacks the file expected.
var ErrMissingFile = errors.New("release file not found")
