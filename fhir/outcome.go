package fhir

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Issue severities and codes (http://hl7.org/fhir/issue-type) used by Concord.
const (
	SeverityFatal       = "fatal"
	SeverityError       = "error"
	SeverityWarning     = "warning"
	SeverityInformation = "information"

	IssueInvalid      = "invalid"
	IssueStructure    = "structure"
	IssueRequired     = "required"
	IssueValue        = "value"
	IssueNotFound     = "not-found"
	IssueDeleted      = "deleted"
	IssueConflict     = "conflict"
	IssueDuplicate    = "duplicate"
	IssueNotSupported = "not-supported"
	IssueProcessing   = "processing"
	IssueTooCostly    = "too-costly"
	IssueException    = "exception"
	IssueSecurity     = "security"
	IssueForbidden    = "forbidden"
	IssueLogin        = "login"
	IssueInformation  = "informational"
	IssueBusinessRule = "business-rule"
	IssueTooLong      = "too-long"
	IssueMultiple     = "multiple-matches"
)

// Issue is one OperationOutcome.issue.
type Issue struct {
	Severity    string   `json:"severity"`
	Code        string   `json:"code"`
	Diagnostics string   `json:"diagnostics,omitempty"`
	Expression  []string `json:"expression,omitempty"`
}

// Error is a failure that reaches a client as an OperationOutcome with an HTTP status.
type Error struct {
	Status int
	Issues []Issue
}

func (e *Error) Error() string {
	var parts []string
	for _, i := range e.Issues {
		s := i.Diagnostics
		if len(i.Expression) > 0 {
			s = strings.Join(i.Expression, ",") + ": " + s
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// Errorf builds an *Error with one issue of severity error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Issues: []Issue{{Severity: SeverityError, Code: code, Diagnostics: fmt.Sprintf(format, args...)}}}
}

// AsError returns err as an *Error, wrapping unknown errors as a 500 exception.
func AsError(err error) *Error {
	var fe *Error
	if errors.As(err, &fe) {
		return fe
	}
	return Errorf(500, IssueException, "%v", err)
}

// OperationOutcome renders issues as an OperationOutcome resource.
func OperationOutcome(issues ...Issue) []byte {
	if len(issues) == 0 {
		issues = []Issue{{Severity: SeverityInformation, Code: IssueInformation, Diagnostics: "ok"}}
	}
	b, _ := json.Marshal(struct {
		ResourceType string  `json:"resourceType"`
		Issue        []Issue `json:"issue"`
	}{"OperationOutcome", issues})
	return b
}
