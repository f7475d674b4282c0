package validation

import (
	"testing"

	"github.com/concord-health/concord/fhir"
)

// BenchmarkValidateUKCore validates the Synthea resources against the UK Core profile of
// their type (UKCore-Patient, UKCore-Observation…, for the types UK Core profiles), with
// UK Core's code systems and value sets deciding bindings: the cost of checking a feed
// that claims UK Core, one resource at a time on one goroutine.
func BenchmarkValidateUKCore(b *testing.B) {
	resources := syntheaResources(b)
	v, err := ukCoreValidator()
	if err != nil {
		b.Skipf("UK Core not loaded from %s: %v", ukCoreDir, err)
	}
	type job struct {
		res     *fhir.Resource
		profile string
	}
	var jobs []job
	for _, r := range resources {
		url := "https://fhir.hl7.org.uk/StructureDefinition/UKCore-" + r.Type
		if sd, err := v.pv.src.Get(url); err == nil && sd != nil {
			jobs = append(jobs, job{r, url})
		}
	}
	if len(jobs) == 0 {
		b.Fatal("no Synthea resource has a UK Core profile")
	}
	b.ResetTimer()
	n, errs := 0, 0
	for b.Loop() {
		for _, j := range jobs {
			if HasErrors(v.ValidateProfiles(j.res, j.profile)) {
				errs++
			}
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "resources/s")
	b.ReportMetric(float64(len(jobs)), "resources")
	b.ReportMetric(float64(errs)/float64(n), "invalid/resource")
}
