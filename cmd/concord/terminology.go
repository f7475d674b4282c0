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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/concord-health/concord/terminology"
	"github.com/concord-health/concord/terminology/snomed"
)

const terminologyUsage = `usage: concord terminology load snomed [--data DIR] [--module SCTID] PATH…

Loads a SNOMED CT RF2 release (snapshot folders or release .zip files; an international
release and its extensions, e.g. the UK clinical and drug extensions, load into one edition)
into the terminology index of the data directory, which concord serve reads at start. The
previous edition stays in place until the new one is complete.`

func terminologyCmd(args []string, stderr io.Writer) error {
	if len(args) < 2 || args[0] != "load" {
		fmt.Fprintln(stderr, terminologyUsage)
		return errors.New("usage: concord terminology load KIND PATH…")
	}
	switch args[1] {
	case "snomed":
		return loadSNOMED(args[2:], stderr)
	}
	return fmt.Errorf("terminology load: %q is not a kind this version loads (snomed)", args[1])
}

func loadSNOMED(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("terminology load snomed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", envDefault("data", "./data"), "data directory (CONCORD_DATA)")
	module := fs.String("module", "", "the edition's module id for the version URI, e.g. 83821000000107 for the UK edition (default: the module holding most concepts of the last release)")
	noCheck := fs.Bool("no-check-digits", false, "accept SCTIDs whose check digit or partition is wrong (hand-made test content only)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), terminologyUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("no release to load")
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

	var last atomic.Pointer[snomed.Progress]
	opts.Progress = func(p snomed.Progress) { last.Store(&p) }
	start := time.Now()
	done := make(chan struct{})
	tty := isTerminal(os.Stderr) && stderr == io.Writer(os.Stderr)
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if p := last.Load(); p != nil && tty {
					fmt.Fprintf(stderr, "\r%s", progressLine(p, time.Since(start)))
				}
			}
		}
	}()
	e, err := snomed.Load(ctx, fs.Args(), opts)
	close(done)
	if tty {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		return err
	}
	if err := e.Save(*data); err != nil {
		return err
	}
	st := e.Stats()
	slog.Info("SNOMED CT loaded", "version", e.Version(), "concepts", e.Len(), "files", st.Files,
		"rows", st.Rows, "skipped dangling rows", st.Dangling, "took", time.Since(start).Round(time.Millisecond),
		"index", *data)
	return nil
}

func progressLine(p *snomed.Progress, elapsed time.Duration) string {
	pct := 0.0
	if p.BytesTotal > 0 {
		pct = 100 * float64(p.BytesRead) / float64(p.BytesTotal)
	}
	if p.Stage == "index" {
		return fmt.Sprintf("building the index… %d rows read  %s   ", p.Rows, elapsed.Round(time.Second))
	}
	return fmt.Sprintf("%5.1f%%  %d rows  %s  %s   ", pct, p.Rows, elapsed.Round(time.Second), p.File)
}

// openSNOMED plugs the SNOMED CT edition saved in the data directory, if any, into the
// terminology service.
func openSNOMED(data string, terms *terminology.Service, log *slog.Logger) error {
	e, err := snomed.Open(data)
	if errors.Is(err, snomed.ErrNoIndex) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("SNOMED CT index: %w", err)
	}
	terms.AddProvider(snomed.NewProvider(e))
	maps := snomed.MapProviders(e)
	for _, m := range maps {
		terms.AddMapProvider(m)
	}
	log.Info("SNOMED CT", "version", e.Version(), "concepts", e.Len(), "maps", len(maps))
	return nil
}
