package hl7v2

import (
	"os"
	"path/filepath"
	"testing"
)

func benchData(b *testing.B) []byte {
	if data, err := os.ReadFile(filepath.Join(sampleDirs[0], "ORU-R01-01.hl7")); err == nil {
		return data
	}
	return []byte(oru)
}

// BenchmarkParseORU parses ORU^R01 messages: the built-in 8-segment one and,
// when the shared data is present, the 7.5 KB, 28-segment sample.
func BenchmarkParseORU(b *testing.B) {
	cases := [][2]string{{"small", oru}}
	if data, err := os.ReadFile(filepath.Join(sampleDirs[0], "ORU-R01-01.hl7")); err == nil {
		cases = append(cases, [2]string{"sample", string(data)})
	}
	for _, c := range cases {
		data := []byte(c[1])
		b.Run(c[0], func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseAndRead parses and reads the values a router typically needs.
func BenchmarkParseAndRead(b *testing.B) {
	data := benchData(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		m.Type()
		_ = m.ControlID()
		_ = m.Get("PID-3[1].1")
		_ = m.Get("PID-5.1")
		for _, obx := range m.SegmentsNamed("OBX") {
			_ = obx.Get("5")
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	m, err := Parse(benchData(b))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Encode()
	}
}
