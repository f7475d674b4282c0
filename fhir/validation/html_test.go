package validation

import (
	"slices"
	"testing"
)

func TestNarrativeLinksAndEntities(t *testing.T) {
	v := inlineValidator(t)
	div := func(inner string) string {
		return `{"resourceType":"Basic","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">` + inner + `</div>"},"code":{"text":"x"}}`
	}
	runProfileCases(t, v, []profileCase{
		{name: "web and mail links", json: div(`<p><a href=\"https://example.org/x\">x</a> <a href=\"mailto:a@example.org\">a</a> <a href=\"#frag\">f</a> <a href=\"Patient/1\">p</a></p><p id=\"frag\">x</p>`)},
		{name: "a link to a named anchor", json: div(`<p><a name=\"top\"/>x <a href=\"#top\">up</a></p>`)},
		{name: "a link to nothing", json: div(`<p><a name=\"top\"/>x <a href=\"#top/more\">more</a></p>`),
			want: []issueWant{{"error", "invalid", "Basic.text.div", "Hyperlink '#top/more' at 'div/p/a' for 'more' does not resolve"}}},
		{name: "urn link", json: div(`<p><a href=\"urn:uuid:1e0f8a4c-0000-4000-8000-000000000001\"> Some <b>one</b> </a></p>`),
			want: []issueWant{{"error", "invalid", "Basic.text.div", "Hyperlink scheme 'urn' in 'urn:uuid:1e0f8a4c-0000-4000-8000-000000000001' at 'div/p/a' for 'Some one' is not a valid hyperlinkable scheme"}}},
		{name: "the same urn link twice is reported once", json: div(`<p><a href=\"urn:oid:1.2.3\">x</a></p><p><a href=\"urn:oid:1.2.3\">x</a></p>`),
			want: []issueWant{{"error", "invalid", "Basic.text.div", "Hyperlink scheme 'urn'"}}},
		{name: "XML entities", json: div(`<p>a &amp; b &lt; c &#174;</p>`)},
		{name: "an HTML entity", json: div(`<p>CPT&reg;</p>`),
			want: []issueWant{{"error", "invalid", "Basic.text.div", "Invalid entity in the XHTML ('&reg;')"}}},
	})
}

func TestDivParts(t *testing.T) {
	tests := []struct {
		div                 string
		sections, unsourced []string
	}{
		{`<div xmlns="http://www.w3.org/1999/xhtml"><div lang="pt">a</div><div xml:lang="de" lang="de">b</div></div>`,
			[]string{"de", "pt"}, []string{"a", "b"}},
		{`<div xmlns="http://www.w3.org/1999/xhtml"> loose  text <h1 class="boilerplate">h</h1><p>no <b>source</b></p><p class="x generated">g</p></div>`,
			nil, []string{"loose text", "no source"}},
	}
	for _, tt := range tests {
		sections, unsourced := divParts(tt.div)
		if !slices.Equal(sections, tt.sections) || !slices.Equal(unsourced, tt.unsourced) {
			t.Errorf("divParts(%s) = %q, %q; want %q, %q", tt.div, sections, unsourced, tt.sections, tt.unsourced)
		}
	}
}

func TestNarrativeControl(t *testing.T) {
	const (
		noLang  = "http://example.org/fhir/StructureDefinition/no-lang"
		yesLang = "http://example.org/fhir/StructureDefinition/yes-lang"
		resLang = "http://example.org/fhir/StructureDefinition/resource-lang"
		sourced = "http://example.org/fhir/StructureDefinition/sourced"
	)
	control := func(url, ext, code string) string {
		return constraintOn(url, "Patient", `{"path":"Patient.text","extension":[{"url":"`+ext+`","valueCode":"`+code+`"}]}`)
	}
	v := inlineValidator(t, control(noLang, narrativeLanguageControl, "_no"), control(yesLang, narrativeLanguageControl, "_yes"),
		control(resLang, narrativeLanguageControl, "_resource"), control(sourced, narrativeSourceControl, "error"))
	pat := func(lang, inner string) string {
		l := ""
		if lang != "" {
			l = `"language":"` + lang + `",`
		}
		return `{"resourceType":"Patient",` + l + `"text":{"status":"extensions","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">` + inner + `</div>"}}`
	}
	twoLangs := `<div lang=\"en\">a</div><div lang=\"de\">b</div>`
	runProfileCases(t, v, []profileCase{
		{name: "sections prohibited, none", profiles: []string{noLang}, json: pat("", "text")},
		{name: "sections prohibited, present", profiles: []string{noLang}, json: pat("", twoLangs),
			want: []issueWant{{"error", "business-rule", "Patient.text", "some language sections (de, en), but language sections are prohibited"}}},
		{name: "sections required, present", profiles: []string{yesLang}, json: pat("", twoLangs)},
		{name: "sections required, none", profiles: []string{yesLang}, json: pat("", "text"),
			want: []issueWant{{"error", "business-rule", "Patient.text", "has no language sections, but language sections are required"}}},
		{name: "resource language section present", profiles: []string{resLang}, json: pat("en", twoLangs)},
		{name: "resource language section missing", profiles: []string{resLang}, json: pat("pt", twoLangs),
			want: []issueWant{{"error", "business-rule", "Patient.text", "for the resource language (pt), but it was not found (found de, en)"}}},
		{name: "every part has a source", profiles: []string{sourced}, json: pat("", `<p class=\"generated\">a</p>`)},
		{name: "a part without a source", profiles: []string{sourced}, json: pat("", `<p class=\"generated\">a</p><p>b</p>`),
			want: []issueWant{{"error", "business-rule", "Patient.text", "The xhtml node at 'b' does not have a class attribute"}}},
	})
}
