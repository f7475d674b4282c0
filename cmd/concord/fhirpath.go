package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/fhirpath"
)

const fhirpathUsage = `usage: concord fhirpath [-r RESOURCE.json|RESOURCE.xml|-] [--] EXPR
       concord fhirpath --batch < LINES.ndjson

Evaluates a FHIRPath expression and prints the result as a JSON array, each item in its FHIR
JSON form. The resource may be JSON or XML; -r - reads it from stdin; without -r the input
is empty.

--batch reads lines {"resource": {...}, "expression": "..."} from stdin and writes one line
per input line, in order: {"result": [...]} or {"error": "..."}. A missing or null resource
means an empty input; an empty line is answered with an error, so that line N of the output
always answers line N of the input.`

// maxBatchLine bounds one NDJSON line; longer lines are answered with an error and skipped.
const maxBatchLine = 64 << 20

// maxCachedExprs bounds the compiled-expression cache so that a stream of distinct
// expressions cannot grow it without limit.
const maxCachedExprs = 10000

// fhirpathCmd runs "concord fhirpath". It takes its streams as arguments so that tests can
// drive it in memory. Nothing is written to stdout when it returns an error.
func fhirpathCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("fhirpath", flag.ContinueOnError)
	fset.SetOutput(stderr)
	resourcePath := fset.String("r", "", "resource file, JSON or XML, to evaluate on (- for stdin)")
	batch := fset.Bool("batch", false, "evaluate NDJSON lines {\"resource\":…,\"expression\":…} from stdin")
	fset.Usage = func() {
		fmt.Fprintln(fset.Output(), fhirpathUsage)
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // usage was asked for and printed
		}
		return err
	}
	if *batch {
		if fset.NArg() != 0 || *resourcePath != "" {
			fset.Usage()
			return errors.New("--batch takes neither -r nor an expression")
		}
		return fhirpathBatch(stdin, stdout)
	}
	if fset.NArg() != 1 {
		fset.Usage()
		return errors.New("expected exactly one expression")
	}
	expr, err := fhirpath.Compile(fset.Arg(0))
	if err != nil {
		return err
	}
	var focus *fhir.Node
	if *resourcePath != "" {
		var data []byte
		if *resourcePath == "-" {
			data, err = io.ReadAll(stdin)
		} else {
			data, err = os.ReadFile(*resourcePath)
		}
		if err != nil {
			return err
		}
		res, err := parseResource(data)
		if err != nil {
			name := *resourcePath
			if name == "-" {
				name = "stdin"
			}
			return fmt.Errorf("%s: %w", name, err)
		}
		focus = res.Root
	}
	items, err := expr.Evaluate(focus)
	if err != nil {
		return err
	}
	out := appendItems(nil, items)
	_, err = stdout.Write(append(out, '\n'))
	return err
}

// batchLine is one NDJSON request; Expression is a pointer to tell a missing one from "".
type batchLine struct {
	Resource   json.RawMessage `json:"resource"`
	Expression *string         `json:"expression"`
}

type compiled struct {
	expr *fhirpath.Expr
	err  error
}

// fhirpathBatch answers each stdin line with one stdout line. Only a read or write failure
// stops it; problems with a line become that line's error.
func fhirpathBatch(stdin io.Reader, stdout io.Writer) error {
	r := bufio.NewReaderSize(stdin, 64<<10)
	w := bufio.NewWriterSize(stdout, 64<<10)
	cache := map[string]compiled{}
	var out []byte
	for {
		line, tooLong, err := readLine(r, maxBatchLine)
		if err == io.EOF && line == nil && !tooLong {
			break
		}
		if err != nil && err != io.EOF {
			w.Flush()
			return err
		}
		out = out[:0]
		if tooLong {
			out = appendError(out, fmt.Errorf("line longer than %d bytes", maxBatchLine))
		} else {
			out = answerLine(out, line, cache)
		}
		if _, werr := w.Write(append(out, '\n')); werr != nil {
			return werr
		}
		// Flush before blocking on input, so that a caller writing one line at a time and
		// waiting for each answer does not deadlock.
		if err == io.EOF || r.Buffered() == 0 {
			if werr := w.Flush(); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			break
		}
	}
	return w.Flush()
}

// readLine returns the next line without its line ending. A line over max bytes is consumed
// and reported as tooLong with no data. At end of input it returns io.EOF, with the last
// line if it had no final newline.
func readLine(r *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := r.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > max+2 { // room for "\r\n"
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if tooLong {
			return nil, true, err
		}
		if err == io.EOF && len(line) == 0 {
			return nil, false, io.EOF
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > max {
			return nil, true, err
		}
		if line == nil {
			line = []byte{}
		}
		return line, false, err
	}
}

// answerLine appends the answer to one request line. A defect while handling one line must
// not end the whole stream, so panics become that line's error.
func answerLine(out, line []byte, cache map[string]compiled) (res []byte) {
	defer func() {
		if r := recover(); r != nil {
			res = appendError(out, fmt.Errorf("internal error: %v", r))
		}
	}()
	items, err := evalLine(line, cache)
	if err != nil {
		return appendError(out, err)
	}
	out = append(out, `{"result":`...)
	out = appendItems(out, items)
	return append(out, '}')
}

func evalLine(line []byte, cache map[string]compiled) ([]*fhir.Node, error) {
	if len(bytes.TrimSpace(line)) == 0 {
		return nil, errors.New("empty line")
	}
	var req batchLine
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid JSON: data after the object")
	}
	if req.Expression == nil {
		return nil, errors.New(`missing "expression"`)
	}
	c, ok := cache[*req.Expression]
	if !ok {
		if len(cache) >= maxCachedExprs {
			clear(cache)
		}
		e, err := fhirpath.Compile(*req.Expression)
		c = compiled{e, err}
		cache[*req.Expression] = c
	}
	if c.err != nil {
		return nil, c.err
	}
	var focus *fhir.Node
	if raw := bytes.TrimSpace(req.Resource); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		res, err := fhir.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("invalid resource: %w", err)
		}
		focus = res.Root
	}
	return c.expr.Evaluate(focus)
}

func appendError(b []byte, err error) []byte {
	b = append(b, `{"error":`...)
	b = appendJSONString(b, err.Error())
	return append(b, '}')
}

// appendItems appends a FHIRPath collection as a JSON array.
func appendItems(b []byte, items []*fhir.Node) []byte {
	b = append(b, '[')
	for i, n := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendItem(b, n)
	}
	return append(b, ']')
}

// appendItem appends one item as FHIR JSON: primitives as bare JSON values, complex elements
// and resources as objects.
func appendItem(b []byte, n *fhir.Node) []byte {
	switch {
	case n.Type == "System.Quantity":
		b = append(b, '{')
		b = append(b, `"value":`...)
		b = appendValue(b, n.First("value").Value)
		if u := n.First("unit"); u != nil {
			b = append(b, `,"unit":`...)
			b = appendValue(b, u.Value)
		}
		return append(b, '}')
	case strings.HasPrefix(n.Type, "System.") && len(n.Children) > 0:
		return appendBare(b, n) // type() results: SimpleTypeInfo and ClassInfo
	case strings.HasPrefix(n.Type, "System."), n.IsPrimitive() && n.Value != nil:
		return appendValue(b, n.Value)
	case builtByEngine(n):
		return appendBare(b, n)
	}
	// A primitive with only extensions comes out as its "_name" companion object.
	return append(b, fhir.Marshal(n)...)
}

// builtByEngine reports whether a descendant of n lacks a definition, as in the nodes
// resolve() makes; fhir.Marshal needs definitions to tell arrays from single values.
func builtByEngine(n *fhir.Node) bool {
	for _, c := range n.Children {
		if c.Def == nil || builtByEngine(c) {
			return true
		}
	}
	return false
}

// appendBare writes a node without definitions: children by name, an array where a name
// repeats.
func appendBare(b []byte, n *fhir.Node) []byte {
	b = append(b, '{')
	first := true
	if n.IsResource() {
		b = append(b, `"resourceType":`...)
		b = appendJSONString(b, n.Type)
		first = false
	}
	for i := 0; i < len(n.Children); {
		j := i + 1
		for j < len(n.Children) && n.Children[j].Name == n.Children[i].Name {
			j++
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, n.Children[i].Name)
		b = append(b, ':')
		if j-i == 1 {
			b = appendItem(b, n.Children[i])
		} else {
			b = appendItems(b, n.Children[i:j])
		}
		i = j
	}
	return append(b, '}')
}

func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		if x {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case json.Number:
		// Decimals keep their digits as written; anything that is not a JSON number is
		// quoted rather than producing invalid output.
		if json.Valid([]byte(x)) {
			return append(b, x...)
		}
		return appendJSONString(b, string(x))
	case string:
		return appendJSONString(b, x)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return appendJSONString(b, fmt.Sprint(v))
	}
	return append(b, data...)
}

// appendJSONString escapes like fhir.Marshal, falling back to encoding/json (which replaces
// invalid UTF-8) for strings such as error messages quoting bad input.
func appendJSONString(b []byte, s string) []byte {
	if utf8.ValidString(s) {
		return fhir.AppendJSONString(b, s)
	}
	data, _ := json.Marshal(s)
	return append(b, data...)
}
