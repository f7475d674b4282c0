package snomed

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"unsafe"

	"github.com/concord-health/concord/terminology/release"
)

// The index file: a header (magic, format version, byte-order mark), then each field of
// the Edition as a length and its raw little-endian elements, each aligned to 8 bytes so
// Open can use the file's bytes in place, and a CRC-32C of all that as the last 8 bytes.
const (
	indexMagic   = "SCTINDEX"
	indexVersion = 1
	byteOrder    = 0x01020304
)

// IndexFile is where Save writes an edition and Open reads it, relative to the data
// directory.
const IndexFile = "terminology/snomed.idx"

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrNoIndex is returned (wrapped) by Open when the data directory holds no edition.
var ErrNoIndex = errors.New("snomed: no SNOMED CT index")

// codec writes the fields of an Edition, or reads them back, in the order layout visits.
type codec struct {
	// encoding
	w   io.Writer
	crc uint32
	off int
	// decoding
	buf  []byte
	pos  int
	size int // elements of the last field read
	err  error
}

func (c *codec) encoding() bool { return c.w != nil }

func (c *codec) write(b []byte) {
	if c.err != nil {
		return
	}
	c.crc = crc32.Update(c.crc, crcTable, b)
	c.off += len(b)
	_, c.err = c.w.Write(b)
}

var zeros [8]byte

func (c *codec) align() {
	if c.encoding() {
		if r := c.off % 8; r != 0 {
			c.write(zeros[:8-r])
		}
		return
	}
	c.pos = (c.pos + 7) &^ 7
}

func (c *codec) word(v *uint64) {
	c.align()
	if c.encoding() {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], *v)
		c.write(b[:])
		return
	}
	if c.err != nil || c.pos+8 > len(c.buf) {
		c.fail()
		return
	}
	*v = binary.LittleEndian.Uint64(c.buf[c.pos:])
	c.pos += 8
}

func (c *codec) fail() {
	if c.err == nil {
		c.err = errors.New("snomed: index file is truncated or corrupt")
	}
}

// raw writes or reads n elements of size bytes at p; on reading it returns a pointer into
// the buffer.
func (c *codec) raw(p unsafe.Pointer, n, size int) unsafe.Pointer {
	v := uint64(n)
	c.word(&v)
	if c.encoding() {
		if n > 0 {
			c.write(unsafe.Slice((*byte)(p), n*size))
		}
		return nil
	}
	if c.err != nil || v > uint64(len(c.buf)) || c.pos+int(v)*size > len(c.buf) {
		c.fail()
		return nil
	}
	at := c.pos
	c.pos += int(v) * size
	c.size = int(v)
	if v == 0 {
		return nil
	}
	return unsafe.Pointer(&c.buf[at])
}

func slice[T uint8 | uint16 | uint32 | uint64](c *codec, s *[]T) {
	var zero T
	size := int(unsafe.Sizeof(zero))
	var p unsafe.Pointer
	if len(*s) > 0 {
		p = unsafe.Pointer(&(*s)[0])
	}
	q := c.raw(p, len(*s), size)
	if !c.encoding() && c.err == nil {
		if q == nil {
			*s = nil
		} else {
			*s = unsafe.Slice((*T)(q), c.size)
		}
	}
}

func str(c *codec, s *string) {
	q := c.raw(unsafe.Pointer(unsafe.StringData(*s)), len(*s), 1)
	if !c.encoding() && c.err == nil {
		if q == nil {
			*s = ""
		} else {
			*s = unsafe.String((*byte)(q), c.size)
		}
	}
}

func strs(c *codec, s *[]string) {
	n := uint64(len(*s))
	c.word(&n)
	if !c.encoding() {
		if c.err != nil || n > uint64(len(c.buf)) {
			c.fail()
			return
		}
		*s = make([]string, n)
	}
	for i := range *s {
		str(c, &(*s)[i])
	}
}

// layout visits every stored field of the Edition; Save and Open share it so that they
// cannot disagree.
func (e *Edition) layout(c *codec) {
	date := uint64(e.date)
	c.word(&e.module)
	c.word(&date)
	e.date = uint32(date)
	slice(c, &e.languages)
	slice(c, &e.ids)
	slice(c, &e.flags)
	slice(c, &e.modIdx)
	slice(c, &e.modules)
	slice(c, &e.parOff)
	slice(c, &e.par)
	slice(c, &e.chiOff)
	slice(c, &e.chi)
	slice(c, &e.ancOff)
	slice(c, &e.anc)
	slice(c, &e.descOff)
	slice(c, &e.descID)
	slice(c, &e.descType)
	slice(c, &e.descLang)
	strs(c, &e.langs)
	slice(c, &e.termOff)
	str(c, &e.terms)
	slice(c, &e.langRefsets)
	slice(c, &e.accept)
	slice(c, &e.relOff)
	slice(c, &e.relType)
	slice(c, &e.relDest)
	slice(c, &e.relGroup)
	slice(c, &e.relVal)
	slice(c, &e.revOff)
	slice(c, &e.revSrc)
	slice(c, &e.revType)
	slice(c, &e.stOff)
	slice(c, &e.stType)
	slice(c, &e.stDest)
	slice(c, &e.stGroup)
	slice(c, &e.refsets)
	slice(c, &e.memOff)
	slice(c, &e.mem)
	slice(c, &e.mapRefsets)
	slice(c, &e.mapOff)
	slice(c, &e.mapRef)
	slice(c, &e.mapGroup)
	slice(c, &e.mapPriority)
	slice(c, &e.mapCorr)
	slice(c, &e.mapCat)
	slice(c, &e.mapRule)
	slice(c, &e.mapAdvice)
	slice(c, &e.mapTarget)
	slice(c, &e.strOff)
	str(c, &e.strs)
	str(c, &e.words)
	slice(c, &e.wordOff)
	slice(c, &e.postOff)
	slice(c, &e.post)
}

func littleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}

// Save writes the edition to DIR/terminology/snomed.idx. It writes a temporary file and
// renames it over the old one, so a failed or interrupted save leaves the previous edition
// readable.
func (e *Edition) Save(dir string) error {
	if !littleEndian() {
		return errors.New("snomed: index files are written on little-endian machines only")
	}
	err := release.WriteFileAtomic(filepath.Join(dir, IndexFile), func(w io.Writer) error {
		c := &codec{w: w}
		c.write([]byte(indexMagic))
		var hdr [8]byte
		binary.LittleEndian.PutUint32(hdr[:4], indexVersion)
		binary.LittleEndian.PutUint32(hdr[4:], byteOrder)
		c.write(hdr[:])
		e.layout(c)
		c.align()
		var sum [8]byte
		binary.LittleEndian.PutUint32(sum[:], c.crc)
		if c.err == nil {
			_, c.err = c.w.Write(sum[:])
		}
		return c.err
	})
	if err != nil {
		return fmt.Errorf("snomed: %w", err)
	}
	return nil
}

// Open reads the edition saved in DIR/terminology/snomed.idx; an error wrapping ErrNoIndex
// says there is none.
func Open(dir string) (*Edition, error) {
	return OpenFile(filepath.Join(dir, IndexFile))
}

// OpenFile reads an edition from an index file written by Save.
func OpenFile(path string) (*Edition, error) {
	buf, err := readAll(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s", ErrNoIndex, path)
	}
	if err != nil {
		return nil, err
	}
	if len(buf) < 24 || string(buf[:8]) != indexMagic {
		return nil, fmt.Errorf("snomed: %s is not a SNOMED CT index", path)
	}
	if v := binary.LittleEndian.Uint32(buf[8:]); v != indexVersion {
		return nil, fmt.Errorf("snomed: %s has index format %d, this build reads %d: load the release again", path, v, indexVersion)
	}
	if binary.LittleEndian.Uint32(buf[12:]) != byteOrder || !littleEndian() {
		return nil, fmt.Errorf("snomed: %s was written with another byte order", path)
	}
	body := buf[:len(buf)-8]
	if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(buf[len(buf)-8:]) {
		return nil, fmt.Errorf("snomed: %s is corrupt (checksum)", path)
	}
	e := &Edition{}
	c := &codec{buf: body, pos: 16}
	e.layout(c)
	c.align()
	if c.err == nil && c.pos != len(body) {
		c.fail()
	}
	if c.err != nil {
		return nil, fmt.Errorf("%s: %w", path, c.err)
	}
	e.finish()
	return e, nil
}

// readAll reads a file into a buffer aligned to 8 bytes, so fields can be used in place.
func readAll(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	words := make([]uint64, (st.Size()+7)/8)
	buf := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(words))), st.Size())
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, err
	}
	return buf, nil
}
