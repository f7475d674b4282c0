// Package release holds what the classification loaders (terminology/icd10,
// terminology/opcs4) share: finding a release's files in folders and zips (terminology/dmd
// finds its files this way too), reading tab-delimited rows with file and line in errors,
// building a FHIR CodeSystem resource, and saving it under the data directory.
package release

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
	"sort"
	"strings"
)

// File is one file of a release: on disk, or an entry of a zip.
type File struct {
	// Name is how errors name the file: its path, or the zip's path and the entry's
	// ("release.zip!Content/codes.txt"; "release.zip!gtin.zip!f_gtin2_0200524.xml" for a
	// zip inside a zip).
	Name string
	// Base is the file's own name, without folders.
	Base string
	// Size is the file's size in bytes (uncompressed).
	Size int64
	open func() (io.ReadCloser, error)
}

// Open opens the file for reading.
func (f File) Open() (io.ReadCloser, error) { return f.open() }

// maxNestedZip bounds a zip inside a zip: it is read into memory to be listed (dm+d ships
// its GTIN file that way), so a larger one is an error rather than a risk to the process.
const maxNestedZip = 512 << 20

// Files lists the files of the given paths: files as they are, folders walked (a link
// counting as the file it leads to), zips (a path ending ".zip", a file in a folder ending
// so, or an entry of a zip ending so) opened and their entries listed. close releases the
// zips; call it once the files have been read.
func Files(paths []string) (files []File, close func() error, err error) {
	var zips []*zip.ReadCloser
	close = func() error {
		var errs []error
		for _, z := range zips {
			errs = append(errs, z.Close())
		}
		return errors.Join(errs...)
	}
	var addZip func(name string, z *zip.Reader) error
	addZip = func(name string, z *zip.Reader) error {
		for _, f := range z.File {
			if f.FileInfo().IsDir() {
				continue
			}
			entry := name + "!" + f.Name
			if !isZip(f.Name) {
				files = append(files, File{Name: entry, Base: path.Base(f.Name),
					Size: int64(f.UncompressedSize64), open: f.Open})
				continue
			}
			inner, err := readNested(f)
			if err != nil {
				return fmt.Errorf("%s: %w", entry, err)
			}
			if err := addZip(entry, inner); err != nil {
				return err
			}
		}
		return nil
	}
	addFile := func(p string, size int64) error {
		if !isZip(p) {
			files = append(files, File{Name: p, Base: filepath.Base(p), Size: size,
				open: func() (io.ReadCloser, error) { return os.Open(p) }})
			return nil
		}
		z, err := zip.OpenReader(p)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		zips = append(zips, z)
		return addZip(p, &z.Reader)
	}
	walk := func(fp string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			if info, err = os.Stat(fp); err != nil {
				return nil // a broken link: nothing to read
			}
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		return addFile(fp, info.Size())
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err == nil {
			if st.IsDir() {
				err = filepath.WalkDir(p, walk)
			} else {
				err = addFile(p, st.Size())
			}
		}
		if err != nil {
			close()
			return nil, nil, err
		}
	}
	sort.SliceStable(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, close, nil
}

func isZip(name string) bool { return strings.EqualFold(path.Ext(name), ".zip") }

// readNested reads a zip entry that is a zip into memory, as a zip needs random access.
func readNested(f *zip.File) (*zip.Reader, error) {
	// archive/zip fails a read past the declared size, so checking that bounds the memory.
	if f.UncompressedSize64 > maxNestedZip {
		return nil, fmt.Errorf("a zip inside a zip is read into memory; this one is %d MiB, over the %d MiB allowed",
			f.UncompressedSize64>>20, maxNestedZip>>20)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	return zip.NewReader(bytes.NewReader(data), int64(len(data)))
}

// Find returns the one file whose base name match accepts. what describes the file
// expected, for the error when there is none (or more than one).
func Find(files []File, what string, match func(base string) bool) (File, error) {
	return find(files, what, func(f File) (bool, error) { return match(f.Base), nil })
}

// Named matches a file for OpenFile by its base name.
func Named(re *regexp.Regexp) func(File) (bool, error) {
	return func(f File) (bool, error) { return re.MatchString(f.Base), nil }
}

// OpenFile finds the one file of the release in paths (see Files) that match accepts, and
// opens it; match may read the file to tell. what describes the file expected, for the
// error when there is none (or more than one). Closing the reader also releases the
// release's zips.
func OpenFile(paths []string, what string, match func(File) (bool, error)) (File, io.ReadCloser, error) {
	if len(paths) == 0 {
		return File{}, nil, errors.New("no release given")
	}
	files, closeFiles, err := Files(paths)
	if err != nil {
		return File{}, nil, err
	}
	f, err := find(files, what, match)
	if err != nil {
		closeFiles()
		return File{}, nil, err
	}
	rc, err := f.Open()
	if err != nil {
		closeFiles()
		return File{}, nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	return f, fileReader{rc, closeFiles}, nil
}

// fileReader is a file opened by OpenFile, holding the zips it may be read from.
type fileReader struct {
	io.ReadCloser
	closeFiles func() error
}

func (r fileReader) Close() error { return errors.Join(r.ReadCloser.Close(), r.closeFiles()) }

func find(files []File, what string, match func(File) (bool, error)) (File, error) {
	var found []File
	for _, f := range files {
		ok, err := match(f)
		if err != nil {
			return File{}, err
		}
		if ok {
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

// ErrMissingFile is wrapped by Find and OpenFile when the release lacks the file expected.
var ErrMissingFile = errors.New("release file not found")
