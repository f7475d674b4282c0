// Package v2fhir maps HL7 v2 messages to FHIR R4 transaction Bundles, following
// the HL7 v2-to-FHIR implementation guide's segment, data type and code system
// tables, with NHS identifier conventions.
//
// Every resource is found or written by a business identifier, so a feed that
// repeats or corrects a message updates what it wrote before instead of
// duplicating it:
//
//   - ADT messages own demographics and visits: Patient and Encounter are
//     conditional updates (PUT Patient?identifier=…), replacing the stored
//     resource with the message's view.
//   - Result, document and order messages only make sure the Patient and
//     Encounter exist (conditional create, ifNoneExist), so the thin PID of a
//     lab result never overwrites the PAS demographics; their own resources
//     (DiagnosticReport, Observation, DocumentReference, ServiceRequest) are
//     conditional updates by filler/placer or document number.
//   - Reference data (Practitioner, Organization, Location) is a conditional
//     create: found by identifier, created when absent.
//
// Entries refer to each other by urn:uuid fullUrls, which the server resolves
// inside the transaction (interaction/bundle.go).
package v2fhir

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // Europe/London must resolve on hosts without a zone database

	"github.com/concord-health/concord/integration/hl7v2"
)

// Identifier systems of national NHS identifiers.
const (
	NHSNumberSystem = "https://fhir.nhs.uk/Id/nhs-number"
	ODSOrgSystem    = "https://fhir.nhs.uk/Id/ods-organization-code"
	ODSSiteSystem   = "https://fhir.nhs.uk/Id/ods-site-code"
)

// Options configure one channel (one sending system).
//
// Local identifiers (MRNs, visit numbers, staff codes) are only unique within
// the organisation that issues them, so each gets a system of that
// organisation. NHS England reserves https://fhir.nhs.uk/Id/ for national
// identifiers and names local ones under the issuing organisation's own
// domain, https://fhir.<organisation>.nhs.uk/Id/<identifier-type> (as the
// Welsh naming-system guidance does with https://fhir.<board>.nhs.wales/Id/pas-identifier).
// When a system is not configured it is derived from the ODS code in that
// shape, e.g. https://fhir.rxa.nhs.uk/Id/local-patient-identifier; a trust
// with a published FHIR domain should configure its real systems instead.
type Options struct {
	// Organization is the ODS code of the sending organisation ("RXA"). Required.
	Organization string
	// MRNSystem is the system of local patient identifiers (PID-3 of type MR,
	// PI, PT or none).
	MRNSystem string
	// VisitSystem is the system of visit numbers (PV1-19).
	VisitSystem string
	// PractitionerSystem is the system of local staff codes (XCN-1 with no
	// recognised assigning authority).
	PractitionerSystem string
	// LocalSystemBase prefixes the other derived systems, default
	// https://fhir.<ods>.nhs.uk/Id: /location (ward/room/bed paths),
	// /placer-order-number, /filler-order-number, /report (results without
	// order numbers), /observation, /document-number (TXA-12), /diagnosis,
	// /allergy and /next-of-kin. The last four identify what v2 gives no
	// identifier of its own (see the mapping of each).
	LocalSystemBase string
	// AllowedTypes restricts the channel to these message types ("ADT^A01");
	// empty allows every supported type.
	AllowedTypes []string
	// TimeZone is the zone of timestamps sent without an offset (FHIR needs
	// one on every time); default Europe/London.
	TimeZone *time.Location
}

// Result is a mapped message.
type Result struct {
	// Bundle is a FHIR transaction Bundle (JSON).
	Bundle []byte
	// PatientKey is the identifier ("system|value") of the patient the message
	// is about, to keep one patient's messages in order. It is the local MRN
	// when there is one: every message of a PAS feed carries it, while NHS
	// numbers arrive only once traced.
	PatientKey string
	// Warnings are problems that did not stop the mapping (an invalid NHS
	// number kept as a local identifier, a value left out).
	Warnings []string
	// MergedFrom is, for a merge (A40), the identifier of the patient merged away.
	MergedFrom string
}

// MapError says why a message cannot be mapped, in the terms of an
// acknowledgement's ERR segment, so the channel can answer AE/AR and
// dead-letter the message with the reason.
type MapError struct {
	Code     hl7v2.ErrorCode
	Location string // "PID-3", "OBX(2)-5"; empty for the whole message
	Message  string
}

func (e *MapError) Error() string {
	if e.Location == "" {
		return fmt.Sprintf("v2fhir: %s [%d %s]", e.Message, int(e.Code), e.Code.Text())
	}
	return fmt.Sprintf("v2fhir: %s: %s [%d %s]", e.Location, e.Message, int(e.Code), e.Code.Text())
}

func errorf(code hl7v2.ErrorCode, loc, format string, args ...any) *MapError {
	return &MapError{Code: code, Location: loc, Message: fmt.Sprintf(format, args...)}
}

// mapper holds the state of one message being mapped.
type mapper struct {
	msg          *hl7v2.Message
	o            Options
	d            hl7v2.Delimiters
	b            *bundle
	code, event  string
	occ          map[*hl7v2.Segment]int // occurrence of each segment among those of its name
	warnings     []string
	patientKey   string
	mergedFrom   string
	patientRef   obj
	encounterRef obj
	senderRef    obj
	mrn          string // the patient's first local identifier
}

func newMapper(msg *hl7v2.Message, o Options, code, event string) *mapper {
	m := &mapper{msg: msg, o: o, d: msg.Delimiters(), code: code, event: event, occ: map[*hl7v2.Segment]int{}}
	count := map[string]int{}
	for _, s := range msg.Segments() {
		count[s.Name()]++
		m.occ[s] = count[s.Name()]
	}
	seed := o.Organization + "|" + msg.ControlID()
	m.b = newBundle(seed)
	return m
}

func (m *mapper) warn(format string, args ...any) {
	m.warnings = append(m.warnings, fmt.Sprintf(format, args...))
}

// sender is the sending organisation (Options.Organization, named by MSH-4).
func (m *mapper) sender() obj {
	if m.senderRef == nil {
		m.senderRef = m.organization(m.o.Organization, m.msg.SendingFacility().Namespace)
	}
	return m.senderRef
}

// handler maps one message structure.
type handler func(*mapper) error

// supported are the message types Map handles, "ADT^A01" style.
var supported = []string{
	"ADT^A01", "ADT^A02", "ADT^A03", "ADT^A04", "ADT^A05", "ADT^A06", "ADT^A07", "ADT^A08",
	"ADT^A11", "ADT^A12", "ADT^A13", "ADT^A28", "ADT^A31", "ADT^A40",
	"ORU^R01", "MDM^T02", "MDM^T04", "MDM^T08", "ORM^O01", "OML^O21",
}

// Supported lists the message types Map handles, "ADT^A01" style, for a
// channel's configuration and its conformance statement.
func Supported() []string { return slices.Clone(supported) }

func handlerFor(code, event string) handler {
	switch code {
	case "ADT":
		if event == "A40" {
			return mapMerge
		}
		return mapADT
	case "ORU":
		return mapORU
	case "MDM":
		return mapMDM
	case "ORM", "OML":
		return mapOrder
	}
	return nil
}

// Map turns a message into a transaction Bundle. Errors are *MapError. The
// Bundle depends only on the message and options (fullUrls are derived from
// MSH-10), so mapping a message again gives the same bytes. Map is safe for
// concurrent use.
func Map(msg *hl7v2.Message, opts Options) (*Result, error) {
	if msg == nil {
		return nil, errorf(hl7v2.CodeApplicationInternalError, "", "no message")
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	code, event, _ := msg.Type()
	typ := code + "^" + event
	if !slices.Contains(supported, typ) {
		return nil, errorf(hl7v2.CodeUnsupportedMessageType, "MSH-9", "message type %s is not supported", typ)
	}
	if len(o.AllowedTypes) > 0 && !slices.Contains(o.AllowedTypes, typ) {
		return nil, errorf(hl7v2.CodeUnsupportedMessageType, "MSH-9", "message type %s is not accepted on this channel", typ)
	}
	m := newMapper(msg, o, code, event)
	if err := handlerFor(code, event)(m); err != nil {
		return nil, err
	}
	body, err := m.b.marshal()
	if err != nil {
		return nil, errorf(hl7v2.CodeApplicationInternalError, "", "encoding the Bundle: %v", err)
	}
	return &Result{Bundle: body, PatientKey: m.patientKey, Warnings: m.warnings, MergedFrom: m.mergedFrom}, nil
}

var odsOption = regexp.MustCompile(`^[A-Za-z0-9]{2,10}$`)

func (o Options) withDefaults() (Options, error) {
	ods := strings.TrimSpace(o.Organization)
	if ods == "" {
		return o, errorf(hl7v2.CodeApplicationInternalError, "", "the channel has no sending organisation (Options.Organization, an ODS code)")
	}
	if !odsOption.MatchString(ods) {
		// It becomes part of identifier system URLs.
		return o, errorf(hl7v2.CodeApplicationInternalError, "", "Options.Organization %q is not an ODS code (letters and digits)", ods)
	}
	o.Organization = strings.ToUpper(ods)
	if o.LocalSystemBase == "" {
		o.LocalSystemBase = "https://fhir." + strings.ToLower(ods) + ".nhs.uk/Id"
	}
	o.LocalSystemBase = strings.TrimSuffix(o.LocalSystemBase, "/")
	if o.MRNSystem == "" {
		o.MRNSystem = o.LocalSystemBase + "/local-patient-identifier"
	}
	if o.VisitSystem == "" {
		o.VisitSystem = o.LocalSystemBase + "/visit-number"
	}
	if o.PractitionerSystem == "" {
		o.PractitionerSystem = o.LocalSystemBase + "/local-practitioner-identifier"
	}
	if o.TimeZone == nil {
		loc, err := time.LoadLocation("Europe/London")
		if err != nil {
			return o, errorf(hl7v2.CodeApplicationInternalError, "", "time zone: %v", err)
		}
		o.TimeZone = loc
	}
	return o, nil
}

// local is the derived system of a kind of local identifier.
func (o Options) local(kind string) string { return o.LocalSystemBase + "/" + kind }
