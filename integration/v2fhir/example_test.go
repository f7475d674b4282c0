package v2fhir_test

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/concord-health/concord/integration/hl7v2"
	"github.com/concord-health/concord/integration/v2fhir"
)

func ExampleMap() {
	msg, _ := hl7v2.Parse([]byte(strings.Join([]string{
		"MSH|^~\\&|PAS|RXA|CONCORD|RXA|20240301101500||ADT^A01^ADT_A01|C1|P|2.4",
		"EVN|A01|20240301101500",
		"PID|1||9434765919^^^NHS^NH~M100001^^^RXA^MR||SMITH^JOHN||19800214|M",
		"PV1|1|I|WARD1^^^RXA||||||||||||||||V200001",
	}, "\r")))
	r, err := v2fhir.Map(msg, v2fhir.Options{Organization: "RXA"})
	if err != nil {
		fmt.Println(err)
		return
	}
	var b struct {
		Entry []struct {
			Request struct{ Method, URL string }
		}
	}
	json.Unmarshal(r.Bundle, &b)
	for _, e := range b.Entry {
		fmt.Println(e.Request.Method, e.Request.URL)
	}
	fmt.Println(r.PatientKey)
	// Output:
	// POST Organization
	// PUT Patient?identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C9434765919%2Chttps%3A%2F%2Ffhir.rxa.nhs.uk%2FId%2Flocal-patient-identifier%7CM100001
	// POST Location
	// POST Location
	// PUT Encounter?identifier=https%3A%2F%2Ffhir.rxa.nhs.uk%2FId%2Fvisit-number%7CV200001
	// https://fhir.rxa.nhs.uk/Id/local-patient-identifier|M100001
}
