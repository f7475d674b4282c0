package profiles

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/concord-health/concord/fhir"
)

const ukCoreDir = "../../../shared/data/uk-core-r4/structuredefinitions"

// ukCore returns a set holding every UK Core StructureDefinition, and their urls.
func ukCore(tb testing.TB) (*Set, []string) {
	tb.Helper()
	files, _ := filepath.Glob(filepath.Join(ukCoreDir, "*.xml"))
	if len(files) == 0 {
		tb.Skipf("UK Core not found at %s (see /work/shared/data/README.md)", ukCoreDir)
	}
	s := New()
	var urls []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		res, err := fhir.ParseXML(data)
		if err != nil {
			tb.Fatalf("%s: %v", filepath.Base(f), err)
		}
		if err := s.Add(res); err != nil {
			tb.Fatalf("%s: %v", filepath.Base(f), err)
		}
		urls = append(urls, res.Root.Text("url"))
	}
	sort.Strings(urls)
	return s, urls
}

func TestUKCoreSnapshots(t *testing.T) {
	s, urls := ukCore(t)
	problems := 0
	start := time.Now()
	for _, u := range urls {
		sd, err := s.Get(u)
		if err != nil {
			t.Errorf("%s: %v", u, err)
			continue
		}
		if !sd.Generated {
			t.Errorf("%s: not generated", u)
		}
		for _, e := range sd.Elements {
			if err := nodeAgrees(e); err != "" {
				t.Errorf("%s: %s: %s", u, e.ID, err)
				break
			}
		}
		for _, p := range sd.Problems {
			problems++
			t.Errorf("%s: %s", u, p)
		}
	}
	t.Logf("%d UK Core definitions generated in %v (core definitions parsed on the way), %d problems",
		len(urls), time.Since(start), problems)
}

// nodeAgrees checks that an element's Node says what its fields say, since the validator
// reads some parts from the Node.
func nodeAgrees(e *ElementDefinition) string {
	n := e.Node
	max := fmt.Sprint(e.Max)
	if e.Max < 0 {
		max = "*"
	}
	switch {
	case n.Text("id") != e.ID:
		return "node id " + n.Text("id")
	case n.Text("path") != e.Path:
		return "node path " + n.Text("path")
	case n.Text("sliceName") != e.SliceName:
		return "node sliceName " + n.Text("sliceName")
	case n.Text("min") != fmt.Sprint(e.Min) || n.Text("max") != max:
		return "node cardinality " + n.Text("min") + ".." + n.Text("max")
	case len(n.Child("type")) != len(e.Types):
		return fmt.Sprintf("node has %d types", len(n.Child("type")))
	case len(n.Child("constraint")) != len(e.Constraints):
		return fmt.Sprintf("node has %d constraints, element %d", len(n.Child("constraint")), len(e.Constraints))
	}
	return ""
}

const ukCoreBase = "https://fhir.hl7.org.uk/StructureDefinition/"

func TestUKCorePatient(t *testing.T) {
	s, _ := ukCore(t)
	sd, err := s.Get(ukCoreBase + "UKCore-Patient")
	if err != nil || sd == nil {
		t.Fatalf("UKCore-Patient: %v, %v", sd, err)
	}
	ident := sd.ElementByID("Patient.identifier")
	if ident.Slicing == nil || ident.Slicing.Discriminators[0].Path != "system" || !ident.MustSupport {
		t.Fatalf("Patient.identifier slicing = %+v", ident.Slicing)
	}
	var nhs *ElementDefinition
	for _, s := range ident.Slices {
		if s.SliceName == "nhsNumber" {
			nhs = s
		}
	}
	if nhs == nil || nhs.Max != 1 || nhs.MustSupport {
		t.Fatalf("slice nhsNumber = %+v", nhs)
	}
	children := map[string]*ElementDefinition{}
	for _, c := range nhs.Children {
		children[c.Name()] = c
	}
	if sys := children["system"]; sys == nil || sys.Min != 1 || sys.Fixed.String() != "https://fhir.nhs.uk/Id/nhs-number" {
		t.Errorf("nhsNumber.system = %+v", sys)
	}
	if v := children["value"]; v == nil || v.Min != 1 {
		t.Errorf("nhsNumber.value = %+v", v)
	}
	ext := children["extension"]
	if ext == nil || len(ext.Slices) != 1 || ext.Slices[0].SliceName != "nhsNumberVerificationStatus" ||
		ext.Slices[0].Types[0].Profiles[0] != ukCoreBase+"Extension-UKCore-NHSNumberVerificationStatus" {
		t.Errorf("nhsNumber.extension = %+v", ext)
	}
	eth := sd.ElementByID("Patient.extension:ethnicCategory")
	if eth == nil || eth.Max != 1 || eth.SliceOf != sd.ElementByID("Patient.extension") ||
		eth.Types[0].Profiles[0] != ukCoreBase+"Extension-UKCore-EthnicCategory" {
		t.Errorf("ethnicCategory = %+v", eth)
	}
	if ms := sd.ElementByID("Patient.maritalStatus"); ms.Binding.ValueSet != "https://fhir.hl7.org.uk/ValueSet/UKCore-PersonMaritalStatusCode" {
		t.Errorf("maritalStatus binding = %+v", ms.Binding)
	}
	// The diff constrains the value of an extension defined in core: the extension's
	// definition is expanded under the slice.
	lvl := sd.ElementByID("Patient.communication.extension:proficiency.extension:level.value[x]")
	if lvl == nil || len(lvl.Types) != 1 || lvl.Types[0].Code != "Coding" ||
		lvl.Node.Text("short") != "The proficiency level for the communication" {
		t.Errorf("proficiency level value = %+v", lvl)
	}
}

func TestUKCoreExtension(t *testing.T) {
	s, _ := ukCore(t)
	sd, err := s.Get(ukCoreBase + "Extension-UKCore-EthnicCategory")
	if err != nil || sd == nil {
		t.Fatalf("Extension-UKCore-EthnicCategory: %v, %v", sd, err)
	}
	if sd.Type != "Extension" || sd.Root().ID != "Extension" {
		t.Errorf("type %s, root %s", sd.Type, sd.Root().ID)
	}
	if u := sd.ElementByID("Extension.url"); u.Fixed == nil || u.Fixed.String() != ukCoreBase+"Extension-UKCore-EthnicCategory" {
		t.Errorf("url fixed = %+v", u.Fixed)
	}
	v := sd.ElementByID("Extension.value[x]")
	if v.Min != 1 || len(v.Types) != 1 || v.Types[0].Code != "CodeableConcept" ||
		v.Binding == nil || v.Binding.Strength != "extensible" || v.Binding.ValueSet != "https://fhir.hl7.org.uk/ValueSet/UKCore-EthnicCategory" {
		t.Errorf("value[x] = %+v, binding %+v", v, v.Binding)
	}
	if len(sd.Contexts) == 0 {
		t.Error("no contexts")
	}
}

// TestUKCoreProfileOnProfile checks a chain of UK Core profiles: blood pressure is based
// on vital signs, itself based on UKCore-Observation.
func TestUKCoreProfileOnProfile(t *testing.T) {
	s, _ := ukCore(t)
	sd, err := s.Get(ukCoreBase + "UKCore-Observation-VitalSigns-BloodPressure")
	if err != nil || sd == nil {
		t.Fatalf("BloodPressure: %v, %v", sd, err)
	}
	if sd.BaseDefinition != ukCoreBase+"UKCore-Observation-VitalSigns" {
		t.Fatalf("base = %s", sd.BaseDefinition)
	}
	// From vital signs: the category is fixed to vital-signs.
	if c := sd.ElementByID("Observation.category.coding.code"); c == nil || c.Fixed == nil || c.Fixed.String() != "vital-signs" {
		t.Errorf("category code = %+v", c)
	}
	// From UKCore-Observation: the triggeredBy extension slice.
	if sd.ElementByID("Observation.extension:triggeredByR5") == nil {
		t.Error("no triggeredByR5 extension slice from UKCore-Observation")
	}
	// Its own: component slices with their value constrained to Quantity in mm[Hg].
	sys := sd.ElementByID("Observation.component:SystolicBP")
	if sys == nil || sys.Min != 1 || sys.SliceOf != sd.ElementByID("Observation.component") {
		t.Fatalf("SystolicBP = %+v", sys)
	}
	code := sd.ElementByID("Observation.component:SystolicBP.value[x].code")
	if code == nil || code.Fixed == nil || code.Fixed.String() != "mm[Hg]" ||
		sd.ElementByID("Observation.component:SystolicBP.value[x]").Types[0].Code != "Quantity" {
		t.Errorf("systolic value code = %+v", code)
	}
	if loinc := sd.ElementByID("Observation.component:SystolicBP.code.coding:loinc.code"); loinc == nil || loinc.Fixed.String() != "8480-6" {
		t.Errorf("systolic loinc code = %+v", loinc)
	}
}

// TestUKCoreProfilesResolve checks that every profile a UK Core snapshot names for a type
// (extensions, constrained types) can be found, generated and used.
func TestUKCoreProfilesResolve(t *testing.T) {
	s, urls := ukCore(t)
	seen := map[string]bool{}
	for _, u := range urls {
		sd, err := s.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range sd.Elements {
			for _, ty := range e.Types {
				for _, p := range ty.Profiles {
					if seen[p] {
						continue
					}
					seen[p] = true
					if ps, err := s.Get(p); err != nil || ps == nil || len(ps.Problems) > 0 {
						t.Errorf("%s: %s: profile %s: %v, %v", u, e.ID, p, ps, err)
					}
				}
			}
		}
	}
	t.Logf("%d profiles named by UK Core snapshots", len(seen))
}

// TestUKCoreConcurrent gets every UK Core definition from several goroutines while
// another adds them again, as API uploads may.
func TestUKCoreConcurrent(t *testing.T) {
	s, urls := ukCore(t)
	var resources []*fhir.Resource
	for _, u := range urls {
		sd, err := s.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resources = append(resources, sd.Source)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := range urls {
				u := urls[(i*7+g*31)%len(urls)]
				if sd, err := s.Get(u); err != nil || sd == nil || len(sd.Problems) > 0 {
					t.Errorf("%s: %v, %v", u, sd, err)
				}
			}
		}(g)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, res := range resources {
			if err := s.Add(res); err != nil {
				t.Error(err)
			}
		}
	}()
	wg.Wait()
}

func BenchmarkUKCoreSnapshots(b *testing.B) {
	files, _ := filepath.Glob(filepath.Join(ukCoreDir, "*.xml"))
	if len(files) == 0 {
		b.Skipf("UK Core not found at %s", ukCoreDir)
	}
	var resources []*fhir.Resource
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		res, err := fhir.ParseXML(data)
		if err != nil {
			b.Fatal(err)
		}
		resources = append(resources, res)
	}
	// The first pass parses the core definitions the profiles use; time the generation.
	generate := func() {
		s := New()
		for _, res := range resources {
			if err := s.Add(res); err != nil {
				b.Fatal(err)
			}
		}
		for _, res := range resources {
			if _, err := s.Get(res.Root.Text("url")); err != nil {
				b.Fatal(err)
			}
		}
	}
	generate()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		generate()
	}
}
