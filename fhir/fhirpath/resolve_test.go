package fhirpath

import (
	"testing"

	"github.com/concord-health/concord/fhir"
)

// TestResolveFromContained checks that a contained resource's "#id" references resolve
// among its container's contained resources, and "#" to the container.
func TestResolveFromContained(t *testing.T) {
	res, err := fhir.Parse([]byte(`{"resourceType":"List","status":"current","mode":"working",
		"contained":[{"resourceType":"Appointment","id":"appt","status":"proposed","participant":[{"status":"needs-action","actor":{"reference":"#"}}],
			"supportingInformation":[{"reference":"#dev"}]},{"resourceType":"Device","id":"dev"}],
		"entry":[{"item":{"reference":"#appt"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	list := res.Root
	appt := list.Child("contained")[0]
	for _, tt := range []struct{ expr, want string }{
		{"supportingInformation.resolve().id", "dev"},
		{"participant.actor.resolve().status", "current"},
	} {
		out, err := MustCompile(tt.expr).EvaluateWith(appt, &Env{Resource: appt, RootResource: list})
		if err != nil || len(out) != 1 || out[0].String() != tt.want {
			t.Errorf("%s = %v, %v; want %s", tt.expr, out, err, tt.want)
		}
	}
	out, err := MustCompile("entry.item.resolve().id").EvaluateWith(list, &Env{Resource: list, RootResource: list})
	if err != nil || len(out) != 1 || out[0].String() != "appt" {
		t.Errorf("from the container: %v, %v", out, err)
	}
}
