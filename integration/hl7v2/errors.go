package hl7v2

import (
	"fmt"
	"strings"
)

// ErrorCode is a value of HL7 table 0357 (message error condition codes), the
// code an acknowledgement's ERR segment carries.
type ErrorCode int

// Table 0357.
const (
	CodeAccepted                 ErrorCode = 0
	CodeSegmentSequence          ErrorCode = 100
	CodeRequiredFieldMissing     ErrorCode = 101
	CodeDataType                 ErrorCode = 102
	CodeTableValueNotFound       ErrorCode = 103
	CodeValueTooLong             ErrorCode = 104
	CodeUnsupportedMessageType   ErrorCode = 200
	CodeUnsupportedEventCode     ErrorCode = 201
	CodeUnsupportedProcessingID  ErrorCode = 202
	CodeUnsupportedVersionID     ErrorCode = 203
	CodeUnknownKeyIdentifier     ErrorCode = 204
	CodeDuplicateKeyIdentifier   ErrorCode = 205
	CodeApplicationRecordLocked  ErrorCode = 206
	CodeApplicationInternalError ErrorCode = 207
)

var codeText = map[ErrorCode]string{
	CodeAccepted:                 "Message accepted",
	CodeSegmentSequence:          "Segment sequence error",
	CodeRequiredFieldMissing:     "Required field missing",
	CodeDataType:                 "Data type error",
	CodeTableValueNotFound:       "Table value not found",
	CodeValueTooLong:             "Value too long",
	CodeUnsupportedMessageType:   "Unsupported message type",
	CodeUnsupportedEventCode:     "Unsupported event code",
	CodeUnsupportedProcessingID:  "Unsupported processing id",
	CodeUnsupportedVersionID:     "Unsupported version id",
	CodeUnknownKeyIdentifier:     "Unknown key identifier",
	CodeDuplicateKeyIdentifier:   "Duplicate key identifier",
	CodeApplicationRecordLocked:  "Application record locked",
	CodeApplicationInternalError: "Application internal error",
}

// Text is the code's display name in table 0357.
func (c ErrorCode) Text() string {
	if t, ok := codeText[c]; ok {
		return t
	}
	return fmt.Sprintf("Error %d", int(c))
}

// Rejection reports whether the code is one of table 0357's rejections (2xx),
// answered with AR/CR rather than AE/CE.
func (c ErrorCode) Rejection() bool { return c >= 200 && c < 300 }

// Severity is a value of HL7 table 0516 (ERR-4).
type Severity string

// Table 0516.
const (
	SeverityError       Severity = "E"
	SeverityWarning     Severity = "W"
	SeverityInformation Severity = "I"
)

// ParseError says what is wrong with a message and where, in the terms an
// acknowledgement's ERR segment uses. Position fields are 1-based; 0 means
// "not applicable" (for example Field is 0 for a problem with the whole segment).
type ParseError struct {
	Segment      string // segment name, "" when it could not be read
	SegmentIndex int    // position of the segment in the message (ERR-2.2)
	Field        int
	Repetition   int
	Component    int
	Subcomponent int
	Offset       int // byte offset in the input
	Code         ErrorCode
	Msg          string
}

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString("hl7v2: ")
	if e.Segment != "" || e.SegmentIndex > 0 {
		loc := e.Segment
		if loc == "" {
			loc = "segment"
		}
		if e.Field > 0 {
			loc += fmt.Sprintf("-%d", e.Field)
			if e.Repetition > 1 {
				loc += fmt.Sprintf("[%d]", e.Repetition)
			}
			if e.Component > 0 {
				loc += fmt.Sprintf(".%d", e.Component)
				if e.Subcomponent > 0 {
					loc += fmt.Sprintf(".%d", e.Subcomponent)
				}
			}
		}
		fmt.Fprintf(&b, "%s (segment %d, offset %d): ", loc, e.SegmentIndex, e.Offset)
	} else {
		fmt.Fprintf(&b, "offset %d: ", e.Offset)
	}
	b.WriteString(e.Msg)
	fmt.Fprintf(&b, " [%d %s]", int(e.Code), e.Code.Text())
	return b.String()
}
