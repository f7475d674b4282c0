package definitions

import "testing"

func TestRegistry(t *testing.T) {
	r := R4()
	if n := len(r.ResourceTypes()); n < 145 {
		t.Errorf("resource types = %d, want at least 145", n)
	}
	if r.IsResource("DomainResource") || r.IsResource("Resource") || !r.IsResource("Patient") || r.IsResource("Quantity") {
		t.Error("IsResource wrong")
	}
	for _, tc := range []struct {
		parent, json, wantPath, wantType string
	}{
		{"Observation", "valueQuantity", "Observation.value[x]", "Quantity"},
		{"Observation", "status", "Observation.status", "code"},
		{"Observation.component", "valueDateTime", "Observation.component.value[x]", "dateTime"},
		{"Patient", "deceasedBoolean", "Patient.deceased[x]", "boolean"},
		{"Quantity", "value", "Quantity.value", "decimal"},
		{"Questionnaire.item", "item", "Questionnaire.item.item", ""},
	} {
		el, typ, ok := r.Child(tc.parent, tc.json)
		if !ok || el.Path != tc.wantPath || typ != tc.wantType {
			t.Errorf("Child(%q,%q) = %v %q %v; want %s %s", tc.parent, tc.json, el, typ, ok, tc.wantPath, tc.wantType)
		}
	}
	if _, _, ok := r.Child("Observation", "valueFoo"); ok {
		t.Error("valueFoo should not resolve")
	}
	if !r.IsSubtype("Age", "Quantity") || !r.IsSubtype("Patient", "Resource") || r.IsSubtype("Patient", "Quantity") {
		t.Error("IsSubtype wrong")
	}
	p := r.SearchParam("Condition", "code")
	if p == nil || p.Expression != "Condition.code" {
		t.Errorf("Condition code = %+v", p)
	}
	if r.SearchParam("Patient", "_id") == nil || r.SearchParam("Observation", "_lastUpdated") == nil {
		t.Error("common params missing")
	}
	if got := r.CompartmentParams("Patient", "Observation"); len(got) == 0 {
		t.Error("Observation not in Patient compartment")
	}
}

func BenchmarkLoad(b *testing.B) {
	for range b.N {
		if _, err := load(); err != nil {
			b.Fatal(err)
		}
	}
}
