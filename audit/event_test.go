package audit

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/fhir/validation"
	"github.com/concord-health/concord/terminology"
)

var testValidator = sync.OnceValues(func() (*validation.Validator, error) {
	ts, err := terminology.Core()
	if err != nil {
		return nil, err
	}
	return validation.NewWith(definitions.R4(), validation.Options{Terminology: ts})
})

func TestAuditEventIsValid(t *testing.T) {
	v, err := testValidator()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 9, 30, 15, 123456789, time.UTC)
	events := map[string]*Event{
		"read": readEvent(1, "u1", "A81001", "p1"),
		"search of several patients": {
			Time: at, UserID: "555021935107", UserSystem: "https://fhir.nhs.uk/Id/sds-user-id", UserName: "Nurse Jones",
			Organization: "RX1", Role: "R8001", Purpose: "TREAT",
			Patients:    []Patient{{ID: "p1"}, {ID: "p2"}, {ID: "p1"}},
			Interaction: SearchType, Query: "Observation?patient=p1,p2&_count=10", Outcome: Success,
		},
		"break-glass create": {
			Time: at, UserID: "u9", Organization: "RX1", Role: "R8000", Purpose: "ETREAT",
			Patients:         []Patient{{ID: "p7"}},
			Resources:        []Resource{{Type: "Condition", ID: "c1", Version: "3"}},
			Interaction:      Create,
			BreakGlassReason: "unconscious patient in A&E",
		},
		"denied delete": {
			Time: at, UserID: "u2", Organization: "B1", Interaction: Delete,
			Resources: []Resource{{Type: "Patient", ID: "p3"}}, Outcome: MinorFailure, OutcomeDesc: "no legitimate relationship",
		},
		"unauthenticated operation": {
			Time: at, Interaction: Operation, Outcome: SeriousFailure, OutcomeDesc: "no token", ClientAddress: "192.0.2.4",
		},
	}
	for name, e := range events {
		t.Run(name, func(t *testing.T) {
			body, err := e.AuditEvent()
			if err != nil {
				t.Fatal(err)
			}
			res, err := fhir.Parse(body)
			if err != nil {
				t.Fatalf("fhir.Parse: %v\n%s", err, body)
			}
			for _, is := range v.Validate(res) {
				if is.Severity == "error" || is.Severity == "fatal" || is.Severity == "warning" {
					t.Errorf("%s %s at %v: %s", is.Severity, is.Code, is.Expression, is.Diagnostics)
				}
			}
			if t.Failed() {
				t.Logf("%s", body)
			}
			// What the log indexes must be readable back from the body.
			c, err := indexed(body)
			if err != nil {
				t.Fatal(err)
			}
			if c.user != e.UserID || c.organization != e.Organization {
				t.Errorf("indexed user %q organization %q, want %q %q", c.user, c.organization, e.UserID, e.Organization)
			}
		})
	}
}

func TestAuditEventContent(t *testing.T) {
	e := &Event{
		Time: time.Date(2026, 3, 1, 9, 30, 15, 123456789, time.UTC), UserID: "u9", UserName: "Dr Who",
		Organization: "RX1", Role: "R8000", Purpose: "ETREAT",
		Patients:         []Patient{{ID: "p7"}, {ID: "p8"}},
		Resources:        []Resource{{Type: "Observation", ID: "o1", Version: "2"}},
		Interaction:      VRead,
		BreakGlassReason: "collapsed in clinic",
		ClientAddress:    "10.1.2.3",
	}
	body, err := e.AuditEvent()
	if err != nil {
		t.Fatal(err)
	}
	s := string(body)
	for _, want := range []string{
		`"type":{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"110110","display":"Patient Record"}`,
		`"subtype":[{"system":"http://hl7.org/fhir/restful-interaction","code":"vread"}]`,
		`"action":"R"`,
		`"recorded":"2026-03-01T09:30:15.123456Z"`,
		`"outcome":"0"`,
		`"purposeOfEvent":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"ETREAT"}]}]`,
		`"role":[{"coding":[{"system":"https://fhir.nhs.uk/CodeSystem/NHSDigital-SDSJobRoleName","code":"R8000"}]}]`,
		`"who":{"identifier":{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"RX1"}}`,
		`"network":{"address":"10.1.2.3","type":"2"}`,
		`"what":{"reference":"Patient/p7"}`,
		`"what":{"reference":"Patient/p8"}`,
		`"what":{"reference":"Observation/o1/_history/2"}`,
		`"detail":[{"type":"X-Break-Glass-Reason","valueString":"collapsed in clinic"}]`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %s in\n%s", want, s)
		}
	}
	actions := map[Interaction]string{Create: "C", Read: "R", Search: "E", Update: "U", Patch: "U", Delete: "D", Operation: "E"}
	for in, want := range actions {
		e := &Event{Time: time.Now(), Interaction: in}
		body, err := e.AuditEvent()
		if err != nil {
			t.Fatal(err)
		}
		var got struct{ Action string }
		json.Unmarshal(body, &got)
		if got.Action != want {
			t.Errorf("%s: action %q, want %q", in, got.Action, want)
		}
	}
	for _, bad := range []*Event{
		{Time: time.Now(), Interaction: "peek"},
		{Time: time.Now(), Interaction: Read, Outcome: 3},
		{Interaction: Read},
		{Time: time.Now(), Interaction: Read, Resources: []Resource{{Type: "Patient"}}},
	} {
		if _, err := bad.AuditEvent(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
