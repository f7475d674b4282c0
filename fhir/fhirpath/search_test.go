package fhirpath

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
)

const sharedData = "../../../shared/data"

// searchExpressions lists every distinct search parameter and component expression of the
// registry, with the parameter it came from.
func searchExpressions(t testing.TB) map[string]string {
	reg := definitions.R4()
	out := map[string]string{}
	for _, rt := range reg.ResourceTypes() {
		for code, p := range reg.SearchParams(rt) {
			if p.Expression != "" {
				out[p.Expression] = rt + "." + code
			}
			for _, c := range p.Components {
				out[c.Expression] = rt + "." + code + " component"
			}
		}
	}
	return out
}

func TestCompileSearchParameterExpressions(t *testing.T) {
	exprs := searchExpressions(t)
	if len(exprs) < 1000 {
		t.Fatalf("only %d expressions found", len(exprs))
	}
	for src, where := range exprs {
		e, err := Compile(src)
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		if e.String() != src {
			t.Errorf("String() = %q, want %q", e.String(), src)
		}
	}
}

func loadExamples(t testing.TB) []*fhir.Resource {
	dir := filepath.Join(sharedData, "fhir-r4-examples", "package")
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) == 0 {
		t.Skipf("official examples not found under %s", dir)
	}
	var out []*fhir.Resource
	for _, f := range files {
		if filepath.Base(f) == "package.json" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		res, err := fhir.Parse(data)
		if err != nil {
			continue // the element model's own tests cover examples it rejects
		}
		out = append(out, res)
	}
	return out
}

func TestSearchExpressionsOnOfficialExamples(t *testing.T) {
	reg := definitions.R4()
	examples := loadExamples(t)
	compiled := map[string]*Expr{}
	get := func(src string) *Expr {
		if e := compiled[src]; e != nil {
			return e
		}
		e := MustCompile(src)
		compiled[src] = e
		return e
	}
	evals, results := 0, 0
	for _, res := range examples {
		params := reg.SearchParams(res.Type)
		codes := make([]string, 0, len(params))
		for c := range params {
			codes = append(codes, c)
		}
		sort.Strings(codes)
		for _, code := range codes {
			p := params[code]
			if p.Expression == "" {
				continue
			}
			out, err := get(p.Expression).Evaluate(res.Root)
			evals++
			results += len(out)
			if err != nil {
				t.Errorf("%s/%s %s: %v", res.Type, res.ID, code, err)
				continue
			}
			for _, c := range p.Components {
				for _, item := range out {
					if _, err := get(c.Expression).EvaluateWith(item, &Env{Resource: res.Root}); err != nil {
						t.Errorf("%s/%s %s component %q: %v", res.Type, res.ID, code, c.Expression, err)
					}
				}
			}
		}
	}
	t.Logf("%d examples, %d evaluations, %d result items", len(examples), evals, results)
	if results == 0 {
		t.Fatal("no expression produced any result")
	}
}

func TestUnknownFunctionIsACompileError(t *testing.T) {
	_, err := Compile("Patient.name.frobnicate()")
	if err == nil || !strings.Contains(err.Error(), "frobnicate") {
		t.Fatalf("got %v, want an error naming frobnicate", err)
	}
}
