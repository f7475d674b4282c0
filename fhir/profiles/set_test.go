package profiles

import (
	"github.com/concord-health/concord/fhir"

	"sync"
	"testing"
	"time"
)

func TestCoreEveryDefinition(t *testing.T) {
	start := time.Now()
	core, err := Core()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("core index: %d urls in %v", len(core.byURL), time.Since(start))
	if len(core.byURL) < 600 {
		t.Errorf("core holds %d definitions, want the 606 of the three bundles", len(core.byURL))
	}
	start = time.Now()
	for url := range core.byURL {
		sd, err := core.Get(url)
		if err != nil || sd == nil {
			t.Errorf("%s: %v", url, err)
			continue
		}
		if sd.URL != url || sd.Generated {
			t.Errorf("%s: url %q, generated %v", url, sd.URL, sd.Generated)
		}
	}
	t.Logf("parsed and linked every core definition in %v", time.Since(start))
}

func TestForType(t *testing.T) {
	s := New()
	for _, name := range []string{"Patient", "Quantity", "string", "Extension"} {
		sd, err := s.ForType(name)
		if err != nil || sd == nil || sd.Type != name {
			t.Errorf("ForType(%s) = %v, %v", name, sd, err)
		}
	}
	if sd, err := s.ForType("NoSuchType"); sd != nil || err != nil {
		t.Errorf("ForType(NoSuchType) = %v, %v", sd, err)
	}
	sq, err := s.Get("http://hl7.org/fhir/StructureDefinition/SimpleQuantity")
	if err != nil || sq == nil || sq.Type != "Quantity" || sq.ElementByID("Quantity.comparator").Max != 0 {
		t.Errorf("SimpleQuantity = %+v, %v", sq, err)
	}
	if sd, err := s.Get("http://hl7.org/fhir/StructureDefinition/Patient|4.0.1"); sd == nil || err != nil {
		t.Errorf("Patient|4.0.1 = %v, %v", sd, err)
	}
	if sd, err := s.Get("http://hl7.org/fhir/StructureDefinition/Patient|3.0.2"); sd != nil || err != nil {
		t.Errorf("Patient|3.0.2 = %v, %v", sd, err)
	}
}

func TestConcurrentGet(t *testing.T) {
	s := New()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, name := range []string{"Observation", "Patient", "Bundle"} {
				if sd, err := s.ForType(name); err != nil || sd == nil {
					t.Errorf("%s: %v", name, err)
				}
			}
		}()
	}
	wg.Wait()
}

func TestVersionedGet(t *testing.T) {
	const url = "http://example.org/StructureDefinition/versioned"
	s := New()
	for _, v := range []string{"0.1.3", "0.2.1", "0.2.10", "0.2.9", "1.0.0"} {
		res, err := fhir.Parse([]byte(`{"resourceType":"StructureDefinition","url":"` + url + `","version":"` + v + `","name":"V","status":"draft",
			"kind":"resource","abstract":false,"type":"Patient","baseDefinition":"http://hl7.org/fhir/StructureDefinition/Patient",
			"derivation":"constraint","differential":{"element":[{"path":"Patient"}]}}`))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Add(res); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct{ ask, want string }{
		{"0.2.1", "0.2.1"}, // exact
		{"0.2", "0.2.10"},  // the latest patch, ordered numerically
		{"0.1", "0.1.3"},
		{"1", "1.0.0"},
		{"0.3", ""},
		{"0.2.1.5", ""},
	} {
		sd, err := s.Get(url + "|" + tt.ask)
		got := ""
		if sd != nil {
			got = sd.Version
		}
		if err != nil || got != tt.want {
			t.Errorf("Get(|%s) = %q, %v; want %q", tt.ask, got, err, tt.want)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"0.2.10", "0.2.9", 1}, {"0.2.1", "0.2.1", 0}, {"1.0", "1.0.0", -1}, {"1.0.0-ballot", "1.0.0-alpha", 1}, {"2", "10", -1},
	} {
		if got := compareVersions(tt.a, tt.b); got != tt.want {
			t.Errorf("compareVersions(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
