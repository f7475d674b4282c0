package main

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/concord-health/concord/interaction"
)

// TestTerminologyFromStore checks that the terminology operations answer from the
// CodeSystems and ConceptMaps written through the API and, after a restart, from those
// already stored.
func TestTerminologyFromStore(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	open := func() (*interaction.Service, func()) {
		return openValidating(t, data, conformanceConfig{}, interaction.ValidateOff)
	}
	get := func(svc *interaction.Service, path string, q url.Values) (int, string) {
		r := svc.Do(ctx, &interaction.Request{Method: "GET", Path: path, Query: q})
		return r.Status, string(r.Body)
	}
	translate := url.Values{"url": {"http://example.org/cm/local"}, "system": {"http://example.org/local"}, "code": {"x"}}
	lookup := url.Values{"system": {"http://example.org/local"}, "code": {"x"}}

	svc, done := open()
	for path, body := range map[string]string{
		"CodeSystem/local": `{"resourceType":"CodeSystem","id":"local","url":"http://example.org/local","status":"active","content":"complete","concept":[{"code":"x","display":"Ex"}]}`,
		"ConceptMap/local": `{"resourceType":"ConceptMap","id":"local","url":"http://example.org/cm/local","status":"active",` +
			`"group":[{"source":"http://example.org/local","target":"http://hl7.org/fhir/administrative-gender","element":[{"code":"x","target":[{"code":"other","equivalence":"wider"}]}]}]}`,
	} {
		r := svc.Do(ctx, &interaction.Request{Method: "PUT", Path: path, Body: []byte(body), ContentType: "application/fhir+json"})
		if r.Status != 201 {
			t.Fatalf("PUT %s: %d %s", path, r.Status, r.Body)
		}
	}
	if s, b := get(svc, "ConceptMap/$translate", translate); s != 200 || !strings.Contains(b, `"code":"other"`) {
		t.Errorf("$translate with an uploaded map: %d %s", s, b)
	}
	if s, b := get(svc, "CodeSystem/$lookup", lookup); s != 200 || !strings.Contains(b, `"valueString":"Ex"`) {
		t.Errorf("$lookup in an uploaded code system: %d %s", s, b)
	}
	done()

	svc, done = open()
	defer done()
	if s, b := get(svc, "ConceptMap/$translate", translate); s != 200 || !strings.Contains(b, `"code":"other"`) {
		t.Errorf("$translate after a restart: %d %s", s, b)
	}
	if s, b := get(svc, "CodeSystem/$lookup", lookup); s != 200 || !strings.Contains(b, `"valueString":"Ex"`) {
		t.Errorf("$lookup after a restart: %d %s", s, b)
	}
}
