package validation

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concord-health/concord/fhir"
)

// TestBundleRules validates the Bundles of testdata/bundles and expects exactly the listed
// issues, in order (errors first).
func TestBundleRules(t *testing.T) {
	type want = issueWant
	tests := []struct {
		file string
		want []want
	}{
		{"document-good.json", nil},
		{"document-unresolved.json", []want{
			{"error", "invalid", "Bundle.entry[0].resource.subject", "Can't find 'Patient/p1' in the bundle (Composition.subject). Note that there is a resource in the bundle with the same type and id"},
			{"error", "invalid", "Bundle.entry[0].resource.author[0]", "Can't find 'Practitioner/missing' in the bundle (Composition.author)"},
			{"error", "invalid", "Bundle.entry[0].resource.section[0].entry[0]", "Can't find 'urn:uuid:0e7c6a41-96f4-4b54-9c5b-2d4a1f6e8a33' in the bundle (Composition.section.entry)"},
			{"error", "invalid", "Bundle.entry[1]", "Entry 'http://example.org/fhir/Patient/p1' isn't reachable by traversing links (forward or backward) from the Composition"},
			{"information", "not-found", "Bundle.entry[1].resource.generalPractitioner[0]", "Can't find 'Practitioner/elsewhere' in the bundle"},
		}},
		{"document-reverse.json", []want{
			{"error", "not-found", "Bundle.link[1].url", "The stylesheet reference 'Binary/missing' could not be resolved in this bundle"},
			{"error", "invalid", "Bundle.entry[6]", "Entry 'http://example.org/fhir/Patient/p2' isn't reachable by traversing links (forward or backward) from the Composition"},
			{"warning", "invalid", "Bundle.entry[4]", "Entry 'http://example.org/fhir/Observation/o1' isn't reachable by traversing forwards from the Composition. Only Provenance is approved to be used this way"},
		}},
		{"document-empty.json", []want{
			{"error", "invalid", "Bundle", "must contain at least one entry"},
		}},
		{"message.json", []want{
			{"error", "invalid", "Bundle.entry[0].resource.focus[1]", "Can't find 'urn:uuid:3b8f0e4d-7c2a-4d1b-8f9e-6a5b4c3d2e10' in the bundle (MessageHeader.focus)"},
			{"warning", "informational", "Bundle.entry[2]", "Entry 'urn:uuid:6e0d1c2b-3a4f-4b5c-9d6e-7f8a9b0c1d2e' isn't reachable by traversing links (forward or backward) from the MessageHeader"},
		}},
		{"fullurls.json", []want{
			{"error", "invalid", "Bundle.entry[0]", "The fullUrl must be an absolute URL (not 'Patient/p1')"},
			{"error", "invalid", "Bundle.entry[1].fullUrl", "UUIDs must be valid and lowercase"},
			{"error", "invalid", "Bundle.entry[2].fullUrl", "OIDs must be valid (urn:oid:1.2.03)"},
			{"error", "invalid", "Bundle.entry[3]", "must end with the correct type and id (/Patient/p3)"},
			{"error", "invalid", "Bundle.entry[4]", "must end with the correct type and id (/Patient/o1)"},
			{"error", "invalid", "Bundle.entry[5]", "looks like a RESTful server URL, but the resource has no id"},
			{"error", "invalid", "Bundle.entry[6]", "each entry in a Bundle must have a fullUrl"},
		}},
		{"transaction.json", []want{
			{"warning", "required", "Bundle.entry[1].resource.subject", "URN reference is not locally contained within the bundle urn:uuid:7d0b2f3c-9e4a-4f6b-8c1d-2e3f4a5b6c70"},
		}},
		{"collection-apparent.json", []want{
			{"warning", "required", "Bundle.entry[0].resource.subject", "Entry 1 matches the reference Patient/p1 by type and id"},
		}},
		{"nested.json", []want{
			{"error", "invalid", "Bundle.entry[0].resource.entry[0]", "The fullUrl must be an absolute URL (not 'Patient/p1')"},
			{"error", "invalid", "Bundle.entry[1].resource.entry[0].resource.subject", "Can't find 'Patient/p1' in the bundle (Composition.subject)"},
		}},
		// request, response, search, total and duplicate fullUrls are the invariants' to
		// report (bdl-1…bdl-4, bdl-7), once, including in a nested Bundle.
		{"entry-parts.json", []want{
			{"error", "invariant", "Bundle", "bdl-1"},
			{"error", "invariant", "Bundle", "bdl-2"},
			{"error", "invariant", "Bundle", "bdl-3"},
			{"error", "invariant", "Bundle", "bdl-4"},
			{"error", "invariant", "Bundle", "bdl-7"},
			{"error", "invariant", "Bundle.entry[2].resource", "bdl-3"},
		}},
		{"links.json", []want{
			{"error", "invalid", "Bundle.link[1]", "'self' can only occur once"},
			{"error", "invalid", "Bundle.link[2]", "'next' is only allowed on searchset and history bundles, not collection"},
			{"error", "invalid", "Bundle.entry[0].resource.link[2]", "'next' can only occur once"},
		}},
		{"contained.json", []want{
			{"error", "invalid", "Bundle.entry[0].resource.contained[1]", "Duplicate id 'o1' among the contained resources"},
			{"error", "invariant", "Bundle.entry[0].resource.generalPractitioner[0]", "ref-1"},
		}},
		{"contained-narrative.json", []want{
			{"error", "invariant", "Composition", "dom-3: 'If the resource is contained in another resource, it SHALL be referred to from elsewhere in the resource or SHALL refer to the containing resource' (defined on Composition: contained.where((('#'+id in (%resource.descendants().reference | %resource.descendants().as(canonical) | %resource.descendants().as(uri) | %resource.descendants().as(url))) or descendants().where(reference = '#').exists() or descendants().where(as(canonical) = '#').exists() or descendants().where(as(canonical) = '#').exists()).not()).trace('unmatched', id).empty()) (not referenced: org1)"},
		}},
	}
	v := validator(t)
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "bundles", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			res, err := fhir.Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			expectIssues(t, v.Validate(res), tt.want)
		})
	}
}

// Reference resolution follows bundle.html#references: absolute references are fullUrls,
// relative ones resolve against the base of a RESTful fullUrl of the referring entry, and a
// version-specific reference names its version apart.
func TestBundleTarget(t *testing.T) {
	w := &walker{v: validator(t)}
	b := &bundleScope{}
	tests := []struct {
		ref, source, target, version string
	}{
		{"Patient/1", "http://example.org/fhir/Observation/o", "http://example.org/fhir/Patient/1", ""},
		{"Patient/1/_history/2", "https://example.org/Observation/o", "https://example.org/Patient/1", "2"},
		{"http://other.org/Patient/1/_history/3", "", "http://other.org/Patient/1", "3"},
		{"urn:uuid:9d3e5c2a-4c1b-4f0e-9a57-2f1f3c2a8b10", "", "urn:uuid:9d3e5c2a-4c1b-4f0e-9a57-2f1f3c2a8b10", ""},
		{"Patient/1", "urn:uuid:9d3e5c2a-4c1b-4f0e-9a57-2f1f3c2a8b10", "", ""},
		{"Patient/1", "", "", ""},
		{"Patient?identifier=x", "http://example.org/fhir/Observation/o", "", ""},
		{"Patient/1", "http://example.org/fhir/NotAType/o", "", ""},
	}
	for _, tt := range tests {
		target, version := b.target(w, tt.ref, tt.source)
		if target != tt.target || version != tt.version {
			t.Errorf("target(%q from %q) = %q, %q; want %q, %q", tt.ref, tt.source, target, version, tt.target, tt.version)
		}
	}
}

func TestContainedUnreferenced(t *testing.T) {
	tests := []struct {
		name, json string
		want       []string
	}{
		{"referenced", `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o"}],"managingOrganization":{"reference":"#o"}}`, nil},
		{"from a canonical", `{"resourceType":"Questionnaire","status":"draft","contained":[{"resourceType":"ValueSet","id":"vs","status":"draft"}],"item":[{"linkId":"1","type":"choice","answerValueSet":"#vs"}]}`, nil},
		{"from the narrative", `{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><a href=\"#o\">o</a></div>"},"contained":[{"resourceType":"Organization","id":"o"}]}`, nil},
		{"refers to its container", `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o","partOf":{"reference":"#"}}]}`, nil},
		{"orphan", `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o"},{"resourceType":"Organization","id":"p"}],"managingOrganization":{"reference":"#p"}}`, []string{"o"}},
		{"a display text is not a reference", `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o"}],"managingOrganization":{"display":"#o"}}`, []string{"o"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := fhir.Parse([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			if got := containedUnreferenced(res.Root); strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestWalkerRules covers the core walker's rules outside Bundles: the corrected que-12,
// attachment sizes and the longest string.
func TestWalkerRules(t *testing.T) {
	const narrative = `"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}`
	enableWhen := `{"question":"1","operator":"exists","answerBoolean":true}`
	long := strings.Repeat("a", maxString+1)
	tests := []struct {
		name, json string
		want       []string // "severity code path contains"
	}{
		{"que-12 with two enableWhen", `{"resourceType":"Questionnaire",` + narrative + `,"status":"draft","item":[{"linkId":"1","type":"boolean"},{"linkId":"2","type":"string","enableWhen":[` + enableWhen + `,` + enableWhen + `]}]}`,
			[]string{"error invariant Questionnaire.item[1] que-12"}},
		{"que-12 with one enableWhen", `{"resourceType":"Questionnaire",` + narrative + `,"status":"draft","item":[{"linkId":"1","type":"boolean"},{"linkId":"2","type":"string","enableWhen":[` + enableWhen + `]}]}`, nil},
		{"que-12 with enableBehavior", `{"resourceType":"Questionnaire",` + narrative + `,"status":"draft","item":[{"linkId":"1","type":"boolean"},{"linkId":"2","type":"string","enableBehavior":"all","enableWhen":[` + enableWhen + `,` + enableWhen + `]}]}`, nil},
		{"attachment size matches", `{"resourceType":"Patient",` + narrative + `,"photo":[{"contentType":"text/plain","data":"aGVscCBpJ20gYSBidWc=","size":14}]}`, nil},
		{"attachment size differs", `{"resourceType":"Patient",` + narrative + `,"photo":[{"contentType":"text/plain","data":"aGVscCBpJ20gYSBidWc=","size":100}]}`,
			[]string{"error structure Patient.photo[0] Stated Attachment Size 100 does not match actual attachment size 14"}},
		{"string over 1 MB", `{"resourceType":"Patient",` + narrative + `,"name":[{"text":"` + long + `"}]}`,
			[]string{"error invalid Patient.name[0].text longer than permitted maximum length of 1 MB"}},
	}
	v := validator(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := fhir.Parse([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			var want []issueWant
			for _, w := range tt.want {
				f := strings.SplitN(w, " ", 4)
				want = append(want, issueWant{f[0], f[1], f[2], f[3]})
			}
			expectIssues(t, v.Validate(res), want)
		})
	}
}

func TestBundleReferenceToUUIDEntry(t *testing.T) {
	v := inlineValidator(t)
	bundle := func(targetType string) string {
		return `{"resourceType":"Bundle","type":"collection","entry":[` +
			`{"fullUrl":"urn:uuid:54fc3e09-e279-4b74-a8ff-2649ec968642","resource":{"resourceType":"Patient",` + narrative + `,` +
			`"generalPractitioner":[{"reference":"Practitioner/5d9588d8-3cd6-4b32-8fb7-ad13694e069d"}]}},` +
			`{"fullUrl":"urn:uuid:5d9588d8-3cd6-4b32-8fb7-ad13694e069d","resource":{"resourceType":"` + targetType + `",` + narrative + `,"identifier":[{"value":"1"}]}}]}`
	}
	runProfileCases(t, v, []profileCase{
		{name: "the entry has the type referred to", json: bundle("Practitioner")},
		{name: "the entry has another type", json: bundle("Organization"),
			want: []issueWant{{"error", "required", "Bundle.entry[0].resource.generalPractitioner[0]", "Matching reference for reference Practitioner/5d9588d8-3cd6-4b32-8fb7-ad13694e069d has resourceType Organization"}}},
	})
}
