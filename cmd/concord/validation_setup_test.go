package main

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concord-health/concord/interaction"
)

const bornPatientSD = `{"resourceType":"StructureDefinition","id":"born-patient","url":"http://example.org/fhir/StructureDefinition/born-patient",
 "name":"BornPatient","status":"active","kind":"resource","abstract":false,"type":"Patient",
 "baseDefinition":"http://hl7.org/fhir/StructureDefinition/Patient","derivation":"constraint",
 "differential":{"element":[{"id":"Patient","path":"Patient"},{"id":"Patient.birthDate","path":"Patient.birthDate","min":1}]}}`

// TestConformanceFromPackagesAndStore checks that validate-on-write uses the profiles of a
// loaded package, of StructureDefinitions written through the API, and, after a restart,
// of those already stored.
func TestConformanceFromPackagesAndStore(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	open := func() (*interaction.Service, func()) {
		return openValidating(t, data, conformanceConfig{packages: []string{filepath.Join("testdata", "package")}}, interaction.ValidateEnforce)
	}
	put := func(svc *interaction.Service, path, body string) int {
		r := svc.Do(ctx, &interaction.Request{Method: "PUT", Path: path, Body: []byte(body), ContentType: "application/fhir+json"})
		if r.Status >= 300 && r.Status != 422 {
			t.Fatalf("PUT %s: %d %s", path, r.Status, r.Body)
		}
		return r.Status
	}
	patient := func(id, profile, extra string) string {
		return `{"resourceType":"Patient","id":"` + id + `","meta":{"profile":["http://example.org/fhir/StructureDefinition/` + profile + `"]}` + extra + `}`
	}

	svc, done := open()
	r := svc.Do(ctx, &interaction.Request{Method: "POST", Path: "Patient/$validate",
		Query: url.Values{"profile": {"http://example.org/fhir/StructureDefinition/gendered-patient"}},
		Body:  []byte(`{"resourceType":"Patient"}`), ContentType: "application/fhir+json"})
	if r.Status != 200 || !strings.Contains(string(r.Body), `"severity":"error"`) || !strings.Contains(string(r.Body), "Patient.gender") {
		t.Errorf("$validate against the package's profile: %d %s", r.Status, r.Body)
	}
	if s := put(svc, "Patient/a", patient("a", "gendered-patient", "")); s != 422 {
		t.Errorf("Patient without gender claiming the package's profile: %d, want 422", s)
	}
	if s := put(svc, "Patient/a", patient("a", "gendered-patient", `,"gender":"female"`)); s != 201 {
		t.Errorf("conforming Patient: %d, want 201", s)
	}
	if s := put(svc, "StructureDefinition/born-patient", bornPatientSD); s != 201 {
		t.Fatalf("uploading a profile: %d", s)
	}
	if s := put(svc, "Patient/b", patient("b", "born-patient", "")); s != 422 {
		t.Errorf("Patient without birthDate claiming the uploaded profile: %d, want 422", s)
	}
	done()

	svc, done = open()
	defer done()
	if s := put(svc, "Patient/b", patient("b", "born-patient", "")); s != 422 {
		t.Errorf("after a restart, the stored profile is not enforced: %d", s)
	}
	if s := put(svc, "Patient/b", patient("b", "born-patient", `,"birthDate":"1970-01-01"`)); s != 201 {
		t.Errorf("conforming Patient after restart: %d, want 201", s)
	}
}

func TestLoadConformanceBadPackage(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	_, err := loadConformance(conformanceConfig{packages: []string{filepath.Join(t.TempDir(), "missing.tgz")}}, log)
	if err == nil || !strings.Contains(err.Error(), "missing.tgz") {
		t.Errorf("missing package: err %v", err)
	}
}

func TestListFlag(t *testing.T) {
	var l listFlag
	l.Set("a.tgz, b")
	l.Set("c")
	if l.String() != "a.tgz,b,c" {
		t.Errorf("list = %q", l.String())
	}
}

// TestQuestionnaireTakenUp checks that a QuestionnaireResponse is checked against a
// Questionnaire written through the API.
func TestQuestionnaireTakenUp(t *testing.T) {
	ctx := context.Background()
	svc, _ := openValidating(t, t.TempDir(), conformanceConfig{}, interaction.ValidateEnforce)
	put := func(path, body string) *interaction.Response {
		return svc.Do(ctx, &interaction.Request{Method: "PUT", Path: path, Body: []byte(body), ContentType: "application/fhir+json"})
	}
	if r := put("Questionnaire/q", `{"resourceType":"Questionnaire","id":"q","url":"http://example.org/fhir/Questionnaire/q","status":"active",
	 "item":[{"linkId":"smoker","text":"Do you smoke?","type":"boolean"}]}`); r.Status != 201 {
		t.Fatalf("Questionnaire: %d %s", r.Status, r.Body)
	}
	qr := func(linkID string) string {
		return `{"resourceType":"QuestionnaireResponse","id":"r","questionnaire":"http://example.org/fhir/Questionnaire/q","status":"completed",
		 "item":[{"linkId":"` + linkID + `","text":"Do you smoke?","answer":[{"valueBoolean":false}]}]}`
	}
	if r := put("QuestionnaireResponse/r", qr("smokes")); r.Status != 422 || !strings.Contains(string(r.Body), "smokes") {
		t.Errorf("response with an unknown linkId: %d %s", r.Status, r.Body)
	}
	if r := put("QuestionnaireResponse/r", qr("smoker")); r.Status != 201 {
		t.Errorf("conforming response: %d %s", r.Status, r.Body)
	}
}
