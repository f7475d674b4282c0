package access

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestParseScope(t *testing.T) {
	tests := []struct {
		in      string
		want    Scope
		wantErr string
	}{
		{in: "patient/Observation.rs", want: Scope{Context: "patient", ResourceType: "Observation", Actions: "rs"}},
		{in: "user/*.cruds", want: Scope{Context: "user", ResourceType: "*", Actions: "cruds"}},
		{in: "system/Patient.c", want: Scope{Context: "system", ResourceType: "Patient", Actions: "c"}},
		{in: "system/*.read", want: Scope{Context: "system", ResourceType: "*", Actions: "rs"}},
		{in: "user/Patient.write", want: Scope{Context: "user", ResourceType: "Patient", Actions: "cud"}},
		{in: "patient/*.*", want: Scope{Context: "patient", ResourceType: "*", Actions: "cruds"}},
		{in: "patient/Observation.rs?category=laboratory", want: Scope{Context: "patient", ResourceType: "Observation", Actions: "rs",
			Params: url.Values{"category": {"laboratory"}}}},
		{in: "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category%7Claboratory&status=final",
			want: Scope{Context: "patient", ResourceType: "Observation", Actions: "rs",
				Params: url.Values{"category": {"http://terminology.hl7.org/CodeSystem/observation-category|laboratory"}, "status": {"final"}}}},
		{in: "openid", want: Scope{}},
		{in: "fhirUser", want: Scope{}},
		{in: "launch", want: Scope{}},
		{in: "launch/patient", want: Scope{}},
		{in: "offline_access", want: Scope{}},
		{in: "api://concord/.default", want: Scope{}},

		{in: "patient/Observation", wantErr: "want patient/Type.actions"},
		{in: "patient/Observation.", wantErr: "no actions"},
		{in: "patient/.rs", wantErr: "not a FHIR resource type"},
		{in: "patient/observation.rs", wantErr: "not a FHIR resource type"},
		{in: "patient/Obs-ervation.rs", wantErr: "not a FHIR resource type"},
		{in: "user/Patient.x", wantErr: `action 'x'`},
		{in: "user/Patient.rr", wantErr: "repeated"},
		{in: "user/Patient.sr", wantErr: "in the order"},
		{in: "user/Patient.READ", wantErr: "action 'R'"},
		{in: "user/Patient.read?name=x", wantErr: "need SMART v2 actions"},
		{in: "user/Patient.rs?", wantErr: "empty restriction"},
		{in: "user/Patient.rs?=x", wantErr: "without a parameter name"},
		{in: "user/Patient.rs?name=", wantErr: "has no value"},
		{in: "user/Patient.rs?name=%zz", wantErr: "restriction"},
		{in: "user/Patient.rs?a=1;b=2", wantErr: "restriction"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseScope(tc.in)
			if tc.wantErr != "" {
				if err == nil || !errors.Is(err, ErrInvalidScope) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Name = tc.in
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestScopesAllows(t *testing.T) {
	s, err := ParseScopes("openid launch/patient patient/Observation.rs?category=laboratory patient/Observation.rs?category=vital-signs user/Patient.r system/*.s")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ctx, typ string
		action   rune
		want     bool
		filters  int // -1: unrestricted
	}{
		{"patient", "Observation", 'r', true, 2},
		{"patient", "Observation", 's', true, 2},
		{"patient", "Observation", 'c', false, 0},
		{"patient", "Condition", 'r', false, 0},
		{"user", "Patient", 'r', true, -1},
		{"user", "Patient", 's', false, 0},
		{"user", "Observation", 'r', false, 0},
		{"system", "Encounter", 's', true, -1},
		{"system", "Encounter", 'r', false, 0},
		{"system", "Encounter", 'x', false, 0},
		{"admin", "Patient", 'r', false, 0},
	}
	for _, tc := range tests {
		if got := s.Allows(tc.ctx, tc.typ, tc.action); got != tc.want {
			t.Errorf("Allows(%s, %s, %c) = %v", tc.ctx, tc.typ, tc.action, got)
		}
		f, ok := s.Restrictions(tc.ctx, tc.typ, tc.action)
		switch {
		case ok != tc.want:
			t.Errorf("Restrictions(%s, %s, %c) ok = %v", tc.ctx, tc.typ, tc.action, ok)
		case tc.filters == -1 && f != nil:
			t.Errorf("Restrictions(%s, %s, %c) = %v, want unrestricted", tc.ctx, tc.typ, tc.action, f)
		case tc.filters >= 0 && len(f) != tc.filters:
			t.Errorf("Restrictions(%s, %s, %c) = %v, want %d filters", tc.ctx, tc.typ, tc.action, f, tc.filters)
		}
	}
	if !s.Has("launch/patient") || s.Has("launch") {
		t.Error("Has")
	}

	// An unrestricted scope for the same type lifts the restrictions.
	s2, _ := ParseScopes("patient/Observation.rs?category=laboratory patient/*.r")
	if f, ok := s2.Restrictions("patient", "Observation", 'r'); !ok || f != nil {
		t.Errorf("restricted plus wildcard: %v, %v", f, ok)
	}
	if f, ok := s2.Restrictions("patient", "Observation", 's'); !ok || len(f) != 1 {
		t.Errorf("search only under the restriction: %v, %v", f, ok)
	}
}

func TestParseScopesRejectsOneBadScope(t *testing.T) {
	if _, err := ParseScopes("openid user/*.rs user/Patient.rx"); !errors.Is(err, ErrInvalidScope) {
		t.Fatalf("err = %v", err)
	}
	s, err := ParseScopes("  openid\tuser/*.rs  ")
	if err != nil || len(s) != 2 || s.String() != "openid user/*.rs" {
		t.Fatalf("%v %v", s, err)
	}
}
