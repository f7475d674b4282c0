package terminology

import (
	"fmt"
	"strings"

	"github.com/concord-health/concord/fhir"
)

// valueSet is a ValueSet resource as far as membership needs it. It is immutable once built.
type valueSet struct {
	url, version, name, title, status string
	compose                           *compose
	expansion                         *storedExpansion
}

type compose struct {
	// noInactive: compose.inactive is false, so inactive codes are left out.
	noInactive       bool
	include, exclude []include
}

// include is one ValueSet.compose.include or exclude.
type include struct {
	system, version string
	concepts        []listed
	filters         []filter
	valueSets       []string
}

type listed struct{ code, display string }

type filter struct{ property, op, value string }

// storedExpansion is the expansion a ValueSet resource carries, flattened.
type storedExpansion struct {
	entries []ExpansionEntry
	// complete: the expansion lists every code (not a page, not filtered).
	complete bool
}

func newValueSet(root *fhir.Node) (*valueSet, error) {
	vs := &valueSet{
		url:     text(root, "url"),
		version: text(root, "version"),
		name:    text(root, "name"),
		title:   text(root, "title"),
		status:  text(root, "status"),
	}
	if vs.url == "" {
		return nil, fmt.Errorf("terminology: ValueSet %q has no url", root.Text("id"))
	}
	if c := root.First("compose"); c != nil {
		vs.compose = &compose{}
		if v, ok := boolean(c, "inactive"); ok && !v {
			vs.compose.noInactive = true
		}
		for _, n := range c.Child("include") {
			vs.compose.include = append(vs.compose.include, newInclude(n))
		}
		for _, n := range c.Child("exclude") {
			vs.compose.exclude = append(vs.compose.exclude, newInclude(n))
		}
	}
	if e := root.First("expansion"); e != nil {
		vs.expansion = newStoredExpansion(e)
	}
	return vs, nil
}

func newInclude(n *fhir.Node) include {
	inc := include{system: text(n, "system"), version: text(n, "version")}
	for _, c := range n.Child("concept") {
		inc.concepts = append(inc.concepts, listed{code: text(c, "code"), display: text(c, "display")})
	}
	for _, f := range n.Child("filter") {
		inc.filters = append(inc.filters, filter{property: text(f, "property"), op: text(f, "op"), value: text(f, "value")})
	}
	for _, v := range n.Child("valueSet") {
		inc.valueSets = append(inc.valueSets, strings.Clone(v.String()))
	}
	return inc
}

func newStoredExpansion(e *fhir.Node) *storedExpansion {
	x := &storedExpansion{complete: true}
	var walk func(list []*fhir.Node)
	walk = func(list []*fhir.Node) {
		for _, c := range list {
			if code := text(c, "code"); code != "" {
				x.entries = append(x.entries, ExpansionEntry{
					Coding:   Coding{System: text(c, "system"), Version: text(c, "version"), Code: code, Display: text(c, "display")},
					Abstract: c.First("abstract").String() == "true",
					Inactive: c.First("inactive").String() == "true",
				})
			}
			walk(c.Child("contains"))
		}
	}
	walk(e.Child("contains"))
	if t := e.First("total"); t != nil && t.String() != fmt.Sprint(len(x.entries)) {
		x.complete = false
	}
	if o := e.First("offset"); o != nil && o.String() != "0" {
		x.complete = false
	}
	for _, p := range e.Child("parameter") {
		if p.Text("name") == "filter" {
			x.complete = false // a text-filtered expansion is not the whole value set
		}
	}
	return x
}
