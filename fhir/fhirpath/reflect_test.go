package fhirpath

import "testing"

func TestTypeReflection(t *testing.T) {
	pat := parseResource(t, `{"resourceType": "Patient", "active": true, "name": [{"family": "Doe"}]}`)
	runReflectCases(t, pat, []reflectCase{
		{expr: "1.type().namespace", want: "System"},
		{expr: "1.type().name", want: "Integer"},
		{expr: "@2014.type().name", want: "Date"},
		{expr: "(1 | 'a').type().name", want: "Integer|String"},
		{expr: "1.type() is SimpleTypeInfo", want: "true"},
		{expr: "Patient.active.type().namespace", want: "FHIR"},
		{expr: "Patient.active.type().name", want: "boolean"},
		{expr: "Patient.type().name", want: "Patient"},
		{expr: "Patient.type().baseType", want: "FHIR.DomainResource"},
		{expr: "Patient.type() is ClassInfo", want: "true"},
		{expr: "Patient.type().element.where(name = 'active').type", want: "FHIR.boolean"},
		{expr: "Patient.missing.type()", want: ""},
		{expr: "{}.type()", want: ""},
	})
	if _, err := Compile("1.type(Integer)"); err == nil {
		t.Error("type() with an argument compiled")
	}
}
