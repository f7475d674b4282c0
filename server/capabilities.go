package server

import (
	"encoding/json"
	"sort"
	"time"

	"github.com/concord-health/concord/fhir/definitions"
)

// terminologyOps are the terminology operations, by resource type (package interaction
// routes them).
var terminologyOps = map[string][]string{
	"CodeSystem": {"lookup", "validate-code", "subsumes"},
	"ValueSet":   {"expand", "validate-code"},
	"ConceptMap": {"translate"},
}

// capabilityStatement describes what the server really does: every resource type with its
// interactions and search parameters (from the definitions the search engine uses), and the
// system-level interactions and operations.
func capabilityStatement(reg *definitions.Registry, built time.Time) []byte {
	type param struct {
		Name          string `json:"name"`
		Definition    string `json:"definition,omitempty"`
		Type          string `json:"type"`
		Documentation string `json:"documentation,omitempty"`
	}
	type code struct {
		Code string `json:"code"`
	}
	type op struct {
		Name       string `json:"name"`
		Definition string `json:"definition"`
	}
	type resource struct {
		Type              string   `json:"type"`
		Interaction       []code   `json:"interaction"`
		Versioning        string   `json:"versioning"`
		ReadHistory       bool     `json:"readHistory"`
		UpdateCreate      bool     `json:"updateCreate"`
		ConditionalCreate bool     `json:"conditionalCreate"`
		ConditionalRead   string   `json:"conditionalRead"`
		ConditionalUpdate bool     `json:"conditionalUpdate"`
		ConditionalDelete string   `json:"conditionalDelete"`
		SearchInclude     []string `json:"searchInclude,omitempty"`
		SearchRevInclude  []string `json:"searchRevInclude,omitempty"`
		SearchParam       []param  `json:"searchParam,omitempty"`
		Operation         []op     `json:"operation,omitempty"`
	}
	interactions := []code{{"read"}, {"vread"}, {"update"}, {"patch"}, {"delete"}, {"history-instance"},
		{"history-type"}, {"create"}, {"search-type"}}
	var resources []resource
	revIncludes := map[string][]string{}
	for _, t := range reg.ResourceTypes() {
		for code, p := range reg.SearchParams(t) {
			if p.Type != "reference" {
				continue
			}
			targets := p.Targets
			for _, target := range targets {
				revIncludes[target] = append(revIncludes[target], t+":"+code)
			}
		}
	}
	for _, t := range reg.ResourceTypes() {
		r := resource{Type: t, Interaction: interactions, Versioning: "versioned", ReadHistory: true,
			UpdateCreate: true, ConditionalCreate: true, ConditionalRead: "not-supported",
			ConditionalUpdate: true, ConditionalDelete: "single"}
		params := reg.SearchParams(t)
		codes := make([]string, 0, len(params))
		for c := range params {
			codes = append(codes, c)
		}
		sort.Strings(codes)
		for _, c := range codes {
			p := params[c]
			if p.Type == "special" || (p.Expression == "" && c != "_id" && c != "_lastUpdated") {
				continue
			}
			r.SearchParam = append(r.SearchParam, param{Name: c, Definition: p.URL, Type: p.Type})
			if p.Type == "reference" {
				r.SearchInclude = append(r.SearchInclude, t+":"+c)
			}
		}
		r.SearchRevInclude = revIncludes[t]
		sort.Strings(r.SearchRevInclude)
		r.Operation = []op{{"validate", "http://hl7.org/fhir/OperationDefinition/Resource-validate"}}
		if t == "Patient" {
			r.Operation = append(r.Operation, op{"everything", "http://hl7.org/fhir/OperationDefinition/Patient-everything"})
		}
		for _, name := range terminologyOps[t] {
			r.Operation = append(r.Operation, op{name, "http://hl7.org/fhir/OperationDefinition/" + t + "-" + name})
		}
		resources = append(resources, r)
	}
	cs := map[string]any{
		"resourceType": "CapabilityStatement",
		"status":       "active",
		"date":         built.UTC().Format("2006-01-02"),
		"publisher":    "Concord",
		"kind":         "instance",
		"software":     map[string]any{"name": "Concord"},
		"implementation": map[string]any{
			"description": "Concord FHIR R4 server",
		},
		"fhirVersion": definitions.FHIRVersion,
		"format":      []string{"application/fhir+json", "application/json", "application/fhir+xml", "application/xml"},
		"patchFormat": []string{"application/json-patch+json", "application/fhir+json"},
		"rest": []any{map[string]any{
			"mode":        "server",
			"resource":    resources,
			"interaction": []code{{"transaction"}, {"batch"}, {"search-system"}, {"history-system"}},
			"searchParam": []param{
				{Name: "_id", Type: "token", Definition: "http://hl7.org/fhir/SearchParameter/Resource-id"},
				{Name: "_lastUpdated", Type: "date", Definition: "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated"},
				{Name: "_type", Type: "token", Documentation: "restricts a system-level search to these resource types"},
			},
		}},
	}
	b, err := json.Marshal(cs)
	if err != nil {
		panic(err) // only fixed, marshalable types above
	}
	return b
}
