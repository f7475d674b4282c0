package validation

import "testing"

func TestSearchParameterRules(t *testing.T) {
	v := inlineValidator(t)
	capStmt := func(typ string) string {
		return `{"resourceType":"CapabilityStatement",` + narrative + `,"status":"draft","date":"2024-01-01","kind":"instance",` +
			`"implementation":{"description":"x"},"fhirVersion":"4.0.1","format":["json"],"rest":[{"mode":"server","resource":[{"type":"AllergyIntolerance",` +
			`"searchParam":[{"name":"clinical-status","definition":"http://hl7.org/fhir/SearchParameter/AllergyIntolerance-clinical-status","type":"` + typ + `"}]}]}]}`
	}
	sp := func(base, typ, expr string) string {
		return `{"resourceType":"SearchParameter",` + narrative + `,"url":"http://example.org/fhir/SearchParameter/org-name","name":"OrgName",` +
			`"derivedFrom":"http://hl7.org/fhir/SearchParameter/Organization-name","status":"active","description":"x","code":"name",` +
			`"base":["` + base + `"],"type":"` + typ + `","expression":"` + expr + `"}`
	}
	runProfileCases(t, v, []profileCase{
		{name: "search parameter of the definition's type", json: capStmt("token")},
		{name: "search parameter of another type", json: capStmt("date"),
			want: []issueWant{{"error", "invalid", "CapabilityStatement.rest[0].resource[0].searchParam[0]", "type is token, but type here is date"}}},
		{name: "derived search parameter as its source", json: sp("Organization", "string", "Organization.name | Organization.alias")},
		{name: "derived search parameter of another type", json: sp("Organization", "token", "Organization.name"),
			want: []issueWant{{"error", "business-rule", "SearchParameter", "The type token is different to the type string"}}},
		{name: "derived search parameter on another base", json: sp("Patient", "string", "Organization.name"),
			want: []issueWant{
				{"error", "business-rule", "SearchParameter", "The resource type Patient is not listed as a base"},
				{"error", "invalid", "SearchParameter.expression", "Error in search expression 'Organization.name'"}}},
	})
}
