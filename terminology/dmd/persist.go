package dmd

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/concord-health/concord/terminology/release"
)

// IndexFile is where Save writes a release and Open reads it, relative to the data
// directory.
const IndexFile = "terminology/dmd.idx"

// ErrNoIndex is returned (wrapped) by Open when the data directory holds no release.
var ErrNoIndex = errors.New("dmd: no dm+d index")

// The index file is a header (magic, format version), the release in encoding/gob, and a
// trailer: the length of everything before it and its CRC-32C. A torn write shows as a
// wrong length, a changed byte as a wrong checksum.
const (
	indexMagic   = "DMDINDEX"
	indexVersion = 1
	headerSize   = len(indexMagic) + 4
	trailerSize  = 8 + 4
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Save writes the release to DIR/terminology/dmd.idx, creating the folder. It writes a
// temporary file, syncs it and renames it over the old one, so a failed or interrupted save
// leaves the previous release readable.
func (r *Release) Save(dir string) error {
	err := release.WriteFileAtomic(filepath.Join(dir, IndexFile), func(w io.Writer) error {
		crc := crc32.New(crcTable)
		cw := &countingWriter{w: io.MultiWriter(w, crc)}
		var hdr [headerSize]byte
		copy(hdr[:], indexMagic)
		binary.LittleEndian.PutUint32(hdr[len(indexMagic):], indexVersion)
		cw.Write(hdr[:])
		if err := gob.NewEncoder(cw).Encode(&r.idx); err != nil {
			return err
		}
		if cw.err != nil {
			return cw.err
		}
		var trailer [trailerSize]byte
		binary.LittleEndian.PutUint64(trailer[:8], uint64(cw.n))
		binary.LittleEndian.PutUint32(trailer[8:], crc.Sum32())
		_, err := w.Write(trailer[:])
		return err
	})
	if err != nil {
		return fmt.Errorf("dmd: %w", err)
	}
	return nil
}

type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

// Open reads the release saved in DIR/terminology/dmd.idx; an error wrapping ErrNoIndex
// says there is none, and a damaged file is an error saying so.
func Open(dir string) (*Release, error) {
	return OpenFile(filepath.Join(dir, IndexFile))
}

// OpenFile reads a release from an index file written by Save.
func OpenFile(path string) (*Release, error) {
	buf, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s", ErrNoIndex, path)
	}
	if err != nil {
		return nil, fmt.Errorf("dmd: %w", err)
	}
	if len(buf) < headerSize+trailerSize || string(buf[:len(indexMagic)]) != indexMagic {
		return nil, fmt.Errorf("dmd: %s is not a dm+d index", path)
	}
	if v := binary.LittleEndian.Uint32(buf[len(indexMagic):]); v != indexVersion {
		return nil, fmt.Errorf("dmd: %s has index format %d, this build reads %d: load the release again", path, v, indexVersion)
	}
	body := buf[:len(buf)-trailerSize]
	trailer := buf[len(buf)-trailerSize:]
	if n := binary.LittleEndian.Uint64(trailer[:8]); n != uint64(len(body)) {
		return nil, fmt.Errorf("dmd: %s is truncated or corrupt (%d bytes, its trailer says %d): load the release again", path, len(body), n)
	}
	if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(trailer[8:]) {
		return nil, fmt.Errorf("dmd: %s is corrupt (checksum mismatch): load the release again", path)
	}
	r := &Release{}
	if err := gob.NewDecoder(bytes.NewReader(body[headerSize:])).Decode(&r.idx); err != nil {
		return nil, fmt.Errorf("dmd: %s is corrupt: %w", path, err)
	}
	if err := r.idx.check(); err != nil {
		return nil, fmt.Errorf("dmd: %s is corrupt: %w", path, err)
	}
	r.finish()
	return r, nil
}

// check verifies that the index's references stay in bounds, so that a file that decodes
// cannot make lookups panic.
func (x *index) check() error {
	n := len(x.Records)
	strs := uint32(len(x.StrOff) - 1)
	switch {
	case len(x.StrOff) < 2:
		return errors.New("no string table")
	case int(x.StrOff[len(x.StrOff)-1]) != len(x.Text):
		return errors.New("string table does not match its text")
	case len(x.Codes) == 0:
		return errors.New("no code table")
	case len(x.AttrOff) != n+1 || len(x.IngOff) != n+1 || len(x.GTINOff) != n+1:
		return errors.New("product lists do not match the products")
	case int(x.AttrOff[n]) != len(x.Attrs) || int(x.IngOff[n]) != len(x.Ings) || int(x.GTINOff[n]) != len(x.GTINs):
		return errors.New("product lists do not match their values")
	}
	for i := 1; i < len(x.StrOff); i++ {
		if x.StrOff[i] < x.StrOff[i-1] {
			return errors.New("string table out of order")
		}
	}
	for _, offs := range [][]uint32{x.AttrOff, x.IngOff, x.GTINOff} {
		for i := 1; i < len(offs); i++ {
			if offs[i] < offs[i-1] {
				return errors.New("product lists out of order")
			}
		}
	}
	str := func(id uint32) bool { return id < strs }
	codeOK := func(c uint32) bool { return c < uint32(len(x.Codes)) }
	for i, rec := range x.Records {
		if i > 0 && x.Records[i-1].ID >= rec.ID {
			return errors.New("products out of order")
		}
		if rec.Class < VTM || rec.Class > AMPP || !str(rec.Name) || !str(rec.Abbrev) || !str(rec.Desc) || !str(rec.Qty) {
			return fmt.Errorf("product %d is malformed", rec.ID)
		}
	}
	for i, c := range x.Codes {
		if i > 0 && int(c.Table) >= len(x.Tables) || !str(c.CD) || !str(c.Desc) {
			return errors.New("code table is malformed")
		}
	}
	for _, a := range x.Attrs {
		if a == 0 || !codeOK(a) {
			return errors.New("product attribute is malformed")
		}
	}
	for _, g := range x.Ings {
		if !str(g.Num) || !str(g.Den) || !codeOK(g.NumUnit) || !codeOK(g.DenUnit) || !codeOK(g.Basis) {
			return errors.New("ingredient is malformed")
		}
	}
	for _, g := range x.GTINs {
		if !str(g) {
			return errors.New("GTIN is malformed")
		}
	}
	for i, s := range x.Substances {
		if i > 0 && x.Substances[i-1].ID >= s.ID || !str(s.Name) {
			return errors.New("ingredient substances are malformed")
		}
	}
	return nil
}
