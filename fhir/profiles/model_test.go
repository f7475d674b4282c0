package profiles

import (
	"testing"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
)

func coreSD(t *testing.T, name string) *StructureDefinition {
	t.Helper()
	typ := definitions.R4().Type(name)
	if typ == nil {
		t.Fatalf("no core type %s", name)
	}
	res, err := fhir.Parse(typ.Raw)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	sd, err := FromResource(res)
	if err != nil {
		t.Fatalf("FromResource %s: %v", name, err)
	}
	return sd
}

func TestFromResourceLinksCoreSnapshot(t *testing.T) {
	sd := coreSD(t, "Patient")
	if sd.Type != "Patient" || sd.Root().Path != "Patient" {
		t.Fatalf("root = %q, type %q", sd.Root().Path, sd.Type)
	}
	contact := sd.ElementByID("Patient.contact")
	if contact == nil || contact.Parent != sd.Root() || contact.Max != -1 {
		t.Fatalf("Patient.contact = %+v", contact)
	}
	var names []string
	for _, c := range contact.Children {
		names = append(names, c.Name())
	}
	if len(names) < 5 || names[0] != "id" || names[len(names)-1] != "period" {
		t.Errorf("contact children = %v", names)
	}
	gender := sd.ElementByID("Patient.gender")
	if gender.Binding == nil || gender.Binding.Strength != "required" ||
		gender.Binding.ValueSet != "http://hl7.org/fhir/ValueSet/administrative-gender|4.0.1" {
		t.Errorf("gender binding = %+v", gender.Binding)
	}
	gp := sd.ElementByID("Patient.generalPractitioner")
	if len(gp.Types) != 1 || gp.Types[0].Code != "Reference" || len(gp.Types[0].TargetProfiles) != 3 {
		t.Errorf("generalPractitioner types = %+v", gp.Types)
	}
	if id := sd.ElementByID("Patient.id"); id.Types[0].Code != "string" {
		t.Errorf("Patient.id type = %q, want the FHIR type the extension names", id.Types[0].Code)
	}
	if len(sd.Root().Constraints) == 0 {
		t.Error("root has no constraints")
	}
}

func TestFromResourceSlices(t *testing.T) {
	res, err := fhir.Parse([]byte(`{"resourceType":"StructureDefinition","url":"http://example.org/sd/obs",
	"name":"Obs","status":"active","kind":"resource","abstract":false,"type":"Observation",
	"baseDefinition":"http://hl7.org/fhir/StructureDefinition/Observation","derivation":"constraint",
	"snapshot":{"element":[
	 {"id":"Observation","path":"Observation","min":0,"max":"*"},
	 {"id":"Observation.category","path":"Observation.category","min":1,"max":"*",
	  "slicing":{"discriminator":[{"type":"value","path":"coding.code"}],"ordered":false,"rules":"open"}},
	 {"id":"Observation.category:VSCat","path":"Observation.category","sliceName":"VSCat","min":1,"max":"1"},
	 {"id":"Observation.category:VSCat.coding","path":"Observation.category.coding","min":1,"max":"*"},
	 {"id":"Observation.category:VSCat.coding.code","path":"Observation.category.coding.code","min":1,"max":"1",
	  "fixedCode":"vital-signs"},
	 {"id":"Observation.value[x]","path":"Observation.value[x]","min":0,"max":"1",
	  "type":[{"code":"Quantity"}],"binding":{"strength":"extensible","valueSet":"http://example.org/vs"}}
	]}}`))
	if err != nil {
		t.Fatal(err)
	}
	sd, err := FromResource(res)
	if err != nil {
		t.Fatal(err)
	}
	cat := sd.ElementByID("Observation.category")
	if cat.Slicing == nil || cat.Slicing.Rules != "open" || len(cat.Slicing.Discriminators) != 1 || len(cat.Slices) != 1 {
		t.Fatalf("category slicing = %+v, slices %d", cat.Slicing, len(cat.Slices))
	}
	vs := cat.Slices[0]
	if vs.SliceName != "VSCat" || vs.SliceOf != cat || vs.Parent != sd.Root() || vs.Min != 1 || vs.Max != 1 {
		t.Fatalf("slice = %+v", vs)
	}
	if len(sd.Root().Children) != 2 {
		t.Errorf("root children = %d, want 2 (slices are not children)", len(sd.Root().Children))
	}
	code := vs.Children[0].Children[0]
	if code.Fixed == nil || code.Fixed.Type != "code" || code.Fixed.String() != "vital-signs" {
		t.Errorf("fixed = %+v", code.Fixed)
	}
	if v := sd.ElementByID("Observation.value[x]"); !v.IsChoice() || v.Binding.Strength != "extensible" {
		t.Errorf("value[x] = %+v", v)
	}
}

func TestLinkDerivesIDs(t *testing.T) {
	els := []*ElementDefinition{
		{Path: "Patient"},
		{Path: "Patient.identifier"},
		{Path: "Patient.identifier", SliceName: "nhs"},
		{Path: "Patient.identifier.system"},
	}
	if err := Link(els); err != nil {
		t.Fatal(err)
	}
	if els[3].ID != "Patient.identifier:nhs.system" || els[3].Parent != els[2] || els[2].SliceOf != els[1] {
		t.Errorf("ids %q %q, parent %v", els[2].ID, els[3].ID, els[3].Parent.ID)
	}
	bad := []*ElementDefinition{{Path: "Patient"}, {Path: "Patient.contact.name"}}
	if err := Link(bad); err == nil {
		t.Error("an element before its parent was accepted")
	}
}

func TestLinkReslices(t *testing.T) {
	els := []*ElementDefinition{
		{ID: "Patient", Path: "Patient"},
		{ID: "Patient.identifier", Path: "Patient.identifier", Slicing: &Slicing{Rules: "open"}},
		{ID: "Patient.identifier:a", Path: "Patient.identifier", SliceName: "a", Slicing: &Slicing{Rules: "closed"}},
		{ID: "Patient.identifier:a.system", Path: "Patient.identifier.system"},
		{ID: "Patient.identifier:a/b", Path: "Patient.identifier", SliceName: "a/b"},
		{ID: "Patient.identifier:a/b.system", Path: "Patient.identifier.system"},
	}
	if err := Link(els); err != nil {
		t.Fatal(err)
	}
	a, b := els[2], els[4]
	if a.SliceOf != els[1] || b.SliceOf != a || len(a.Slices) != 1 || b.Parent != els[0] || els[5].Parent != b {
		t.Errorf("a.SliceOf %v, b.SliceOf %v, b.Parent %v", a.SliceOf.ID, b.SliceOf, b.Parent)
	}
	if len(els[0].Children) != 1 || len(a.Children) != 1 {
		t.Errorf("root children %d, a children %d", len(els[0].Children), len(a.Children))
	}
}
