package fhirpath_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/concord-health/concord/fhir/definitions"
)

// The differential test runs the same expressions over the official R4 examples through
// Concord and the reference JavaScript engine (npm "fhirpath", see tools/fhirpath-diff) and
// reports where they differ. The reference engine has gaps of its own, so disagreements are
// logged, not failed; only a broken harness or a drop in agreement below diffAgreementFloor
// fails the test.

const (
	diffRepoRoot    = "../.."
	diffExamplesDir = "../../../shared/data/fhir-r4-examples/package"
	diffMaxFiles    = 200
	// Every pair carries its whole resource, so the few large bundles would dominate the run.
	diffMaxFileSize = 64 << 10
	diffMaxExamples = 30
	// diffAgreementFloor sits just below the measured agreement so that a regression shows.
	diffAgreementFloor = 0.96
)

// diffGeneralExpressions apply to any resource; together they exercise navigation,
// filtering, type tests, strings, math, dates and collection operators.
var diffGeneralExpressions = []string{
	"id",
	"meta.lastUpdated",
	"text.status",
	"identifier.where(system.exists()).value",
	"identifier.count()",
	"extension.url.distinct()",
	"children().count()",
	"descendants().count()",
	"contained.count()",
	"contained.first() is Resource",
	"descendants().ofType(Coding).code.distinct().sort()",
	"descendants().ofType(CodeableConcept).coding.system.distinct().count()",
	"descendants().ofType(Coding).exists(system = 'http://loinc.org')",
	"descendants().ofType(Coding).all(code.exists())",
	"descendants().ofType(Coding).first().is(Coding)",
	"descendants().ofType(Reference).reference.where(startsWith('#').not()).sort().first()",
	"identifier.value.tail().take(2)",
	"identifier.skip(1).last().system",
	"descendants().where($this is Reference).count()",
	"descendants().ofType(HumanName).select(given.first() + ' ' + family).sort()",
	"descendants().ofType(Period).start.sort()",
	"descendants().ofType(Period).where(start.exists() and end.exists()).all(end >= start)",
	"descendants().ofType(Quantity).value.select($this * 2).sort()",
	"descendants().ofType(Quantity).where(value > 10).unit.distinct()",
	"descendants().ofType(Quantity).first().value.is(decimal)",
	"descendants().ofType(Extension).value.ofType(string)",
	"identifier.value.first() as string",
	"descendants().ofType(string).where(length() > 40).count()",
	"descendants().ofType(code).where($this in ('final' | 'active' | 'completed')).count()",
	"descendants().ofType(boolean).where($this).count()",
	"descendants().ofType(integer).select($this * 2).sort()",
	"descendants().ofType(dateTime).where($this > @2010-01-01).count()",
	"descendants().ofType(dateTime).where($this >= @2000-01-01T00:00:00Z).count()",
	"descendants().ofType(date).select($this + 1 day).sort()",
	"descendants().ofType(instant).all($this < today())",
	"descendants().ofType(dateTime).toString().sort()",
	"meta.versionId.toInteger() + 1",
	"iif(text.exists(), text.`div`.length() > 500, false)",
	"text.div.exists() implies text.status.exists()",
	"(identifier.value | id).distinct().count()",
	"identifier.value.combine(id).count()",
	"id.length()",
	"id.upper()",
	"id.substring(1, 3)",
	"id.replace('-', '_')",
	"id.indexOf('e')",
	"id.matches('^[a-z]+$')",
	"id.startsWith('ex') and id.endsWith('e')",
	"id.contains('example') xor id.exists()",
	"id.toChars().count()",
	"iif(id.exists(), 'has-id', 'no-id')",
	"id.convertsToInteger() or id.toInteger().exists()",
	"(1 + 2 * 3 - 4 / 8)",
	"7 div 2 + 7 mod 3",
	"(2.456).round(2) + (-2.5).abs()",
	"16.sqrt() + 2.power(10)",
	"(1.5 'mg' + 2 'mg') = 3.5 'mg'",
	"(5 days).toString()",
}

// diffPair is one generated request, with where it came from for the report.
type diffPair struct {
	file, expr, origin string
	line               []byte
}

// diffPairs pairs each of the first diffMaxFiles examples (sorted by name) with its type's
// search parameter expressions (sorted by code) and the general expressions.
func diffPairs(t *testing.T) []diffPair {
	files, err := filepath.Glob(filepath.Join(diffExamplesDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var examples []string
	for _, f := range files {
		if filepath.Base(f) == "package.json" {
			continue
		}
		if fi, err := os.Stat(f); err != nil || fi.Size() > diffMaxFileSize {
			continue
		}
		examples = append(examples, f)
	}
	sort.Strings(examples)
	if len(examples) > diffMaxFiles {
		examples = examples[:diffMaxFiles]
	}
	reg := definitions.R4()
	var pairs []diffPair
	for _, f := range examples {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var head struct {
			ResourceType string `json:"resourceType"`
		}
		if err := json.Unmarshal(data, &head); err != nil || head.ResourceType == "" {
			t.Fatalf("%s: not a resource: %v", f, err)
		}
		var res bytes.Buffer
		if err := json.Compact(&res, data); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		params := reg.SearchParams(head.ResourceType)
		codes := make([]string, 0, len(params))
		for code := range params {
			codes = append(codes, code)
		}
		sort.Strings(codes)
		add := func(expr, origin string) {
			exprJSON, _ := json.Marshal(expr)
			line := make([]byte, 0, res.Len()+len(exprJSON)+32)
			line = append(line, `{"resource":`...)
			line = append(line, res.Bytes()...)
			line = append(line, `,"expression":`...)
			line = append(line, exprJSON...)
			line = append(line, '}')
			pairs = append(pairs, diffPair{file: filepath.Base(f), expr: expr, origin: origin, line: line})
		}
		for _, code := range codes {
			// The reference engine's resolve() fetches from a FHIR server, so offline it
			// cannot answer these.
			if p := params[code]; p.Expression != "" && !strings.Contains(p.Expression, "resolve()") {
				add(p.Expression, "search:"+code)
			}
		}
		for _, e := range diffGeneralExpressions {
			add(e, "general")
		}
	}
	return pairs
}

func TestDifferentialAgainstFhirpathJS(t *testing.T) {
	if testing.Short() {
		t.Skip("differential test skipped in -short mode")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not on PATH; the differential test needs Node.js and `npm ci --prefix tools/fhirpath-diff`")
	}
	toolDir := filepath.Join(diffRepoRoot, "tools", "fhirpath-diff")
	if _, err := os.Stat(filepath.Join(toolDir, "node_modules", "fhirpath")); err != nil {
		t.Skip("tools/fhirpath-diff/node_modules/fhirpath absent; run `npm ci --prefix tools/fhirpath-diff`")
	}
	if _, err := os.Stat(diffExamplesDir); err != nil {
		t.Skip("official examples not found at ../shared/data/fhir-r4-examples")
	}

	start := time.Now()
	dir := t.TempDir()
	bin := filepath.Join(dir, "concord")
	build := exec.Command("go", "build", "-o", bin, "./cmd/concord")
	build.Dir = diffRepoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building concord: %v\n%s", err, out)
	}

	pairs := diffPairs(t)
	input := filepath.Join(dir, "input.ndjson")
	var buf bytes.Buffer
	for _, p := range pairs {
		buf.Write(p.line)
		buf.WriteByte('\n')
	}
	if err := os.WriteFile(input, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	got := diffRun(t, input, len(pairs), bin, "fhirpath", "--batch")
	want := diffRun(t, input, len(pairs), node, filepath.Join(toolDir, "eval.js"))

	var agree int
	categories := map[string]int{}
	byExpr := map[string]int{}
	var examples []string
	for i, p := range pairs {
		cat := diffCompare(got[i], want[i])
		if cat == "" {
			agree++
			continue
		}
		categories[cat]++
		group := cat + " | " + p.expr
		byExpr[group]++
		// One example per group, so that a frequent group does not hide the others.
		if byExpr[group] == 1 && len(examples) < diffMaxExamples {
			examples = append(examples, fmt.Sprintf("%s [%s] %s (%s)\n    concord: %s\n    js:      %s",
				cat, p.origin, p.expr, p.file, diffClip(got[i]), diffClip(want[i])))
		}
	}
	ratio := float64(agree) / float64(len(pairs))
	t.Logf("pairs %d, agreements %d (%.2f%%), disagreements %d, in %v",
		len(pairs), agree, 100*ratio, len(pairs)-agree, time.Since(start).Round(time.Millisecond))
	for _, cat := range []string{"concord error only", "js error only", "different values", "different order"} {
		t.Logf("  %-18s %d", cat, categories[cat])
	}
	t.Logf("most frequent disagreeing expressions:")
	for _, k := range diffTop(byExpr, 25) {
		t.Logf("  %4d  %s", byExpr[k], k)
	}
	t.Logf("examples:\n  %s", strings.Join(examples, "\n  "))
	if ratio < diffAgreementFloor {
		t.Errorf("agreement %.2f%% is below the floor of %.2f%%", 100*ratio, 100*diffAgreementFloor)
	}
}

// diffRun feeds the input file to a batch evaluator and returns its output lines, failing
// unless there is exactly one per input line.
func diffRun(t *testing.T, input string, n int, name string, args ...string) []json.RawMessage {
	t.Helper()
	in, err := os.Open(input)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	cmd := exec.Command(name, args...)
	cmd.Stdin = in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, stderr.Bytes())
	}
	var lines []json.RawMessage
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 1<<20), 256<<20)
	for sc.Scan() {
		lines = append(lines, json.RawMessage(bytes.Clone(sc.Bytes())))
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: reading output: %v", name, err)
	}
	if len(lines) != n {
		t.Fatalf("%s: %d output lines for %d input lines", name, len(lines), n)
	}
	return lines
}

type diffAnswer struct {
	Result []any `json:"result"`
	Error  *string
}

// diffCompare returns "" when two answers agree, else the disagreement's category.
func diffCompare(concord, js json.RawMessage) string {
	a, aerr := diffDecode(concord)
	b, berr := diffDecode(js)
	switch {
	case aerr && berr:
		return ""
	case aerr:
		return "concord error only"
	case berr:
		return "js error only"
	}
	if len(a) != len(b) {
		return "different values"
	}
	same := true
	for i := range a {
		if !diffEqual(diffUnit(a[i]), diffUnit(b[i])) {
			same = false
			break
		}
	}
	switch {
	case same:
		return ""
	case diffSameItems(a, b):
		return "different order"
	}
	return "different values"
}

// diffSameItems reports whether two equally long collections hold the same items in some
// order; the spec leaves the order of children() and descendants() undefined.
func diffSameItems(a, b []any) bool {
	used := make([]bool, len(b))
next:
	for _, x := range a {
		for j, y := range b {
			if !used[j] && diffEqual(diffUnit(x), diffUnit(y)) {
				used[j] = true
				continue next
			}
		}
		return false
	}
	return true
}

// diffDecode reads one answer; an undecodable line counts as an error answer.
func diffDecode(line json.RawMessage) (result []any, isErr bool) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var ans diffAnswer
	if err := dec.Decode(&ans); err != nil || ans.Error != nil {
		return nil, true
	}
	return ans.Result, false
}

// diffUnit spells calendar durations in the singular: "5 days" and "5 day" are the same
// quantity, and the engines keep different spellings.
func diffUnit(v any) any {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 2 || m["value"] == nil {
		return v
	}
	u, ok := m["unit"].(string)
	if !ok {
		return v
	}
	switch u {
	case "years", "months", "weeks", "days", "hours", "minutes", "seconds", "milliseconds":
		return map[string]any{"value": m["value"], "unit": strings.TrimSuffix(u, "s")}
	}
	return v
}

// diffEqual compares decoded JSON: numbers by value (1.0 == 1), arrays in order.
func diffEqual(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		rx, okx := new(big.Rat).SetString(string(x))
		ry, oky := new(big.Rat).SetString(string(y))
		return okx && oky && rx.Cmp(ry) == 0
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !diffEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !diffEqual(v, w) {
				return false
			}
		}
		return true
	}
	return a == b
}

func diffTop(counts map[string]int, n int) []string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if counts[keys[i]] != counts[keys[j]] {
			return counts[keys[i]] > counts[keys[j]]
		}
		return keys[i] < keys[j]
	})
	if len(keys) > n {
		keys = keys[:n]
	}
	return keys
}

func diffClip(b []byte) string {
	const max = 300
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}
