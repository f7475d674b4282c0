package dmd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/terminology"
)

func sid(id uint64) string { return strconv.FormatUint(id, 10) }

func sids(ids ...uint64) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = sid(id)
	}
	return out
}

// props collects a concept's property values by code.
func props(c terminology.Concept) map[string][]string {
	out := map[string][]string{}
	for _, p := range c.Properties {
		out[p.Code] = append(out[p.Code], p.Type+":"+p.Value)
	}
	return out
}

type fakeSNOMED map[uint64]bool

func (f fakeSNOMED) Exists(id uint64) bool { return f[id] }

func TestProviderLookup(t *testing.T) {
	r := loadFixture(t)
	p := NewProvider(r, WithSNOMED(fakeSNOMED{vmpPara500: true, vtmParacetamol: true}))
	ctx := t.Context()
	if p.URL() != System || p.Version() != "2024-05-20" || !p.Complete() || p.CaseSensitive() || p.Name() != "dm+d" {
		t.Errorf("provider = %s %s %v %v %s", p.URL(), p.Version(), p.Complete(), p.CaseSensitive(), p.Name())
	}
	tests := []struct {
		code     string
		display  string
		inactive bool
		want     map[string][]string // properties checked (all values, in order)
		absent   []string
	}{
		{" 322236009 ", "Paracetamol 500mg tablets", false, map[string][]string{
			"class":              {"code:VMP"},
			"inactive":           {"boolean:false"},
			"parent":             {"code:90332006"},
			"child":              {"code:108971000001101", "code:108981000001104", "code:205511000001107", "code:205521000001103"},
			"vtm":                {"code:90332006"},
			"ingredient":         {"code:387517004"},
			"strength":           {"string:Paracetamol 500 mg"},
			"form":               {"string:Tablet"},
			"route":              {"string:Oral"},
			"prescribing-status": {"string:Valid as a prescribable product"},
			"controlled-drug":    {"string:No Controlled Drug Status"},
			"snomed":             {"Coding:http://snomed.info/sct|322236009"},
		}, []string{"supplier", "legal-category", "vmp", "abbreviation"}},
		{sid(vmpParaSusp), "Paracetamol 120mg/5ml oral suspension sugar free", false, map[string][]string{
			"strength":     {"string:Paracetamol 120 mg/5 ml"},
			"abbreviation": {"string:Paracetamol 120mg/5ml oral susp S/F"},
		}, []string{"snomed"}},
		{sid(vmpAmoxSachet), "Amoxicillin 3g oral powder sachets sugar free", true, map[string][]string{
			"inactive": {"boolean:true"},
			"previous": {"code:391121000001100"},
			"strength": {"string:Amoxicillin trihydrate 3 gram"},
		}, []string{"child"}},
		{sid(ampPara500Kent), "Paracetamol 500mg tablets", false, map[string][]string{
			"class":        {"code:AMP"},
			"parent":       {"code:322236009"},
			"child":        {"code:307131000001105"},
			"vmp":          {"code:322236009"},
			"supplier":     {"string:Kent Pharma (UK) Ltd"},
			"availability": {"string:None"},
			"route":        {"string:Oral"},
		}, []string{"vtm", "ingredient"}},
		{sid(ampCalpol), "Calpol Infant 120mg/5ml oral suspension", false, map[string][]string{
			"excipient": {"code:88201000001109"},
		}, []string{"ingredient"}},
		{sid(amppKent32), "Paracetamol 500mg tablets (Kent Pharma (UK) Ltd) 32 tablet", false, map[string][]string{
			"class":          {"code:AMPP"},
			"parent":         {"code:108971000001101", "code:205521000001103"},
			"vmpp":           {"code:108971000001101"},
			"amp":            {"code:205521000001103"},
			"legal-category": {"string:P"},
			"discontinued":   {"string:Discontinued Flag"},
		}, []string{"child", "gtin"}},
		{sid(amppAcc32), "Paracetamol 500mg tablets (Accord Healthcare Ltd) 32 tablet", false, map[string][]string{
			"gtin": {"string:5012345600024"},
		}, nil},
		{sid(vmppPara500x100), "Paracetamol 500mg tablets 100 tablet", false, map[string][]string{
			"quantity": {"string:100 tablet"},
			"vmp":      {"code:322236009"},
		}, nil},
		{sid(vtmParacetamol), "Paracetamol", false, map[string][]string{
			"class":  {"code:VTM"},
			"child":  {"code:322236009", "code:396951000001103", "code:421091000001100"},
			"snomed": {"Coding:http://snomed.info/sct|90332006"},
		}, []string{"parent"}},
	}
	for _, tc := range tests {
		c, ok, err := p.Lookup(ctx, tc.code)
		if err != nil || !ok {
			t.Errorf("Lookup(%s) = %v, %v", tc.code, ok, err)
			continue
		}
		if c.Display != tc.display || c.Inactive != tc.inactive {
			t.Errorf("Lookup(%s) = %q inactive %v", tc.code, c.Display, c.Inactive)
		}
		got := props(c)
		for k, want := range tc.want {
			if !slices.Equal(got[k], want) {
				t.Errorf("Lookup(%s) %s = %v, want %v", tc.code, k, got[k], want)
			}
		}
		for _, k := range tc.absent {
			if _, ok := got[k]; ok {
				t.Errorf("Lookup(%s) has %s: %v", tc.code, k, got[k])
			}
		}
	}
	c, _, _ := p.Lookup(ctx, sid(ampCalpol))
	if len(c.Designations) != 2 || c.Designations[0].Value != "Calpol Infant 120mg/5ml oral susp" ||
		c.Designations[1].Value != "Calpol Infant 120mg/5ml oral suspension (McNeil Products Ltd)" {
		t.Errorf("designations = %+v", c.Designations)
	}
	for _, bad := range []string{"", "abc", "387517004", "12345", "-1"} {
		if _, ok, err := p.Lookup(ctx, bad); ok || err != nil {
			t.Errorf("Lookup(%q) = %v, %v", bad, ok, err)
		}
	}
	// Without a SNOMED CT edition there is no snomed property.
	c, _, _ = NewProvider(r).Lookup(ctx, sid(vmpPara500))
	if _, ok := props(c)["snomed"]; ok {
		t.Error("snomed property without an edition")
	}
}

// filterCodes lists a filter's concepts, checking that Match agrees for every product.
func filterCodes(t *testing.T, p *Provider, property, op, value string) []string {
	t.Helper()
	ctx := t.Context()
	f, err := p.Filter(ctx, property, op, value)
	if err != nil {
		t.Fatalf("Filter(%s %s %s): %v", property, op, value, err)
	}
	var got []string
	if err := f.Concepts(ctx, func(c terminology.Concept) bool {
		got = append(got, c.Code)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	for _, rec := range p.r.idx.Records {
		c := sid(rec.ID)
		ok, err := f.Match(ctx, c)
		if err != nil || ok != slices.Contains(got, c) {
			t.Errorf("Filter(%s %s %s): Match(%s) = %v, %v; listed %v", property, op, value, c, ok, err, slices.Contains(got, c))
		}
	}
	return got
}

func TestProviderFilter(t *testing.T) {
	p := NewProvider(loadFixture(t))
	paracetamol := sids(vtmParacetamol, vmpPara500, vmppPara500x32, amppAcc32, amppKent32, vmppPara500x100, amppAcc100,
		ampPara500Acc, ampPara500Kent, vmpParaSusp, vmppParaSusp, amppCalpol, ampCalpol,
		vmpParaInf, vmppParaInf, amppParaInf, ampParaInf)
	tests := []struct {
		property, op, value string
		want                []string
	}{
		{"concept", "is-a", sid(vtmParacetamol), paracetamol},
		{"concept", "descendent-of", sid(vtmParacetamol), paracetamol[1:]},
		{"concept", "is-a", sid(ampPara500Acc), sids(ampPara500Acc, amppAcc32, amppAcc100)},
		{"concept", "is-a", sid(amppAcc32), sids(amppAcc32)},
		{"concept", "descendent-of", sid(amppAcc32), nil},
		{"concept", "is-a", "12345", nil},
		{"concept", "is-not-a", sid(vtmAmoxicillin), paracetamol[:1:1]},
		{"concept", "generalizes", sid(amppKent32), sids(vtmParacetamol, vmpPara500, vmppPara500x32, ampPara500Kent, amppKent32)},
		{"concept", "=", sid(ampCalpol), sids(ampCalpol)},
		{"concept", "in", sid(ampCalpol) + ", " + sid(vtmInvalid) + ",12345", sids(ampCalpol, vtmInvalid)},
		{"class", "=", "vtm", sids(vtmAmoxicillin, vtmParacetamol, vtmInvalid)},
		{"class", "in", "VMPP,AMPP", sids(vmppPara500x32, vmppPara500x100, vmppParaSusp, vmppParaInf, vmppAmox250, vmppAmox500,
			amppAcc32, amppAcc100, amppKent32, amppCalpol, amppParaInf, amppAmox250, amppAmox500)},
		{"vtm", "=", sid(vtmAmoxicillin), sids(vmpAmox250, vmpAmox500, vmpAmoxSachet)},
		{"vmp", "=", sid(vmpPara500), sids(vmppPara500x32, vmppPara500x100, ampPara500Acc, ampPara500Kent)},
		{"vmpp", "=", sid(vmppPara500x32), sids(amppAcc32, amppKent32)},
		{"amp", "=", sid(ampPara500Acc), sids(amppAcc32, amppAcc100)},
		{"ingredient", "=", "387517004", sids(vmpPara500, vmpParaSusp, vmpParaInf)},
		{"ingredient", "=", "88201000001109", nil}, // an excipient, not an ingredient
		{"inactive", "=", "true", sids(vtmInvalid, vmpAmoxSachet)},
		{"supplier", "=", "kent pharma (uk) ltd", sids(ampPara500Kent, ampAmox500)},
		{"supplier", "=", "20791000001100", sids(ampPara500Acc, ampParaInf, ampAmox250)},
		{"route", "=", "Intravenous", sids(vmpParaInf, ampParaInf)},
		{"form", "=", "385049006", sids(vmpAmox250, vmpAmox500)},
		{"legal-category", "=", "GSL", sids(amppCalpol)},
		{"legal-category", "=", "1", sids(amppCalpol)},
		{"prescribing-status", "=", "0002", sids(vmpAmoxSachet)},
	}
	for _, tc := range tests {
		got := filterCodes(t, p, tc.property, tc.op, tc.value)
		want := tc.want
		if tc.op == "is-not-a" && tc.property == "concept" {
			// Everything but the amoxicillin products.
			want = nil
			for _, rec := range p.r.idx.Records {
				if !p.r.Subsumes(vtmAmoxicillin, rec.ID) {
					want = append(want, sid(rec.ID))
				}
			}
			slices.Sort(want)
			slices.Sort(got)
			if len(want) != 28-10 {
				t.Fatalf("is-not-a: %d products expected", len(want))
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("Filter(%s %s %s) = %v, want %v", tc.property, tc.op, tc.value, got, want)
		}
	}
	inactiveFalse := filterCodes(t, p, "inactive", "=", "false")
	if len(inactiveFalse) != 26 {
		t.Errorf("inactive = false: %d concepts", len(inactiveFalse))
	}

	ctx := t.Context()
	for _, tc := range []struct{ property, op, value string }{
		{"concept", "regex", "3.*"},
		{"concept", "not-in", "322236009"},
		{"class", "is-a", "VMP"},
		{"vtm", "in", "90332006"},
		{"parent", "=", "90332006"},
		{"inactive", "=", "maybe"},
		{"supplier", "exists", "true"},
		{"gtin", "=", "5012345600024"},
	} {
		if _, err := p.Filter(ctx, tc.property, tc.op, tc.value); !errors.Is(err, terminology.ErrUnsupportedFilter) {
			t.Errorf("Filter(%s %s %s) = %v, want ErrUnsupportedFilter", tc.property, tc.op, tc.value, err)
		}
	}
	for _, tc := range []struct{ property, op, value string }{
		{"concept", "is-a", "paracetamol"},
		{"concept", "is-a", "90332006,27658006"},
		{"class", "=", "VMX"},
		{"class", "=", "VMP,AMP"},
		{"ingredient", "=", ""},
	} {
		if _, err := p.Filter(ctx, tc.property, tc.op, tc.value); err == nil || errors.Is(err, terminology.ErrUnsupportedFilter) {
			t.Errorf("Filter(%s %s %s) = %v, want a value error", tc.property, tc.op, tc.value, err)
		}
	}
}

func TestProviderConcepts(t *testing.T) {
	r := loadFixture(t)
	p := NewProvider(r)
	var got []terminology.Concept
	if err := p.Concepts(t.Context(), func(c terminology.Concept) bool {
		got = append(got, c)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != r.Len() {
		t.Fatalf("%d concepts, want %d", len(got), r.Len())
	}
	if got[0].Code != sid(vtmAmoxicillin) || got[2].Code != sid(vtmInvalid) || !got[2].Inactive || got[len(got)-1].Code != sid(amppAmox500) {
		t.Errorf("order: first %v, last %v", got[:3], got[len(got)-1])
	}
	// Stopping early is not an error.
	n := 0
	if err := p.Concepts(t.Context(), func(terminology.Concept) bool { n++; return n < 5 }); err != nil || n != 5 {
		t.Errorf("stopped listing: %d, %v", n, err)
	}
}

func TestProviderSubsumes(t *testing.T) {
	p := NewProvider(loadFixture(t))
	ctx := t.Context()
	for _, tc := range []struct {
		a, b string
		want bool
		err  error
	}{
		{sid(vtmParacetamol), sid(amppCalpol), true, nil},
		{sid(vmpPara500), sid(vmpPara500), true, nil},
		{sid(amppCalpol), sid(vtmParacetamol), false, nil},
		{sid(vtmAmoxicillin), sid(amppCalpol), false, nil},
		{"12345", sid(amppCalpol), false, terminology.ErrUnknownCode},
		{sid(vtmParacetamol), "x", false, terminology.ErrUnknownCode},
	} {
		got, err := p.Subsumes(ctx, tc.a, tc.b)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("Subsumes(%s, %s) = %v, %v", tc.a, tc.b, got, err)
		}
	}
}

func parseResource(t *testing.T, js string) *fhir.Resource {
	t.Helper()
	res, err := fhir.Parse([]byte(js))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, js)
	}
	return res
}

// The provider in the terminology service: $lookup, $subsumes, and value sets selecting
// dm+d products by filter, held or given inline.
func TestService(t *testing.T) {
	ctx := t.Context()
	s := terminology.New()
	s.AddProvider(NewProvider(loadFixture(t)))

	lr, err := s.LookupCode(ctx, System, "", sid(vmpPara500))
	if err != nil {
		t.Fatal(err)
	}
	if lr.Name != "dm+d" || lr.Version != "2024-05-20" || lr.Display != "Paracetamol 500mg tablets" || lr.System != System {
		t.Errorf("LookupCode = %+v", lr)
	}
	if _, err := s.LookupCode(ctx, System, "", "12345"); !errors.Is(err, terminology.ErrUnknownCode) {
		t.Errorf("LookupCode(unknown) = %v", err)
	}
	if _, err := s.LookupCode(ctx, System, "2020-01-01", sid(vmpPara500)); !errors.Is(err, terminology.ErrUnknownCodeSystem) {
		t.Errorf("LookupCode(other version) = %v", err)
	}
	if sub, err := s.Subsumes(ctx, System, sid(vtmParacetamol), sid(amppCalpol)); err != nil || sub != terminology.ASubsumesB {
		t.Errorf("Subsumes = %v, %v", sub, err)
	}
	if sub, err := s.Subsumes(ctx, System, sid(amppAmox250), sid(vtmAmoxicillin)); err != nil || sub != terminology.ASubsumedByB {
		t.Errorf("Subsumes = %v, %v", sub, err)
	}

	// Paracetamol packs a pharmacy may sell: the AMPPs under the VTM that are not POM.
	vs := func(url string) string {
		return fmt.Sprintf(`{"resourceType":"ValueSet",%s"status":"active","compose":{"include":[{"system":%q,"filter":[
			{"property":"concept","op":"is-a","value":"%d"},{"property":"class","op":"=","value":"AMPP"}]}],
			"exclude":[{"system":%q,"filter":[{"property":"legal-category","op":"=","value":"POM"}]}]}}`, url, System, vtmParacetamol, System)
	}
	want := sids(amppAcc32, amppKent32, amppCalpol)
	in := terminology.Coding{System: System, Code: sid(amppCalpol)}
	pom := terminology.Coding{System: System, Code: sid(amppAcc100)}
	vmp := terminology.Coding{System: System, Code: sid(vmpPara500)}

	inline, err := s.CompileValueSet(ctx, parseResource(t, vs("")))
	if err != nil {
		t.Fatal(err)
	}
	x, err := inline.Expand(terminology.ExpandOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range x.Contains {
		got = append(got, e.Code)
		if e.System != System || e.Version != "2024-05-20" || e.Display == "" {
			t.Errorf("expansion entry %+v", e)
		}
	}
	if !slices.Equal(got, want) || x.Total != 3 {
		t.Errorf("inline expansion = %v (total %d), want %v", got, x.Total, want)
	}
	if r := inline.ValidateCode(ctx, in); !r.Valid || !r.Known || r.Display != "Calpol Infant 120mg/5ml oral suspension (McNeil Products Ltd) 100 ml" {
		t.Errorf("inline ValidateCode(in) = %+v", r)
	}
	for _, c := range []terminology.Coding{pom, vmp, {System: System, Code: "12345"}} {
		if r := inline.ValidateCode(ctx, c); r.Valid || !r.Known {
			t.Errorf("inline ValidateCode(%s) = %+v", c.Code, r)
		}
	}

	const url = "http://example.org/fhir/ValueSet/paracetamol-otc-packs"
	if err := s.Add(parseResource(t, vs(fmt.Sprintf(`"url":%q,`, url)))); err != nil {
		t.Fatal(err)
	}
	x, err = s.Expand(ctx, url, terminology.ExpandOptions{Filter: "calpol"})
	if err != nil || x.Total != 1 || x.Contains[0].Code != sid(amppCalpol) {
		t.Errorf("Expand(filter calpol) = %+v, %v", x, err)
	}
	if r := s.ValidateCode(ctx, url, in); !r.Valid {
		t.Errorf("ValidateCode(in) = %+v", r)
	}
	if r := s.ValidateCode(ctx, url, pom); r.Valid || !r.Known {
		t.Errorf("ValidateCode(POM) = %+v", r)
	}

	// A value set of a whole class; the invalid VMP is in it but flagged.
	if err := s.Add(parseResource(t, fmt.Sprintf(`{"resourceType":"ValueSet","url":"http://example.org/fhir/ValueSet/vmps","status":"active",
		"compose":{"include":[{"system":%q,"filter":[{"property":"class","op":"=","value":"VMP"}]}]}}`, System))); err != nil {
		t.Fatal(err)
	}
	if r := s.ValidateCode(ctx, "http://example.org/fhir/ValueSet/vmps", terminology.Coding{System: System, Code: sid(vmpAmoxSachet)}); !r.Valid || r.Message == "" {
		t.Errorf("ValidateCode(invalid VMP) = %+v", r)
	}
	x, err = s.Expand(ctx, "http://example.org/fhir/ValueSet/vmps", terminology.ExpandOptions{ActiveOnly: true})
	if err != nil || x.Total != 5 {
		t.Errorf("Expand(active VMPs) = %+v, %v", x, err)
	}
}

// Concurrent lookups, filters and expansions share the release.
func TestProviderConcurrent(t *testing.T) {
	p := NewProvider(loadFixture(t))
	ctx := context.Background()
	done := make(chan error)
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < 50; i++ {
				for _, rec := range p.r.idx.Records {
					if _, ok, err := p.Lookup(ctx, sid(rec.ID)); !ok || err != nil {
						done <- fmt.Errorf("Lookup(%d) = %v, %v", rec.ID, ok, err)
						return
					}
				}
				f, err := p.Filter(ctx, "concept", "is-a", sid(vtmParacetamol))
				if err != nil {
					done <- err
					return
				}
				n := 0
				f.Concepts(ctx, func(terminology.Concept) bool { n++; return true })
				if n != 17 {
					done <- fmt.Errorf("is-a listed %d", n)
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	r := loadFixture(b)
	p := NewProvider(r, WithSNOMED(fakeSNOMED{vmpPara500: true}))
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		code string
	}{{"VMP", sid(vmpPara500)}, {"AMPP", sid(amppAcc32)}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok, _ := p.Lookup(ctx, tc.code); !ok {
					b.Fatal("not found")
				}
			}
		})
	}
}
