package mllp

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func frame(s string) string { return "\x0b" + s + "\x1c\r" }

func TestReader(t *testing.T) {
	type result struct {
		msg     string
		skipped int
		err     error
	}
	cases := []struct {
		name string
		in   string
		max  int
		want []result
	}{
		{"two frames", frame("MSH|1") + frame("MSH|2"), 0,
			[]result{{"MSH|1", 0, nil}, {"MSH|2", 0, nil}, {"", 0, io.EOF}}},
		{"junk before start and between", "junk\r\n" + frame("A") + "xy" + frame("B"), 0,
			[]result{{"A", 6, nil}, {"B", 2, nil}, {"", 0, io.EOF}}},
		{"junk at end", frame("A") + "tail", 0,
			[]result{{"A", 0, nil}, {"", 4, io.EOF}}},
		{"empty stream", "", 0, []result{{"", 0, io.EOF}}},
		{"empty message", frame(""), 0, []result{{"", 0, nil}, {"", 0, io.EOF}}},
		{"partial frame at EOF", frame("A") + "\x0bMSH|partial", 0,
			[]result{{"A", 0, nil}, {"", 0, ErrPartialFrame}}},
		{"EOF before final CR", "\x0bMSH\x1c", 0, []result{{"", 0, ErrPartialFrame}}},
		{"end block without CR", "\x0bMSH\x1cX", 0, []result{{"", 0, ErrBadFrameEnd}}},
		{"restarted frame", "\x0bhalf" + frame("whole"), 0, []result{{"whole", 5, nil}}},
		{"exactly max", frame("12345"), 5, []result{{"12345", 0, nil}}},
		{"oversized", frame("123456"), 5, []result{{"", 0, ErrMessageTooLarge}}},
		{"CR inside message kept", frame("MSH|1\rPID|2\r"), 0, []result{{"MSH|1\rPID|2\r", 0, nil}}},
	}
	for _, c := range cases {
		for _, oneByte := range []bool{false, true} {
			name := c.name
			var src io.Reader = strings.NewReader(c.in)
			if oneByte {
				name += "/one byte reads"
				src = iotest.OneByteReader(src)
			}
			t.Run(name, func(t *testing.T) {
				r := NewReader(src, c.max)
				for i, w := range c.want {
					msg, err := r.ReadMessage()
					if !errors.Is(err, w.err) || (err == nil) != (w.err == nil) {
						t.Fatalf("read %d: err %v, want %v", i, err, w.err)
					}
					if string(msg) != w.msg || r.Skipped() != w.skipped {
						t.Fatalf("read %d: %q skipped %d, want %q skipped %d", i, msg, r.Skipped(), w.msg, w.skipped)
					}
				}
			})
		}
	}
}

func TestReaderLargeMessage(t *testing.T) {
	big := strings.Repeat("OBX|1|ED|||^application/pdf^^Base64^QUJD\r", 20000) // ~800 KB, several buffer fills
	r := NewReader(strings.NewReader(frame(big)+frame("next")), 0)
	msg, err := r.ReadMessage()
	if err != nil || string(msg) != big {
		t.Fatalf("large message: %v, %d bytes", err, len(msg))
	}
	if msg, err := r.ReadMessage(); err != nil || string(msg) != "next" {
		t.Fatalf("after large: %q %v", msg, err)
	}
	r = NewReader(strings.NewReader(frame(big)), len(big)-1)
	if _, err := r.ReadMessage(); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("oversized large: %v", err)
	}
}

func TestWriteFrame(t *testing.T) {
	var b bytes.Buffer
	if err := WriteFrame(&b, []byte("MSH|x\r")); err != nil || b.String() != "\x0bMSH|x\r\x1c\r" {
		t.Fatalf("%q %v", b.String(), err)
	}
	for _, bad := range []string{"a\x0bb", "a\x1cb"} {
		if err := WriteFrame(&b, []byte(bad)); !errors.Is(err, ErrFrameByte) {
			t.Errorf("WriteFrame(%q) = %v", bad, err)
		}
	}
}
