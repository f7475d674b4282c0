package profiles

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concord-health/concord/fhir"
)

const example = "http://example.org/StructureDefinition/"

// fixtures returns a set holding every StructureDefinition of testdata/.
func fixtures(t *testing.T) *Set {
	t.Helper()
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	s := New()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		res, err := fhir.Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := s.Add(res); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	return s
}

func TestGenerate(t *testing.T) {
	s := fixtures(t)
	tests := []struct {
		name string
		// elements maps element ids to their summary: "min..max types".
		elements map[string]string
		// fixed maps element ids to the fixed value's type and value.
		fixed map[string]string
		// absent lists ids the snapshot must not have.
		absent []string
		// order lists ids that must appear in this order.
		order []string
		// problems lists substrings of the expected problems, one each.
		problems []string
		check    func(t *testing.T, sd *StructureDefinition)
	}{{
		name: "cardinality",
		elements: map[string]string{
			"Patient.name": "1..2 HumanName", "Patient.gender": "1..1 code", "Patient.birthDate": "0..0 date",
			"Patient.name.family": "1..1 string", "Patient.name.given": "0..* string",
		},
		check: func(t *testing.T, sd *StructureDefinition) {
			name := sd.ElementByID("Patient.name")
			if !name.MustSupport || len(name.Children) == 0 || name.Children[0].ID != "Patient.name.id" {
				t.Errorf("Patient.name: mustSupport %v, children %d", name.MustSupport, len(name.Children))
			}
			if f := sd.ElementByID("Patient.name.family"); f.MaxLength != 35 || f.Node.Text("maxLength") != "35" {
				t.Errorf("family maxLength = %d", f.MaxLength)
			}
			if g := sd.ElementByID("Patient.gender"); g.Binding == nil || g.Binding.Strength != "required" {
				t.Errorf("gender lost its base binding: %+v", g.Binding)
			}
		},
	}, {
		name: "choice-narrowing",
		elements: map[string]string{
			"Observation.value[x]": "1..1 Quantity", "Observation.value[x].system": "1..1 uri",
			"Observation.value[x].comparator": "0..1 code",
		},
		fixed: map[string]string{"Observation.value[x].system": "uri http://unitsofmeasure.org"},
		check: func(t *testing.T, sd *StructureDefinition) {
			v := sd.ElementByID("Observation.value[x]")
			if v.Binding == nil || v.Binding.ValueSet != "http://example.org/ValueSet/units" {
				t.Errorf("value[x] binding = %+v", v.Binding)
			}
			if len(v.Node.Child("type")) != 1 {
				t.Errorf("value[x] node keeps %d types", len(v.Node.Child("type")))
			}
			subj := sd.ElementByID("Observation.subject")
			if tp := subj.Types[0].TargetProfiles; len(tp) != 1 || tp[0] != coreBase+"Patient" {
				t.Errorf("subject targets = %v", tp)
			}
		},
	}, {
		name: "renamed-choice",
		elements: map[string]string{
			"Observation.value[x]": "0..1 string", "Observation.effective[x]": "1..1 dateTime",
			"Observation.component.value[x]":      "0..1 CodeableConcept",
			"Observation.component.value[x].text": "1..1 string",
		},
		absent: []string{"Observation.valueString", "Observation.effectiveDateTime"},
		check: func(t *testing.T, sd *StructureDefinition) {
			if v := sd.ElementByID("Observation.value[x]"); v.MaxLength != 10 {
				t.Errorf("value[x] maxLength = %d", v.MaxLength)
			}
		},
	}, {
		name: "type-slice",
		elements: map[string]string{
			"Observation.value[x]":                    "0..1 Quantity|CodeableConcept|string|boolean|integer|Range|Ratio|SampledData|time|dateTime|Period",
			"Observation.value[x]:valueQuantity":      "0..1 Quantity",
			"Observation.value[x]:valueQuantity.code": "1..1 code",
		},
		check: func(t *testing.T, sd *StructureDefinition) {
			v := sd.ElementByID("Observation.value[x]")
			if v.Slicing == nil || v.Slicing.Discriminators[0].Type != "type" || len(v.Slices) != 1 {
				t.Errorf("value[x] slicing = %+v", v.Slicing)
			}
		},
	}, {
		name: "slices",
		elements: map[string]string{
			"Observation.component":                          "2..* BackboneElement",
			"Observation.component:systolic":                 "1..1 BackboneElement",
			"Observation.component:systolic.value[x]":        "0..1 Quantity",
			"Observation.component:diastolic.value[x]":       "0..1 Quantity|CodeableConcept|string|boolean|integer|Range|Ratio|SampledData|time|dateTime|Period",
			"Observation.component:diastolic.interpretation": "0..* CodeableConcept",
		},
		order: []string{"Observation.component", "Observation.component.referenceRange",
			"Observation.component:systolic", "Observation.component:systolic.code",
			"Observation.component:systolic.referenceRange", "Observation.component:diastolic",
			"Observation.component:diastolic.referenceRange"},
		check: func(t *testing.T, sd *StructureDefinition) {
			c := sd.ElementByID("Observation.component")
			if c.Slicing == nil || c.Slicing.Rules != "open" || len(c.Slices) != 2 {
				t.Fatalf("component slicing %+v, %d slices", c.Slicing, len(c.Slices))
			}
			sys := c.Slices[0]
			if sys.Slicing != nil || sys.SliceName != "systolic" || sys.Node.Text("sliceName") != "systolic" || sys.Node.First("slicing") != nil {
				t.Errorf("slice systolic = %+v", sys)
			}
			if code := sd.ElementByID("Observation.component:systolic.code"); code.Pattern == nil ||
				code.Pattern.First("coding").Text("code") != "8480-6" {
				t.Errorf("systolic code pattern = %+v", code.Pattern)
			}
			dia := sd.ElementByID("Observation.component:diastolic")
			keys := map[string]string{}
			for _, k := range dia.Constraints {
				keys[k.Key] = k.Source
			}
			if keys["bp-1"] != example+"slices" || keys["ele-1"] == "" {
				t.Errorf("diastolic constraints = %v (want the base's and bp-1)", keys)
			}
			if n := len(dia.Node.Child("constraint")); n != len(dia.Constraints) {
				t.Errorf("node has %d constraints, element %d", n, len(dia.Constraints))
			}
		},
	}, {
		name: "reslice",
		elements: map[string]string{
			"Patient.identifier:local":            "0..3 Identifier",
			"Patient.identifier:local.system":     "1..1 uri",
			"Patient.identifier:local.value":      "1..1 string",
			"Patient.identifier:local/mrn":        "0..1 Identifier",
			"Patient.identifier:local/mrn.system": "1..1 uri",
			"Patient.identifier:nhs.system":       "0..1 uri",
		},
		fixed: map[string]string{"Patient.identifier:local/mrn.system": "uri http://example.org/mrn"},
		order: []string{"Patient.identifier", "Patient.identifier:local", "Patient.identifier:local.value",
			"Patient.identifier:local/mrn", "Patient.identifier:local/mrn.system", "Patient.identifier:nhs", "Patient.active"},
		check: func(t *testing.T, sd *StructureDefinition) {
			local := sd.ElementByID("Patient.identifier:local")
			if local.Slicing == nil || local.Slicing.Rules != "closed" || len(local.Slices) != 1 || local.SliceOf == nil {
				t.Errorf("slice local: slicing %+v, %d re-slices", local.Slicing, len(local.Slices))
			}
			if ty := sd.ElementByID("Patient.identifier:local/mrn.type"); ty == nil || ty.Slicing == nil {
				t.Errorf("re-slice lost the slicing of type it was copied with: %+v", ty)
			}
		},
	}, {
		name: "dive",
		elements: map[string]string{
			"Patient.identifier.period.start":                        "1..1 dateTime",
			"Patient.contact.name.extension:pronunciation":           "0..1 Extension" + example + "extension-coded",
			"Patient.contact.name.extension:pronunciation.value[x]":  "1..1 CodeableConcept",
			"Patient.contact.name.extension:pronunciation.extension": "0..0 Extension",
			"Patient.managingOrganization.identifier.system":         "1..1 uri",
			"Patient.managingOrganization.identifier":                "0..1 Identifier",
		},
		fixed: map[string]string{"Patient.contact.name.extension:pronunciation.url": "uri " + example + "extension-coded"},
		check: func(t *testing.T, sd *StructureDefinition) {
			v := sd.ElementByID("Patient.contact.name.extension:pronunciation.value[x]")
			if v.Binding == nil || v.Binding.Strength != "required" || v.Binding.ValueSet != "http://example.org/ValueSet/pronunciation" {
				t.Errorf("binding = %+v", v.Binding)
			}
			if v.Path != "Patient.contact.name.extension.value[x]" || v.Node.Text("path") != v.Path || v.Node.Text("id") != v.ID {
				t.Errorf("re-rooted path %q, node %q %q", v.Path, v.Node.Text("path"), v.Node.Text("id"))
			}
			if sd.ElementByID("Patient.contact.name.extension").Slicing == nil {
				t.Error("the extension element was not given its slicing by url")
			}
		},
	}, {
		name: "extension-coded",
		elements: map[string]string{
			"Extension": "0..1 ", "Extension.extension": "0..0 Extension", "Extension.value[x]": "1..1 CodeableConcept",
		},
		fixed: map[string]string{"Extension.url": "uri " + example + "extension-coded"},
		check: func(t *testing.T, sd *StructureDefinition) {
			if len(sd.Contexts) != 1 || sd.Contexts[0].Expression != "HumanName" {
				t.Errorf("contexts = %+v", sd.Contexts)
			}
		},
	}, {
		name: "invalid",
		elements: map[string]string{
			"Observation.status": "1..1 code", "Observation.subject": "0..1 Reference",
			"Observation.issued": "0..1 instant", "Observation.value[x]": "0..1 Quantity",
			"Observation.code": "1..1 CodeableConcept",
		},
		problems: []string{
			"Observation.status: min 0 is below the base's min 1",
			"Observation.status: binding strength extensible weakens the base's required binding",
			"Observation.subject: max * is above the base's max 1",
			"Observation.issued: max 3 is above the base's max 1",
			"Observation.value[x]: type HumanName is not among the base's types",
			"Observation.colour: no element Observation.colour in the base",
			"Observation.component.value[x].code: cannot look inside Observation.component.value[x]: it has 11 types",
		},
		check: func(t *testing.T, sd *StructureDefinition) {
			if b := sd.ElementByID("Observation.interpretation").Binding; b.Strength != "required" || b.ValueSet != "http://example.org/ValueSet/interp" {
				t.Errorf("interpretation binding = %+v", b)
			}
			if b := sd.ElementByID("Observation.status").Binding; b.Strength != "required" {
				t.Errorf("status binding weakened to %+v", b)
			}
			// A binding without a value set keeps the base's.
			if b := sd.ElementByID("Observation.component.code").Binding; b.Strength != "preferred" || b.ValueSet != "http://hl7.org/fhir/ValueSet/observation-codes" {
				t.Errorf("component code binding = %+v", b)
			}
		},
	}, {
		name: "no-ids",
		elements: map[string]string{
			"Patient.identifier:mrn": "1..* Identifier", "Patient.identifier:mrn.system": "0..1 uri",
		},
		fixed: map[string]string{"Patient.identifier:mrn.system": "uri http://example.org/mrn"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sd, err := s.Get(example + tc.name)
			if err != nil || sd == nil {
				t.Fatalf("Get = %v, %v", sd, err)
			}
			if !sd.Generated || sd.Root().Parent != nil {
				t.Errorf("generated %v", sd.Generated)
			}
			for _, e := range sd.Elements {
				if msg := nodeAgrees(e); msg != "" {
					t.Errorf("%s: %s", e.ID, msg)
				}
			}
			for id, want := range tc.elements {
				e := sd.ElementByID(id)
				if e == nil {
					t.Errorf("%s missing", id)
				} else if got := summary(e); got != want {
					t.Errorf("%s = %q, want %q", id, got, want)
				}
			}
			for id, want := range tc.fixed {
				e := sd.ElementByID(id)
				if e == nil || e.Fixed == nil {
					t.Errorf("%s: no fixed value", id)
				} else if got := e.Fixed.Type + " " + e.Fixed.String(); got != want {
					t.Errorf("%s fixed = %q, want %q", id, got, want)
				}
			}
			for _, id := range tc.absent {
				if sd.ElementByID(id) != nil {
					t.Errorf("%s present", id)
				}
			}
			last := -1
			for _, id := range tc.order {
				i := indexOf(sd, id)
				if i <= last {
					t.Errorf("%s at %d, not after the element before it in %v", id, i, tc.order)
				}
				last = i
			}
			if len(sd.Problems) != len(tc.problems) {
				t.Errorf("problems = %q, want %d", sd.Problems, len(tc.problems))
			}
			for _, want := range tc.problems {
				found := false
				for _, p := range sd.Problems {
					found = found || strings.Contains(p, want)
				}
				if !found {
					t.Errorf("no problem %q in %q", want, sd.Problems)
				}
			}
			if tc.check != nil {
				tc.check(t, sd)
			}
		})
	}
}

func indexOf(sd *StructureDefinition, id string) int {
	for i, e := range sd.Elements {
		if e.ID == id {
			return i
		}
	}
	return -1
}

func TestGenerateFailures(t *testing.T) {
	s := fixtures(t)
	for _, tc := range []struct{ name, want string }{
		{"cycle-a", "depends on itself"},
		{"cycle-b", "depends on itself"},
		{"unknown-base", "unknown base http://example.org/StructureDefinition/nowhere"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sd, err := s.Get(example + tc.name)
			if err == nil || !strings.Contains(err.Error(), tc.want) || sd != nil {
				t.Errorf("Get = %v, %v; want an error with %q", sd, err, tc.want)
			}
		})
	}
	if sd, err := s.Get(example + "nothing"); sd != nil || err != nil {
		t.Errorf("unknown canonical: %v, %v", sd, err)
	}
}

// TestGenerateLeavesBaseAlone checks that generation copies what it changes: the core
// definitions a profile is generated from are shared by every validation.
func TestGenerateLeavesBaseAlone(t *testing.T) {
	s := fixtures(t)
	obs, _ := s.ForType("Observation")
	before := map[string]string{}
	for _, e := range obs.Elements {
		before[e.ID] = summary(e) + e.Node.Text("id")
	}
	comp := obs.ElementByID("Observation.component")
	if _, err := s.Get(example + "slices"); err != nil {
		t.Fatal(err)
	}
	for _, e := range obs.Elements {
		if before[e.ID] != summary(e)+e.Node.Text("id") {
			t.Errorf("core %s changed", e.ID)
		}
	}
	if comp.Slicing != nil || len(comp.Slices) != 0 || comp.Parent != obs.Root() {
		t.Errorf("core Observation.component changed: %+v", comp)
	}
}

// TestAddReplaces checks that an Add of the same url|version replaces the definition and
// that profiles generated from it are generated again.
func TestAddReplaces(t *testing.T) {
	s := fixtures(t)
	if sd, _ := s.Get(example + "reslice"); sd.ElementByID("Patient.identifier:local").Max != 3 {
		t.Fatal("reslice does not inherit max 3 from identifiers")
	}
	data, err := os.ReadFile("testdata/identifiers.json")
	if err != nil {
		t.Fatal(err)
	}
	res, err := fhir.Parse([]byte(strings.Replace(string(data), `"max":"3"`, `"max":"2"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add(res); err != nil {
		t.Fatal(err)
	}
	sd, err := s.Get(example + "reslice")
	if err != nil || sd.ElementByID("Patient.identifier:local").Max != 2 {
		t.Errorf("after replacing its base: %v, %v", sd.ElementByID("Patient.identifier:local"), err)
	}
	urls := s.URLs()
	if len(urls) != 14 || urls[0] != example+"cardinality" {
		t.Errorf("URLs = %v", urls)
	}
}

// TestGenerateContentReference checks that the children of an element defined by
// contentReference come from the definition of the element it names, not from what the
// profile makes of that element: Parameters.parameter.part reuses Parameters.parameter,
// and a profile's pattern on parameter.name or its slices of parameter.part must not
// reappear below part.
func TestGenerateContentReference(t *testing.T) {
	s := New()
	res, err := fhir.Parse([]byte(`{"resourceType":"StructureDefinition","url":"http://example.org/StructureDefinition/params",
		"name":"Params","status":"draft","kind":"resource","abstract":false,"type":"Parameters",
		"baseDefinition":"http://hl7.org/fhir/StructureDefinition/Parameters","derivation":"constraint",
		"differential":{"element":[
			{"id":"Parameters.parameter","path":"Parameters.parameter"},
			{"id":"Parameters.parameter.name","path":"Parameters.parameter.name","patternString":"Outer"},
			{"id":"Parameters.parameter.part","path":"Parameters.parameter.part","slicing":{"discriminator":[{"type":"value","path":"name"}],"rules":"open"}},
			{"id":"Parameters.parameter.part:inner","path":"Parameters.parameter.part","sliceName":"inner","min":1,"max":"1"},
			{"id":"Parameters.parameter.part:inner.name","path":"Parameters.parameter.part.name","fixedString":"Inner"},
			{"id":"Parameters.parameter.part:inner.part","path":"Parameters.parameter.part.part","max":"0"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add(res); err != nil {
		t.Fatal(err)
	}
	sd, err := s.Get("http://example.org/StructureDefinition/params")
	if err != nil || sd == nil {
		t.Fatalf("Get: %v", err)
	}
	if len(sd.Problems) > 0 {
		t.Errorf("problems: %v", sd.Problems)
	}
	if e := sd.ElementByID("Parameters.parameter.part:inner.name"); e == nil || e.Pattern != nil || e.Fixed == nil || e.Fixed.String() != "Inner" {
		t.Errorf("part:inner.name = %+v, want fixed 'Inner' and no pattern", e)
	}
	if e := sd.ElementByID("Parameters.parameter.part:inner.part"); e == nil || e.Max != 0 {
		t.Errorf("part:inner.part = %+v, want max 0", e)
	}
	for _, e := range sd.Elements {
		if strings.HasPrefix(e.ID, "Parameters.parameter.part:inner.part:") || strings.HasPrefix(e.ID, "Parameters.parameter.part:inner.") && e.Slicing != nil {
			t.Errorf("the profile's slicing of part reappears below it: %s", e.ID)
		}
	}
}
