package dmd

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSaveOpen(t *testing.T) {
	want := loadFixture(t)
	dir := t.TempDir()
	if _, err := Open(dir); !errors.Is(err, ErrNoIndex) {
		t.Fatalf("Open(empty) = %v, want ErrNoIndex", err)
	}
	if err := want.Save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	sameRelease(t, got, want)
	if name, ok := got.Substance(96068000); !ok || name != "Amoxicillin trihydrate" {
		t.Errorf("Substance after Open = %q, %v", name, ok)
	}
	// Saving again replaces the file and leaves no temporary file behind.
	if err := got.Save(dir); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "terminology"))
	if len(entries) != 1 || entries[0].Name() != "dmd.idx" {
		t.Errorf("terminology folder holds %v", entries)
	}
}

func TestOpenCorrupt(t *testing.T) {
	r := loadFixture(t)
	dir := t.TempDir()
	if err := r.Save(dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, IndexFile)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func([]byte) []byte
		want string
	}{
		{"byte changed", func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b }, "checksum"},
		{"torn", func(b []byte) []byte { return b[:len(b)*2/3] }, "truncated"},
		{"trailer lost", func(b []byte) []byte { return b[:len(b)-5] }, "truncated"},
		{"not an index", func(b []byte) []byte { return []byte("<LOOKUP></LOOKUP>, not an index at all") }, "not a dm+d index"},
		{"empty", func([]byte) []byte { return nil }, "not a dm+d index"},
		{"other format", func(b []byte) []byte { b[len(indexMagic)] = 9; return b }, "index format 9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := append([]byte(nil), good...)
			if err := os.WriteFile(path, tc.edit(b), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Open(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, ErrNoIndex) {
				t.Errorf("Open = %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// An index whose checksum holds but whose tables do not fit together is refused rather
// than served.
func TestIndexCheck(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(x *index)
	}{
		{"string out of range", func(x *index) { x.Records[3].Name = uint32(len(x.StrOff)) }},
		{"code out of range", func(x *index) { x.Attrs[0] = uint32(len(x.Codes)) }},
		{"unsorted", func(x *index) { x.Records[0], x.Records[1] = x.Records[1], x.Records[0] }},
		{"lists short", func(x *index) { x.AttrOff = x.AttrOff[:len(x.AttrOff)-1] }},
		{"bad class", func(x *index) { x.Records[0].Class = 9 }},
	} {
		r := loadFixture(t)
		tc.spoil(&r.idx)
		if err := r.idx.check(); err == nil {
			t.Errorf("%s: check passed", tc.name)
		}
	}
	if err := loadFixture(t).idx.check(); err != nil {
		t.Errorf("fixture: %v", err)
	}
}
