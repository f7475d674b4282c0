package validation

import "testing"

func TestCodingDisplay(t *testing.T) {
	const vouching = "http://example.org/fhir/StructureDefinition/own-displays"
	v := inlineValidator(t, `{"resourceType":"StructureDefinition","url":"`+vouching+`","name":"OwnDisplays","status":"draft","kind":"resource",
		"abstract":false,"type":"Patient","baseDefinition":"http://hl7.org/fhir/StructureDefinition/Patient","derivation":"constraint",
		"contained":[{"resourceType":"ValueSet","id":"rel","url":"http://example.org/fhir/ValueSet/rel","status":"draft",
			"expansion":{"timestamp":"2024-01-01","contains":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0131","code":"C","display":"alt-display"}]}}],
		"differential":{"element":[{"path":"Patient.contact.relationship","binding":{"strength":"required","valueSet":"#rel"}}]}}`)
	pat := func(lang, display string) string {
		l := ""
		if lang != "" {
			l = `"language":"` + lang + `",`
		}
		return `{"resourceType":"Patient",` + l + narrative + `,"contact":[{"relationship":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0131","code":"C","display":"` + display + `"}]}],"name":{"text":"x"}}]}`
	}
	runProfileCases(t, v, []profileCase{
		{name: "the code system's display", json: pat("", "Emergency Contact")},
		{name: "case and spacing aside", json: pat("", "emergency  contact")},
		{name: "a designation", json: pat("", "Ansprechpartner in Notfällen")},
		{name: "a designation in the resource's language", json: pat("de-CH", "Ansprechpartner in Notfällen")},
		{name: "a designation in another language", json: pat("nl", "Ansprechpartner in Notfällen"),
			want: []issueWant{{"error", "invalid", "Patient.contact[0].relationship[0].coding[0].display", "Valid display is one of 2 choices: 'Emergency Contact' or 'Contact bij nood' (nl)"}}},
		{name: "a wrong display", json: pat("", "alt-display"),
			want: []issueWant{{"error", "invalid", "Patient.contact[0].relationship[0].coding[0].display", "Wrong Display Name 'alt-display' for http://terminology.hl7.org/CodeSystem/v2-0131#C"}}},
		{name: "a display the profile's value set gives", json: pat("", "alt-display"), profiles: []string{vouching}},
	})
}
