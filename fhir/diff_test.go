package fhir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Differential tests: Parse must build the same trees and report the same issues as the
// reference parser (reference_test.go) on real resources and on many broken variants of them.

func treeDiff(a, b *Node, path string) string {
	if a == nil || b == nil {
		if a != b {
			return path + ": one tree is nil"
		}
		return ""
	}
	path += "/" + a.Name
	if a.Name != b.Name || a.Type != b.Type || a.Def != b.Def || a.defPath != b.defPath {
		return fmt.Sprintf("%s: node %q %q %q differs from %q %q %q", path, a.Name, a.Type, a.defPath, b.Name, b.Type, b.defPath)
	}
	if fmt.Sprintf("%T %v", a.Value, a.Value) != fmt.Sprintf("%T %v", b.Value, b.Value) {
		return fmt.Sprintf("%s: value %#v differs from %#v", path, a.Value, b.Value)
	}
	if len(a.Children) != len(b.Children) || (a.Children == nil) != (b.Children == nil) {
		return fmt.Sprintf("%s: %d children differ from %d", path, len(a.Children), len(b.Children))
	}
	for i := range a.Children {
		if d := treeDiff(a.Children[i], b.Children[i], path); d != "" {
			return d
		}
	}
	return ""
}

// issueSet renders an error's issues in a canonical order: the reference walked maps, whose
// order Go randomizes.
func issueSet(err error) []string {
	if err == nil {
		return nil
	}
	e := AsError(err)
	var out []string
	for _, i := range e.Issues {
		d := i.Diagnostics
		if i.Code == IssueInvalid && strings.HasPrefix(d, "invalid JSON") {
			d = "invalid JSON" // the wording of syntax errors is encoding/json's own
		}
		out = append(out, fmt.Sprintf("%d %s %s %v: %s", e.Status, i.Severity, i.Code, i.Expression, d))
	}
	slices.Sort(out)
	return out
}

// compareParsers reports how Parse and the reference disagree on data, or "".
func compareParsers(data []byte) string {
	got, gerr := Parse(data)
	want, werr := refParse(data)
	gi, wi := issueSet(gerr), issueSet(werr)
	if !slices.Equal(gi, wi) {
		return fmt.Sprintf("issues differ:\n got  %q\n want %q", gi, wi)
	}
	if gerr != nil {
		return ""
	}
	if got.Type != want.Type || got.ID != want.ID {
		return fmt.Sprintf("resource %s/%s, want %s/%s", got.Type, got.ID, want.Type, want.ID)
	}
	if d := treeDiff(got.Root, want.Root, ""); d != "" {
		return d
	}
	if g, w := Marshal(got.Root), refMarshal(want.Root); !bytes.Equal(g, w) {
		return fmt.Sprintf("serializations differ:\n got  %s\n want %s", truncate(g, 500), truncate(w, 500))
	}
	return ""
}

// corpus returns the official examples, one Synthea bundle and the entries of a few more.
func corpus(t *testing.T) [][]byte {
	bundles, _ := filepath.Glob("../../shared/data/synthea/bundles/*.json")
	var out [][]byte
	for _, ex := range officialExamples(t) {
		out = append(out, ex.data)
	}
	read := func(f string) []byte {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	for i, f := range bundles[:min(len(bundles), 3)] {
		data := read(f)
		if i == 0 {
			out = append(out, data)
		}
		var b struct {
			Entry []struct {
				Resource json.RawMessage `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(data, &b); err != nil {
			t.Fatal(err)
		}
		for _, e := range b.Entry {
			out = append(out, e.Resource)
		}
	}
	return out
}

func TestParseMatchesReference(t *testing.T) {
	for i, data := range corpus(t) {
		if d := compareParsers(data); d != "" {
			t.Errorf("document %d: %s", i, d)
		}
	}
}

// TestParseMatchesReferenceOnMutations breaks real resources in structurally interesting
// ways (wrong JSON kinds, nulls, arrays where none belong, "_x" companions, unknown
// elements) and checks that both parsers reject or accept them alike.
func TestParseMatchesReferenceOnMutations(t *testing.T) {
	docs := corpus(t)
	rng := rand.New(rand.NewPCG(1, 2))
	rounds := 1500
	if testing.Short() {
		rounds = 200
	}
	failures, rejected := 0, 0
	for r := 0; r < rounds && failures < 10; r++ {
		data := docs[rng.IntN(len(docs))]
		if len(data) > 200_000 {
			continue
		}
		v := decodeNumber(t, data)
		for range 1 + rng.IntN(3) {
			mutate(rng, v, 0)
		}
		mutated, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(mutated); err != nil {
			rejected++
		}
		if d := compareParsers(mutated); d != "" {
			if strings.Contains(d, "more than one choice") {
				continue // the reference picks the surviving choice at random
			}
			failures++
			t.Errorf("round %d: %s\n%s", r, d, truncate(mutated, 2000))
		}
	}
	t.Logf("%d of %d variants rejected", rejected, rounds)
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// mutate changes one randomly chosen place of a decoded JSON value in place.
func mutate(rng *rand.Rand, v any, depth int) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if len(keys) == 0 {
			x["extension"] = []any{}
			return
		}
		k := keys[rng.IntN(len(keys))]
		if c := x[k]; (rng.IntN(3) > 0 || depth < 1) && isContainer(c) {
			mutate(rng, c, depth+1)
			return
		}
		switch rng.IntN(12) {
		case 0:
			delete(x, k)
		case 1:
			x[k] = nil
		case 2:
			x[k] = []any{x[k]}
		case 3:
			x[k] = map[string]any{}
		case 4:
			x[k] = ""
		case 5:
			x[k] = json.Number("1")
		case 6:
			x[k] = true
		case 7:
			x["_"+strings.TrimPrefix(k, "_")] = map[string]any{"id": "a", "extension": []any{map[string]any{"url": "http://x", "valueCode": "c"}}}
		case 8:
			x["_"+strings.TrimPrefix(k, "_")] = []any{nil, map[string]any{"id": "b"}}
		case 9:
			x[k+"Foo"] = x[k]
		case 10:
			if a, ok := x[k].([]any); ok && len(a) > 0 {
				x[k] = a[0]
			} else {
				x[k] = []any{}
			}
		case 11:
			x[k] = json.Number("-0.5e3")
		}
	case []any:
		if len(x) == 0 {
			return
		}
		i := rng.IntN(len(x))
		if isContainer(x[i]) && rng.IntN(3) > 0 {
			mutate(rng, x[i], depth+1)
			return
		}
		switch rng.IntN(3) {
		case 0:
			x[i] = nil
		case 1:
			x[i] = "s"
		case 2:
			x[i] = []any{}
		}
	}
}

func isContainer(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return true
	}
	return false
}

// TestParseConcurrently shares the pooled workspaces and the lazily built definition tables
// between goroutines; run it with -race.
func TestParseConcurrently(t *testing.T) {
	docs := corpus(t)
	docs = docs[:min(len(docs), 300)]
	want := make([][]byte, len(docs))
	for i, d := range docs {
		if res, err := Parse(d); err == nil {
			want[i] = Marshal(res.Root)
		}
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range docs {
				i := (i + g*len(docs)/4) % len(docs)
				res, err := Parse(docs[i])
				if (err == nil) != (want[i] != nil) {
					t.Errorf("document %d: err = %v", i, err)
					continue
				}
				if err == nil && !bytes.Equal(Marshal(res.Root), want[i]) {
					t.Errorf("document %d: serialization differs", i)
				}
			}
		})
	}
	wg.Wait()
}
