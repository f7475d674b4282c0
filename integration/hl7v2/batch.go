package hl7v2

import (
	"fmt"
	"strconv"
	"strings"
)

// Batch is an HL7 batch file: [FHS] { [BHS] { message } [BTS] } [FTS].
// Plain concatenated messages make a batch of one group with no header.
type Batch struct {
	FileHeader  *Segment // FHS, nil when absent
	FileTrailer *Segment // FTS, nil when absent
	Groups      []*BatchGroup
	bom         bool
	lead        string
}

// BatchGroup is one batch of a file: BHS, messages, BTS.
type BatchGroup struct {
	Header   *Segment // BHS, nil when absent
	Trailer  *Segment // BTS, nil when absent
	Messages []*Message
}

// Messages are all the messages of the file, in order.
func (b *Batch) Messages() []*Message {
	var out []*Message
	for _, g := range b.Groups {
		out = append(out, g.Messages...)
	}
	return out
}

// Encode returns the batch as ER7 text; for a parsed, unmodified batch this is
// exactly the input.
func (b *Batch) Encode() []byte {
	var w strings.Builder
	if b.bom {
		w.WriteString(bom)
	}
	w.WriteString(b.lead)
	seg := func(s *Segment) {
		if s != nil {
			w.WriteString(s.raw)
			w.WriteString(s.term)
		}
	}
	seg(b.FileHeader)
	for _, g := range b.Groups {
		seg(g.Header)
		for _, m := range g.Messages {
			w.Write(m.Encode())
		}
		seg(g.Trailer)
	}
	seg(b.FileTrailer)
	return []byte(w.String())
}

// ParseBatch reads a batch file or a run of concatenated messages. Every
// message is parsed with its own MSH delimiters. BTS-1 (batch message count)
// and FTS-1 (file batch count), when valued, must match what was read.
func ParseBatch(data []byte) (*Batch, error) {
	s, hasBOM, lead, base := prepare(data)
	if strings.TrimSpace(s) == "" {
		return nil, &ParseError{Offset: base, Code: CodeSegmentSequence, Msg: "empty batch"}
	}
	segs := splitSegments(s, base)
	b := &Batch{bom: hasBOM, lead: lead}
	var group *BatchGroup
	i := 0
	// header reads an FHS/BHS/BTS/FTS with the delimiters in force (its own for FHS/BHS).
	d := DefaultDelimiters
	header := func(r Segment, name string) (*Segment, error) {
		sd := d
		if headerLike(name) {
			var err error
			if sd, err = readDelims(r.raw, i+1, r.off); err != nil {
				return nil, err
			}
			d = sd
		}
		return &Segment{d: &sd, name: name, raw: r.raw, term: r.term}, nil
	}
	seqErr := func(r Segment, name, msg string) error {
		return &ParseError{Segment: name, SegmentIndex: i + 1, Offset: r.off, Code: CodeSegmentSequence, Msg: msg}
	}
	for i < len(segs) {
		r := segs[i]
		name := segName(r.raw, d.Field)
		if startsHeader(r.raw) || strings.HasPrefix(r.raw, "MSH") {
			name = r.raw[:3] // batch segments may follow a message with other delimiters
		}
		if b.FileTrailer != nil {
			return nil, seqErr(r, name, "segment after the file trailer (FTS)")
		}
		var err error
		switch name {
		case "FHS":
			if i != 0 {
				return nil, seqErr(r, name, "FHS must be the first segment")
			}
			if b.FileHeader, err = header(r, name); err != nil {
				return nil, err
			}
			i++
		case "BHS":
			group = &BatchGroup{}
			b.Groups = append(b.Groups, group)
			if group.Header, err = header(r, name); err != nil {
				return nil, err
			}
			i++
		case "BTS":
			if group == nil || group.Trailer != nil {
				return nil, seqErr(r, name, "BTS without its BHS")
			}
			if group.Trailer, err = header(r, name); err != nil {
				return nil, err
			}
			i++
		case "FTS":
			if b.FileTrailer, err = header(r, name); err != nil {
				return nil, err
			}
			i++
		case "MSH":
			if group == nil || group.Trailer != nil {
				group = &BatchGroup{}
				b.Groups = append(b.Groups, group)
			}
			m, err := buildMessage(segs[i:])
			if err != nil {
				if pe, ok := err.(*ParseError); ok {
					pe.Msg = fmt.Sprintf("message %d of the batch: %s", len(b.Messages())+1, pe.Msg)
				}
				return nil, err
			}
			d = m.delims
			group.Messages = append(group.Messages, m)
			i += len(m.segs)
		default:
			return nil, seqErr(r, name, "expected MSH or a batch segment (FHS, BHS, BTS, FTS)")
		}
	}
	for _, g := range b.Groups {
		if g.Trailer == nil {
			continue
		}
		if err := checkCount(g.Trailer, len(g.Messages), "BTS-1 batch message count"); err != nil {
			return nil, err
		}
	}
	if b.FileTrailer != nil {
		if err := checkCount(b.FileTrailer, len(b.Groups), "FTS-1 file batch count"); err != nil {
			return nil, err
		}
	}
	if len(b.Groups) == 0 {
		b.Groups = []*BatchGroup{{}}
	}
	return b, nil
}

func checkCount(s *Segment, got int, what string) error {
	v := strings.TrimSpace(s.Get("1"))
	if v == "" {
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return &ParseError{Segment: s.name, Field: 1, Code: CodeDataType, Msg: fmt.Sprintf("%s %q is not a number", what, v)}
	}
	if n != got {
		return &ParseError{Segment: s.name, Field: 1, Code: CodeSegmentSequence,
			Msg: fmt.Sprintf("%s says %d, the file holds %d", what, n, got)}
	}
	return nil
}
