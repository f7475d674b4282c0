package search

import (
	"math"
	"strings"
	"unicode"
	"unicode/utf8"
)

// NormalizeString folds a string for string-parameter matching: lower case, with the accents
// of Latin letters removed ("Zoë Ångström" → "zoe angstrom"). Punctuation and spacing are
// kept. Search values must be folded the same way before they are compared with
// StringRow.Norm.
//
// The standard library has no Unicode decomposition, so accents are removed with a table for
// Latin-1 Supplement and Latin Extended-A (which covers the European names in practice) and
// by dropping combining marks from input that is already decomposed.
func NormalizeString(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return asciiLower(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf:
			if r >= 'A' && r <= 'Z' {
				r += 'a' - 'A'
			}
			b.WriteRune(r)
		case r >= 0xC0 && r <= 0x17F:
			if f := latinFold[r-0xC0]; f != "" {
				b.WriteString(f)
			} else {
				b.WriteRune(unicode.ToLower(r))
			}
		case unicode.Is(unicode.Mn, r):
			// a combining mark (accent) of decomposed text
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			buf := []byte(s)
			for j := i; j < len(buf); j++ {
				if c := buf[j]; c >= 'A' && c <= 'Z' {
					buf[j] = c + 'a' - 'A'
				}
			}
			return string(buf)
		}
	}
	return s
}

// latinFold maps U+00C0..U+017F to the unaccented lower-case letters they are written for;
// "" keeps the character (×, ÷).
var latinFold = buildLatinFold()

func buildLatinFold() [0x180 - 0xC0]string {
	var t [0x180 - 0xC0]string
	set := func(from, to rune, s string) {
		for r := from; r <= to; r++ {
			t[r-0xC0] = s
		}
	}
	// Latin-1 Supplement
	set(0xC0, 0xC5, "a")
	set(0xC6, 0xC6, "ae")
	set(0xC7, 0xC7, "c")
	set(0xC8, 0xCB, "e")
	set(0xCC, 0xCF, "i")
	set(0xD0, 0xD0, "d")
	set(0xD1, 0xD1, "n")
	set(0xD2, 0xD6, "o")
	set(0xD8, 0xD8, "o")
	set(0xD9, 0xDC, "u")
	set(0xDD, 0xDD, "y")
	set(0xDE, 0xDE, "th")
	set(0xDF, 0xDF, "ss")
	set(0xE0, 0xE5, "a")
	set(0xE6, 0xE6, "ae")
	set(0xE7, 0xE7, "c")
	set(0xE8, 0xEB, "e")
	set(0xEC, 0xEF, "i")
	set(0xF0, 0xF0, "d")
	set(0xF1, 0xF1, "n")
	set(0xF2, 0xF6, "o")
	set(0xF8, 0xF8, "o")
	set(0xF9, 0xFC, "u")
	set(0xFD, 0xFD, "y")
	set(0xFE, 0xFE, "th")
	set(0xFF, 0xFF, "y")
	// Latin Extended-A
	set(0x100, 0x105, "a")
	set(0x106, 0x10D, "c")
	set(0x10E, 0x111, "d")
	set(0x112, 0x11B, "e")
	set(0x11C, 0x123, "g")
	set(0x124, 0x127, "h")
	set(0x128, 0x131, "i")
	set(0x132, 0x133, "ij")
	set(0x134, 0x135, "j")
	set(0x136, 0x138, "k")
	set(0x139, 0x142, "l")
	set(0x143, 0x14B, "n")
	set(0x14C, 0x151, "o")
	set(0x152, 0x153, "oe")
	set(0x154, 0x159, "r")
	set(0x15A, 0x161, "s")
	set(0x162, 0x167, "t")
	set(0x168, 0x173, "u")
	set(0x174, 0x175, "w")
	set(0x176, 0x178, "y")
	set(0x179, 0x17E, "z")
	set(0x17F, 0x17F, "s")
	return t
}

// Finite is the value the store keeps for a number or quantity bound: ±Inf clamped to the
// largest finite values (not every backend stores infinities; the clamped value still sorts
// beyond every real number) and NaN to 0. Matching in memory must clamp alike.
func Finite(f float64) float64 {
	switch {
	case math.IsInf(f, 1):
		return math.MaxFloat64
	case math.IsInf(f, -1):
		return -math.MaxFloat64
	case math.IsNaN(f):
		return 0
	}
	return f
}

// SaturatingAdd adds d to a date bound (µs) without wrapping past the int64 range, as the
// approximate prefix (ap) widens a range.
func SaturatingAdd(a, d int64) int64 {
	s := a + d
	if d > 0 && s < a {
		return math.MaxInt64
	}
	if d < 0 && s > a {
		return math.MinInt64
	}
	return s
}
