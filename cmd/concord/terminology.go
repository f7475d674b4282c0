package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/terminology"
	"github.com/concord-health/concord/terminology/dmd"
	"github.com/concord-health/concord/terminology/icd10"
	"github.com/concord-health/concord/terminology/opcs4"
	"github.com/concord-health/concord/terminology/snomed"
)

const terminologyUsage = `usage: concord terminology load KIND [--data DIR] PATH…

Loads a terminology release into the terminology index of the data directory, which
concord serve reads at start. The previous content of that KIND stays in place until the
new one is complete. KIND is one of:

  snomed     SNOMED CT RF2 snapshots (folders or release .zip files; an international
             release and its extensions, e.g. the UK clinical and drug extensions, load
             into one edition), with their map refsets to ICD-10 and OPCS-4
  dmd        the NHS dm+d XML release (folder or the TRUD .zip), linked to SNOMED CT
  icd10      the NHS ICD-10 5th Edition data files (folder, file or the TRUD .zip)
  icd10-who  the WHO ICD-10 classification in ClaML (an .xml file, folder or .zip)
  opcs4      the NHS OPCS-4 data files (folder, file or the TRUD .zip)`

func terminologyCmd(args []string, stderr io.Writer) error {
	if len(args) < 2 || args[0] != "load" {
		fmt.Fprintln(stderr, terminologyUsage)
		return errors.New("usage: concord terminology load KIND PATH…")
	}
	switch args[1] {
	case "snomed":
		return loadSNOMED(args[2:], stderr)
	case "dmd":
		return loadDMD(args[2:], stderr)
	case "icd10", "icd10-who", "opcs4":
		return loadClassification(args[1], args[2:], stderr)
	}
	return fmt.Errorf("terminology load: %q is not a kind this version loads (snomed, dmd, icd10, icd10-who, opcs4)", args[1])
}

// terminologyFlags are the flags every kind takes.
func terminologyFlags(kind string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("terminology load "+kind, flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", envDefault("data", "./data"), "data directory (CONCORD_DATA)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), terminologyUsage)
		fs.PrintDefaults()
	}
	return fs, data
}

// parseRelease parses a load's flags; the release paths are the arguments left, and there
// must be one at least.
func parseRelease(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("no release to load")
	}
	return nil
}

func loadSNOMED(args []string, stderr io.Writer) error {
	fs, data := terminologyFlags("snomed", stderr)
	module := fs.String("module", "", "the edition's module id for the version URI, e.g. 83821000000107 for the UK edition (default: the module holding most concepts of the last release)")
	noCheck := fs.Bool("no-check-digits", false, "accept SCTIDs whose check digit or partition is wrong (hand-made test content only)")
	if err := parseRelease(fs, args); err != nil {
		return err
	}
	opts := snomed.Options{NoCheckDigits: *noCheck}
	if *module != "" {
		m, err := strconv.ParseUint(*module, 10, 64)
		if err != nil {
			return fmt.Errorf("--module %q is not an SCTID", *module)
		}
		opts.Module = m
	}
	// A release is read whole before the index is built; a soft limit keeps the peak well
	// inside what the machine has, at the cost of more collection.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(1 << 30)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	bar := newLoadBar(stderr)
	opts.Progress = func(p snomed.Progress) {
		bar.set(loadState{file: p.File, done: p.BytesRead, total: p.BytesTotal, rows: int64(p.Rows), indexing: p.Stage == "index"})
	}
	stopBar := bar.run()
	e, err := snomed.Load(ctx, fs.Args(), opts)
	stopBar()
	if err != nil {
		return err
	}
	if err := e.Save(*data); err != nil {
		return err
	}
	st := e.Stats()
	slog.Info("SNOMED CT loaded", "version", e.Version(), "concepts", e.Len(), "files", st.Files,
		"rows", st.Rows, "skipped dangling rows", st.Dangling, "map refsets", len(e.MapRefsets()),
		"took", time.Since(bar.start).Round(time.Millisecond), "index", *data)
	return nil
}

func loadDMD(args []string, stderr io.Writer) error {
	fs, data := terminologyFlags("dmd", stderr)
	if err := parseRelease(fs, args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	bar := newLoadBar(stderr)
	stopBar := bar.run()
	r, err := dmd.Load(ctx, fs.Args(), dmd.Options{Progress: func(p dmd.Progress) {
		bar.set(loadState{file: p.File, done: p.BytesRead, total: p.BytesTotal, rows: int64(p.Records)})
	}})
	stopBar()
	if err != nil {
		return err
	}
	if err := r.Save(*data); err != nil {
		return err
	}
	slog.Info("dm+d loaded", "version", r.Version(), "products", r.Len(), "took", time.Since(bar.start).Round(time.Millisecond), "index", *data)
	return nil
}

// loadClassification loads ICD-10 or OPCS-4, which are small enough to be held as FHIR
// CodeSystems: the release becomes one CodeSystem resource saved in the data directory.
func loadClassification(kind string, args []string, stderr io.Writer) error {
	fs, data := terminologyFlags(kind, stderr)
	if err := parseRelease(fs, args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	var cs *fhir.Resource
	var err error
	save := icd10.Save
	switch kind {
	case "icd10":
		cs, err = icd10.Load(ctx, fs.Args())
	case "icd10-who":
		cs, err = icd10.LoadClaML(ctx, fs.Args())
	case "opcs4":
		cs, err = opcs4.Load(ctx, fs.Args())
		save = opcs4.Save
	}
	if err != nil {
		return err
	}
	if err := save(*data, cs); err != nil {
		return err
	}
	slog.Info("code system loaded", "url", cs.Root.Text("url"), "version", cs.Root.Text("version"),
		"concepts", cs.Root.Text("count"), "took", time.Since(start).Round(time.Millisecond), "data", *data)
	return nil
}

// loadState is how far a terminology load has got.
type loadState struct {
	file        string
	done, total int64 // bytes
	rows        int64
	indexing    bool // reading is over; the index is being built
}

// loadBar draws a terminology load's progress on stderr: in place on a terminal, a line
// every few seconds otherwise (logs).
type loadBar struct {
	out   io.Writer
	tty   bool
	start time.Time
	state atomic.Pointer[loadState]
}

func newLoadBar(stderr io.Writer) *loadBar {
	return &loadBar{out: stderr, tty: stderr == io.Writer(os.Stderr) && isTerminal(os.Stderr), start: time.Now()}
}

func (b *loadBar) set(s loadState) { b.state.Store(&s) }

func (b *loadBar) line() string {
	s := b.state.Load()
	if s == nil {
		return "starting…"
	}
	el := time.Since(b.start).Round(time.Second)
	if s.indexing {
		return fmt.Sprintf("building the index…  %d rows read  %s", s.rows, el)
	}
	frac := 0.0
	if s.total > 0 {
		frac = min(1, float64(s.done)/float64(s.total))
	}
	const width = 30
	fill := int(frac * width)
	return fmt.Sprintf("[%s%s] %3.0f%%  %d rows  %s  %s", strings.Repeat("=", fill), strings.Repeat(" ", width-fill),
		frac*100, s.rows, el, s.file)
}

// run starts drawing and returns the function that stops it.
func (b *loadBar) run() func() { return drawProgress(b.out, b.tty, b.line) }

// openTerminology plugs what `concord terminology load` saved in the data directory into
// the terminology service: the SNOMED CT edition with its maps, dm+d, ICD-10 and OPCS-4.
func openTerminology(data string, terms *terminology.Service, log *slog.Logger) error {
	e, err := snomed.Open(data)
	switch {
	case errors.Is(err, snomed.ErrNoIndex):
	case err != nil:
		return fmt.Errorf("SNOMED CT index: %w", err)
	default:
		terms.AddProvider(snomed.NewProvider(e))
		maps := snomed.MapProviders(e)
		for _, m := range maps {
			terms.AddMapProvider(m)
		}
		log.Info("SNOMED CT", "version", e.Version(), "concepts", e.Len(), "maps", len(maps))
	}
	switch r, err := dmd.Open(data); {
	case errors.Is(err, dmd.ErrNoIndex):
	case err != nil:
		return fmt.Errorf("dm+d index: %w", err)
	default:
		var opts []dmd.ProviderOption
		if e != nil {
			// dm+d products are concepts of the UK drug extension: lookups say when the
			// SNOMED CT edition holds the same id.
			opts = append(opts, dmd.WithSNOMED(e))
		}
		terms.AddProvider(dmd.NewProvider(r, opts...))
		log.Info("dm+d", "version", r.Version(), "products", r.Len())
	}
	for _, open := range []func(string) ([]*fhir.Resource, error){icd10.Open, opcs4.Open} {
		list, err := open(data)
		if errors.Is(err, icd10.ErrNoIndex) || errors.Is(err, opcs4.ErrNoIndex) {
			continue
		}
		if err != nil {
			return err
		}
		for _, cs := range list {
			if err := terms.Add(cs); err != nil {
				return fmt.Errorf("%s: %w", cs.Root.Text("url"), err)
			}
			log.Info("code system", "url", cs.Root.Text("url"), "version", cs.Root.Text("version"), "concepts", cs.Root.Text("count"))
		}
	}
	return nil
}
