package release

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/concord-health/concord/fhir"
)

// ErrNoIndex is returned (wrapped) by Open when the data directory holds no saved code
// system of the kind asked for.
var ErrNoIndex = errors.New("no saved code system")

// Save writes a resource as JSON to dataDir/name, atomically (WriteFileAtomic).
func Save(dataDir, name string, res *fhir.Resource) error {
	if res == nil || res.Root == nil {
		return errors.New("release: no resource to save")
	}
	return WriteFileAtomic(filepath.Join(dataDir, filepath.FromSlash(name)), func(w io.Writer) error {
		_, err := w.Write(res.Bytes())
		return err
	})
}

// WriteFileAtomic writes a file through write (buffered), atomically: a temporary file in
// the same folder (created with its parents), synced, then renamed over the old one, so a
// reader sees the old file or the new one, never part of either, and an interrupted write
// leaves the old one in place.
func WriteFileAtomic(path string, write func(w io.Writer) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := write(bw); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		d.Sync() // make the rename durable where the platform allows
		d.Close()
	}
	return nil
}

// Open reads and parses a resource saved by Save at dataDir/name. A missing file is an
// error wrapping ErrNoIndex.
func Open(dataDir, name string) (*fhir.Resource, error) {
	path := filepath.Join(dataDir, filepath.FromSlash(name))
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s", ErrNoIndex, path)
	}
	if err != nil {
		return nil, err
	}
	res, err := fhir.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if res.Type != "CodeSystem" {
		return nil, fmt.Errorf("%s: a %s, not a CodeSystem", path, res.Type)
	}
	return res, nil
}
