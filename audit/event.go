// Package audit keeps the governance record of who accessed what: one FHIR AuditEvent per
// request, appended to a hash-chained log that a verifier can check end to end, searchable by
// patient, user and organisation, and watched by monitoring rules.
package audit

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"slices"
	"strings"
	"time"
)

// Code systems the AuditEvent uses.
const (
	dicomSystem        = "http://dicom.nema.org/resources/ontology/DCM"
	interactionSystem  = "http://hl7.org/fhir/restful-interaction"
	purposeSystem      = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	securityRoleSystem = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
	roleClassSystem    = "http://terminology.hl7.org/CodeSystem/v3-RoleClass"
	sourceTypeSystem   = "http://terminology.hl7.org/CodeSystem/security-source-type"
	entityTypeSystem   = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	objectRoleSystem   = "http://terminology.hl7.org/CodeSystem/object-role"

	// ODSSystem identifies organisations by ODS code.
	ODSSystem = "https://fhir.nhs.uk/Id/ods-organization-code"
	// JobRoleSystem is the default system of Event.Role: the NHS national RBAC job roles.
	JobRoleSystem = "https://fhir.nhs.uk/CodeSystem/NHSDigital-SDSJobRoleName"
	// BreakGlassDetail names the entity detail that carries the break-glass reason.
	BreakGlassDetail = "X-Break-Glass-Reason"
)

// Interaction is a code of http://hl7.org/fhir/restful-interaction.
type Interaction string

// The interactions a request may be audited as.
const (
	Read        Interaction = "read"
	VRead       Interaction = "vread"
	Search      Interaction = "search"
	SearchType  Interaction = "search-type"
	History     Interaction = "history"
	Create      Interaction = "create"
	Update      Interaction = "update"
	Patch       Interaction = "patch"
	Delete      Interaction = "delete"
	Operation   Interaction = "operation"
	Transaction Interaction = "transaction"
	Batch       Interaction = "batch"
)

// interactions maps every restful-interaction code to its DICOM action.
var interactions = map[Interaction]string{
	Read: "R", VRead: "R", History: "R", "history-instance": "R", "history-type": "R",
	"history-system": "R", "capabilities": "R",
	// Searches and operations are queries or executions, "E" in DICOM's terms.
	Search: "E", SearchType: "E", "search-system": "E", "search-compartment": "E",
	Operation: "E", Transaction: "E", Batch: "E",
	Create: "C", Update: "U", Patch: "U", Delete: "D",
}

// Outcome is AuditEvent.outcome.
type Outcome int

// The outcomes of http://hl7.org/fhir/audit-event-outcome.
const (
	Success        Outcome = 0
	MinorFailure   Outcome = 4
	SeriousFailure Outcome = 8
	MajorFailure   Outcome = 12
)

// Patient is a patient a request concerned. Family and Address are not recorded in the
// AuditEvent; they feed the monitor's same-household rule.
type Patient struct {
	ID      string // the Patient resource id
	Family  string
	Address string
}

// Resource is one resource a request touched.
type Resource struct {
	Type, ID, Version string // Version may be empty
}

// Event is what one request did, as the request path knows it.
type Event struct {
	Time time.Time // when the request was received; Append uses the current time when zero

	UserID       string // the signed-in user; empty for an unauthenticated request
	UserSystem   string // the identifier system of UserID, when known
	UserName     string
	Organization string // the user's organisation, ODS code
	Role         string // the user's job role code (e.g. R8000)
	RoleSystem   string // defaults to JobRoleSystem
	Purpose      string // v3 PurposeOfUse (ActReason) code: TREAT, ETREAT, …

	// The user's own surname and address, for the monitor's same-household rule; not recorded.
	UserFamily  string
	UserAddress string

	Patients    []Patient
	Resources   []Resource
	Interaction Interaction
	Query       string // a search's query string, recorded as the query entity
	Outcome     Outcome
	OutcomeDesc string

	BreakGlassReason string

	Source        string // this server, e.g. its base URL; "Concord" when empty
	ClientAddress string // the client's IP address
}

// The AuditEvent in JSON, fields in definition order so the output is canonical FHIR.
type (
	auditEvent struct {
		ResourceType   string            `json:"resourceType"`
		Text           narrative         `json:"text"`
		Type           coding            `json:"type"`
		Subtype        []coding          `json:"subtype,omitempty"`
		Action         string            `json:"action,omitempty"`
		Recorded       string            `json:"recorded"`
		Outcome        string            `json:"outcome"`
		OutcomeDesc    string            `json:"outcomeDesc,omitempty"`
		PurposeOfEvent []codeableConcept `json:"purposeOfEvent,omitempty"`
		Agent          []agent           `json:"agent"`
		Source         source            `json:"source"`
		Entity         []entity          `json:"entity,omitempty"`
	}
	narrative struct {
		Status string `json:"status"`
		Div    string `json:"div"`
	}
	coding struct {
		System  string `json:"system,omitempty"`
		Code    string `json:"code,omitempty"`
		Display string `json:"display,omitempty"`
	}
	codeableConcept struct {
		Coding []coding `json:"coding"`
	}
	identifier struct {
		System string `json:"system,omitempty"`
		Value  string `json:"value"`
	}
	reference struct {
		Reference  string      `json:"reference,omitempty"`
		Identifier *identifier `json:"identifier,omitempty"`
		Display    string      `json:"display,omitempty"`
	}
	agent struct {
		Type         *codeableConcept  `json:"type,omitempty"`
		Role         []codeableConcept `json:"role,omitempty"`
		Who          *reference        `json:"who,omitempty"`
		Name         string            `json:"name,omitempty"`
		Requestor    bool              `json:"requestor"`
		Network      *network          `json:"network,omitempty"`
		PurposeOfUse []codeableConcept `json:"purposeOfUse,omitempty"`
	}
	network struct {
		Address string `json:"address"`
		Type    string `json:"type"`
	}
	source struct {
		Observer reference `json:"observer"`
		Type     []coding  `json:"type"`
	}
	entity struct {
		What        *reference `json:"what,omitempty"`
		Type        *coding    `json:"type,omitempty"`
		Role        *coding    `json:"role,omitempty"`
		Description string     `json:"description,omitempty"`
		Query       string     `json:"query,omitempty"`
		Detail      []detail   `json:"detail,omitempty"`
	}
	detail struct {
		Type        string `json:"type"`
		ValueString string `json:"valueString"`
	}
)

// instantLayout writes AuditEvent.recorded at the microsecond precision the log keeps.
const instantLayout = "2006-01-02T15:04:05.000000Z07:00"

// AuditEvent returns the event as a FHIR R4 AuditEvent (JSON, without id: the log's sequence
// number is its id).
func (e *Event) AuditEvent() ([]byte, error) {
	action, ok := interactions[e.Interaction]
	if !ok {
		return nil, fmt.Errorf("audit: unknown interaction %q", e.Interaction)
	}
	switch e.Outcome {
	case Success, MinorFailure, SeriousFailure, MajorFailure:
	default:
		return nil, fmt.Errorf("audit: outcome %d is not 0, 4, 8 or 12", e.Outcome)
	}
	t := e.Time
	if t.IsZero() {
		return nil, errors.New("audit: event has no time")
	}
	ae := auditEvent{
		ResourceType: "AuditEvent",
		Type:         coding{dicomSystem, "110110", "Patient Record"},
		Subtype:      []coding{{interactionSystem, string(e.Interaction), ""}},
		Action:       action,
		Recorded:     t.UTC().Truncate(time.Microsecond).Format(instantLayout),
		Outcome:      fmt.Sprint(int(e.Outcome)),
		OutcomeDesc:  e.OutcomeDesc,
	}
	var purpose []codeableConcept
	if e.Purpose != "" {
		purpose = []codeableConcept{{[]coding{{purposeSystem, e.Purpose, ""}}}}
	}
	ae.PurposeOfEvent = purpose

	user := agent{Requestor: true, PurposeOfUse: purpose}
	if e.UserID != "" {
		user.Type = &codeableConcept{[]coding{{securityRoleSystem, "humanuser", "human user"}}}
		user.Who = &reference{Identifier: &identifier{e.UserSystem, e.UserID}, Display: e.UserName}
		user.Name = e.UserName
	} else {
		user.Who = &reference{Display: "unauthenticated"}
	}
	if e.Role != "" {
		sys := e.RoleSystem
		if sys == "" {
			sys = JobRoleSystem
		}
		user.Role = []codeableConcept{{[]coding{{sys, e.Role, ""}}}}
	}
	if e.ClientAddress != "" {
		user.Network = &network{Address: e.ClientAddress, Type: "2"} // 2: IP address
	}
	ae.Agent = []agent{user}
	if e.Organization != "" {
		// R4 agents have no organisation element: the organisation the user acts for is an
		// agent of its own.
		ae.Agent = append(ae.Agent, agent{
			Type: &codeableConcept{[]coding{{roleClassSystem, "PROV", "healthcare provider"}}},
			Who:  &reference{Identifier: &identifier{ODSSystem, e.Organization}},
		})
	}
	observer := e.Source
	if observer == "" {
		observer = "Concord"
	}
	ae.Source = source{Observer: reference{Display: observer}, Type: []coding{{sourceTypeSystem, "4", "Application Server"}}}

	seen := map[string]bool{}
	for _, p := range e.Patients {
		if p.ID == "" || seen[p.ID] {
			continue
		}
		seen[p.ID] = true
		ae.Entity = append(ae.Entity, entity{
			What: &reference{Reference: "Patient/" + p.ID},
			Type: &coding{entityTypeSystem, "1", "Person"},
			Role: &coding{objectRoleSystem, "1", "Patient"},
		})
	}
	for _, r := range e.Resources {
		if r.Type == "" || r.ID == "" {
			return nil, fmt.Errorf("audit: resource %q/%q needs a type and an id", r.Type, r.ID)
		}
		ref := r.Type + "/" + r.ID
		if r.Version != "" {
			ref += "/_history/" + r.Version
		}
		ae.Entity = append(ae.Entity, entity{
			What: &reference{Reference: ref},
			Type: &coding{entityTypeSystem, "2", "System Object"},
			Role: &coding{objectRoleSystem, "4", "Domain Resource"},
		})
	}
	if e.Query != "" {
		ae.Entity = append(ae.Entity, entity{
			Type:  &coding{entityTypeSystem, "2", "System Object"},
			Role:  &coding{objectRoleSystem, "24", "Query"},
			Query: base64.StdEncoding.EncodeToString([]byte(e.Query)),
		})
	}
	if e.BreakGlassReason != "" {
		ae.Entity = append(ae.Entity, entity{
			Type:        &coding{entityTypeSystem, "4", "Other"},
			Description: "break-glass access",
			Detail:      []detail{{BreakGlassDetail, e.BreakGlassReason}},
		})
	}
	ae.Text = narrative{"generated", e.narrative()}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // the narrative is XHTML, escaped as such; JSON needs no more
	if err := enc.Encode(&ae); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// narrative is a one-line summary for people reading the event, as dom-6 asks.
func (e *Event) narrative() string {
	who := e.UserName
	if who == "" {
		who = e.UserID
	}
	if who == "" {
		who = "unauthenticated"
	}
	if e.Organization != "" {
		who += " (" + e.Organization + ")"
	}
	s := who + ": " + string(e.Interaction)
	if len(e.Resources) > 0 {
		r := e.Resources[0]
		s += " " + r.Type + "/" + r.ID
		if len(e.Resources) > 1 {
			s += fmt.Sprintf(" and %d more", len(e.Resources)-1)
		}
	}
	var patients []string
	for _, p := range e.Patients {
		if p.ID != "" && !slices.Contains(patients, p.ID) {
			patients = append(patients, p.ID)
		}
	}
	if len(patients) == 1 {
		s += ", patient " + patients[0]
	} else if len(patients) > 1 {
		s += fmt.Sprintf(", %d patients", len(patients))
	}
	if e.BreakGlassReason != "" {
		s += ", break-glass"
	}
	s += fmt.Sprintf(", outcome %d", int(e.Outcome))
	return `<div xmlns="http://www.w3.org/1999/xhtml">` + html.EscapeString(s) + `</div>`
}

// columns are what the log indexes of an AuditEvent; derived from the JSON itself so that the
// verifier can check the indexed columns against the hashed body.
type columns struct {
	user, organization string
	patients           []string
}

// indexed reads the indexed columns back out of an AuditEvent this package wrote.
func indexed(body []byte) (columns, error) {
	var ae auditEvent
	if err := json.Unmarshal(body, &ae); err != nil {
		return columns{}, err
	}
	var c columns
	for _, a := range ae.Agent {
		if a.Who == nil || a.Who.Identifier == nil {
			continue
		}
		switch {
		case a.Requestor:
			c.user = a.Who.Identifier.Value
		case a.Who.Identifier.System == ODSSystem:
			c.organization = a.Who.Identifier.Value
		}
	}
	for _, en := range ae.Entity {
		if en.Role != nil && en.Role.System == objectRoleSystem && en.Role.Code == "1" && en.What != nil {
			if id, ok := strings.CutPrefix(en.What.Reference, "Patient/"); ok {
				c.patients = append(c.patients, id)
			}
		}
	}
	return c, nil
}
