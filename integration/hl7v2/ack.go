package hl7v2

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// AckCode is MSA-1: AA/AE/AR for application (original mode) acknowledgements,
// CA/CE/CR for enhanced-mode accept acknowledgements.
type AckCode string

// Table 0008.
const (
	ApplicationAccept AckCode = "AA"
	ApplicationError  AckCode = "AE"
	ApplicationReject AckCode = "AR"
	CommitAccept      AckCode = "CA"
	CommitError       AckCode = "CE"
	CommitReject      AckCode = "CR"
)

// AckError is one problem reported in an acknowledgement's ERR segment.
type AckError struct {
	Segment      string // ERR-2.1 (ERR-1.1 before v2.5); "" when the error has no location
	SegmentIndex int    // ERR-2.2
	Field        int    // ERR-2.3
	Repetition   int    // ERR-2.4
	Component    int    // ERR-2.5
	Subcomponent int    // ERR-2.6
	Code         ErrorCode
	Severity     Severity // ERR-4, E when empty
	Diagnostic   string   // ERR-7
	UserMessage  string   // ERR-8 (MSA-3 and ERR-1 text before v2.5)
}

// AckErrorOf describes err for an ERR segment: a *ParseError (anywhere in
// err's chain) gives its location and code, anything else code 207.
func AckErrorOf(err error) AckError {
	var pe *ParseError
	if errors.As(err, &pe) {
		return AckError{Segment: pe.Segment, SegmentIndex: pe.SegmentIndex, Field: pe.Field, Repetition: pe.Repetition,
			Component: pe.Component, Subcomponent: pe.Subcomponent, Code: pe.Code, UserMessage: pe.Msg}
	}
	return AckError{Code: CodeApplicationInternalError, UserMessage: err.Error()}
}

type ackConfig struct {
	controlID string
	now       time.Time
	text      string
	version   string
	errs      []AckError
}

// AckOption adjusts NewACK.
type AckOption func(*ackConfig)

// WithControlID sets the acknowledgement's own MSH-10 (random by default).
func WithControlID(id string) AckOption { return func(c *ackConfig) { c.controlID = id } }

// WithTime sets MSH-7 (now by default).
func WithTime(t time.Time) AckOption { return func(c *ackConfig) { c.now = t } }

// WithText sets the text message: MSA-3 up to v2.4. From v2.5, where MSA-3 is
// deprecated, it becomes the user message (ERR-8) of an error acknowledgement
// that lists no errors of its own, and is dropped from a positive one.
func WithText(text string) AckOption { return func(c *ackConfig) { c.text = text } }

// WithVersion sets MSH-12 when there is no original message to copy it from.
func WithVersion(v string) AckOption { return func(c *ackConfig) { c.version = v } }

// WithError adds an ERR segment describing err (see AckErrorOf).
func WithError(err error) AckOption {
	return func(c *ackConfig) { c.errs = append(c.errs, AckErrorOf(err)) }
}

// WithAckError adds ERR segments as given.
func WithAckError(e ...AckError) AckOption {
	return func(c *ackConfig) { c.errs = append(c.errs, e...) }
}

// NewACK builds the acknowledgement of msg: MSH with sender and receiver
// swapped, a new control id, MSH-9 ACK^<event>^ACK (ACK^<event> before
// v2.3.1), the original's processing id, version and character set; MSA with
// code and msg's control id; and one ERR segment per error, in the layout of
// msg's version (ERR-1 up to v2.4; ERR-2, ERR-3, ERR-4, ERR-7, ERR-8 from
// v2.5). msg may be nil when nothing of the original could be read; the
// acknowledgement then has default delimiters, the WithVersion version
// (2.5.1 by default) and an empty MSA-2.
func NewACK(msg *Message, code AckCode, opts ...AckOption) *Message {
	c := ackConfig{now: time.Now(), version: "2.5.1"}
	for _, o := range opts {
		o(&c)
	}
	if c.controlID == "" {
		var b [10]byte
		rand.Read(b[:])
		c.controlID = strings.ToUpper(hex.EncodeToString(b[:]))
	}
	d := DefaultDelimiters
	raw := func(string) string { return "" }
	version := c.version
	if msg != nil {
		d = msg.delims
		raw = msg.Raw
		if v := msg.Version(); v != "" {
			version = v
		}
	}
	old := !versionAtLeast(version, 2, 5)
	e := func(v string) string { return Escape(v, d) }
	fs := string(d.Field)
	cs := string(d.Component)
	ss := string(d.Subcomponent)

	msh := []string{"MSH", d.EncodingCharacters(),
		raw("MSH-5"), raw("MSH-6"), raw("MSH-3"), raw("MSH-4"),
		c.now.Format("20060102150405-0700"), "", "", e(c.controlID), raw("MSH-11"), raw("MSH-12")}
	if msh[11] == "" {
		msh[11] = e(version)
	}
	event := raw("MSH-9.2")
	if versionAtLeast(version, 2, 4) || version == "2.3.1" {
		msh[8] = "ACK" + cs + event + cs + "ACK"
	} else if event != "" {
		msh[8] = "ACK" + cs + event
	} else {
		msh[8] = "ACK"
	}
	if charset := raw("MSH-18"); charset != "" {
		msh = append(msh, "", "", "", "", "", charset)
	}

	msa := []string{"MSA", e(string(code)), raw("MSH-10")}
	text := c.text
	if text == "" && old && len(c.errs) > 0 {
		text = c.errs[0].UserMessage
	}
	if old && text != "" {
		msa = append(msa, e(text))
	}
	errs := c.errs
	if !old && len(errs) == 0 && c.text != "" && code != ApplicationAccept && code != CommitAccept {
		errs = []AckError{{Code: CodeApplicationInternalError, UserMessage: c.text}}
	}

	m := &Message{delims: d, term: "\r"}
	add := func(fields []string) {
		for len(fields) > 1 && fields[len(fields)-1] == "" {
			fields = fields[:len(fields)-1]
		}
		r := strings.Join(fields, fs)
		m.segs = append(m.segs, &Segment{d: &m.delims, name: fields[0], raw: r, term: "\r"})
	}
	add(msh)
	add(msa)
	num := func(n int) string {
		if n <= 0 {
			return ""
		}
		return strconv.Itoa(n)
	}
	join := func(sep string, parts ...string) string {
		for len(parts) > 0 && parts[len(parts)-1] == "" {
			parts = parts[:len(parts)-1]
		}
		return strings.Join(parts, sep)
	}
	for _, er := range errs {
		if old {
			// ERR-1 (ELD): segment^sequence^field^code&text&HL70357
			cwe := join(ss, strconv.Itoa(int(er.Code)), e(er.Code.Text()), "HL70357")
			add([]string{"ERR", join(cs, e(er.Segment), num(er.SegmentIndex), num(er.Field), cwe)})
			continue
		}
		loc := ""
		if er.Segment != "" {
			loc = join(cs, e(er.Segment), num(max(er.SegmentIndex, 1)), num(er.Field), num(er.Repetition),
				num(er.Component), num(er.Subcomponent))
		}
		sev := er.Severity
		if sev == "" {
			sev = SeverityError
		}
		add([]string{"ERR", "", loc, join(cs, strconv.Itoa(int(er.Code)), e(er.Code.Text()), "HL70357"),
			e(string(sev)), "", "", e(er.Diagnostic), e(er.UserMessage)})
	}
	return m
}
