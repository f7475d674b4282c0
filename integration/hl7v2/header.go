package hl7v2

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Type is the message type, trigger event and message structure of MSH-9
// (structure is "" before v2.3.1, where MSH-9 has two components).
func (m *Message) Type() (code, event, structure string) {
	return m.Get("MSH-9.1"), m.Get("MSH-9.2"), m.Get("MSH-9.3")
}

// ControlID is MSH-10, the id an acknowledgement refers to.
func (m *Message) ControlID() string { return m.Get("MSH-10") }

// Version is the version id of MSH-12, such as "2.5.1".
func (m *Message) Version() string { return m.Get("MSH-12.1") }

// ProcessingID is MSH-11.1: P production, D debugging, T training.
func (m *Message) ProcessingID() string { return m.Get("MSH-11.1") }

// HD is a hierarchic designator, the type of the sending and receiving
// application and facility fields.
type HD struct {
	Namespace, UniversalID, UniversalIDType string
}

func (h HD) String() string {
	if h.UniversalID == "" && h.UniversalIDType == "" {
		return h.Namespace
	}
	return h.Namespace + "^" + h.UniversalID + "^" + h.UniversalIDType
}

func (m *Message) hd(field int) HD {
	f := fmt.Sprintf("MSH-%d.", field)
	return HD{m.Get(f + "1"), m.Get(f + "2"), m.Get(f + "3")}
}

// SendingApplication is MSH-3.
func (m *Message) SendingApplication() HD { return m.hd(3) }

// SendingFacility is MSH-4.
func (m *Message) SendingFacility() HD { return m.hd(4) }

// ReceivingApplication is MSH-5.
func (m *Message) ReceivingApplication() HD { return m.hd(5) }

// ReceivingFacility is MSH-6.
func (m *Message) ReceivingFacility() HD { return m.hd(6) }

// versionAtLeast compares an MSH-12 version id such as "2.3.1" with major.minor.
// An unreadable version counts as recent, so new-style segments are built.
func versionAtLeast(v string, major, minor int) bool {
	parts := strings.Split(v, ".")
	if len(parts) < 2 {
		return true
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return true
	}
	return ma > major || ma == major && mi >= minor
}

// SupportedVersions are the MSH-12 versions CheckHeader accepts.
var SupportedVersions = []string{"2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2"}

// CheckHeader checks the MSH fields a receiver needs before it can process
// or acknowledge a message: MSH-9, MSH-10, MSH-11 and MSH-12 present, MSH-7
// a valid timestamp, MSH-11 and MSH-15/16 values from their tables, and
// MSH-12 one of SupportedVersions. It returns one error per problem, ready
// for NewACK's WithError.
func (m *Message) CheckHeader() []*ParseError {
	var errs []*ParseError
	add := func(field, comp int, code ErrorCode, msg string) {
		errs = append(errs, &ParseError{Segment: "MSH", SegmentIndex: 1, Field: field, Component: comp, Code: code, Msg: msg})
	}
	if m.Get("MSH-9.1") == "" {
		add(9, 1, CodeRequiredFieldMissing, "message type (MSH-9) is missing")
	}
	if m.ControlID() == "" {
		add(10, 0, CodeRequiredFieldMissing, "message control id (MSH-10) is missing")
	}
	switch p := m.ProcessingID(); p {
	case "":
		add(11, 1, CodeRequiredFieldMissing, "processing id (MSH-11) is missing")
	case "P", "D", "T":
	default:
		add(11, 1, CodeTableValueNotFound, fmt.Sprintf("processing id %q is not in table 0103", p))
	}
	switch v := m.Version(); {
	case v == "":
		add(12, 1, CodeRequiredFieldMissing, "version id (MSH-12) is missing")
	case !slices.Contains(SupportedVersions, v):
		add(12, 1, CodeUnsupportedVersionID, fmt.Sprintf("version %q is not supported", v))
	}
	if t := m.Get("MSH-7.1"); t != "" && !validDTM(t) {
		add(7, 1, CodeDataType, fmt.Sprintf("date/time of message %q is not a valid timestamp", t))
	}
	for _, f := range []int{15, 16} {
		switch v := AckCondition(m.Get(fmt.Sprintf("MSH-%d", f))); v {
		case "", AckAlways, AckNever, AckOnError, AckOnSuccess:
		default:
			add(f, 0, CodeTableValueNotFound, fmt.Sprintf("acknowledgment type %q is not in table 0155", v))
		}
	}
	return errs
}

// validDTM checks YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ].
func validDTM(s string) bool {
	if i := strings.IndexAny(s, "+-"); i >= 0 {
		if z := s[i+1:]; len(z) != 4 || !digits(z) {
			return false
		}
		s = s[:i]
	}
	if i := strings.IndexByte(s, '.'); i >= 0 {
		if f := s[i+1:]; len(f) < 1 || len(f) > 4 || !digits(f) || i != 14 {
			return false
		}
		s = s[:i]
	}
	switch len(s) {
	case 4, 6, 8, 10, 12, 14:
	default:
		return false
	}
	if !digits(s) {
		return false
	}
	if len(s) >= 6 {
		if mo, _ := strconv.Atoi(s[4:6]); mo < 1 || mo > 12 {
			return false
		}
	}
	if len(s) >= 8 {
		if d, _ := strconv.Atoi(s[6:8]); d < 1 || d > 31 {
			return false
		}
	}
	if len(s) >= 10 {
		if h, _ := strconv.Atoi(s[8:10]); h > 23 {
			return false
		}
	}
	if len(s) >= 12 {
		if mi, _ := strconv.Atoi(s[10:12]); mi > 59 {
			return false
		}
	}
	if len(s) >= 14 {
		if sec, _ := strconv.Atoi(s[12:14]); sec > 59 {
			return false
		}
	}
	return true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// AckCondition is a value of HL7 table 0155, used in MSH-15 (accept
// acknowledgment type) and MSH-16 (application acknowledgment type).
type AckCondition string

// Table 0155.
const (
	AckAlways    AckCondition = "AL"
	AckNever     AckCondition = "NE"
	AckOnError   AckCondition = "ER"
	AckOnSuccess AckCondition = "SU"
)

// Wanted reports whether an acknowledgement is asked for, given whether the
// message was processed successfully. An empty condition counts as AL.
func (c AckCondition) Wanted(success bool) bool {
	switch c {
	case AckNever:
		return false
	case AckOnError:
		return !success
	case AckOnSuccess:
		return success
	}
	return true
}

// AcceptAckType is MSH-15.
func (m *Message) AcceptAckType() AckCondition { return AckCondition(m.Get("MSH-15")) }

// ApplicationAckType is MSH-16.
func (m *Message) ApplicationAckType() AckCondition { return AckCondition(m.Get("MSH-16")) }

// EnhancedMode reports whether the sender asked for enhanced-mode
// acknowledgements: MSH-15 or MSH-16 is valued. With both empty the original
// mode applies, where the one acknowledgement is the application's (AA/AE/AR).
func (m *Message) EnhancedMode() bool {
	return m.AcceptAckType() != "" || m.ApplicationAckType() != ""
}

// AcksWanted says which acknowledgements the sender of m expects, given
// whether the message was accepted (for the accept acknowledgement, CA/CE/CR,
// sent once the message is safely stored) or processed (for the application
// acknowledgement). In original mode that is the application acknowledgement
// only, always. In enhanced mode each follows its MSH-15/MSH-16 condition; an
// empty one counts as AL, so a sender that names only one still hears back.
func (m *Message) AcksWanted(success bool) (accept, application bool) {
	if !m.EnhancedMode() {
		return false, true
	}
	return m.AcceptAckType().Wanted(success), m.ApplicationAckType().Wanted(success)
}
