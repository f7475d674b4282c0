package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/interaction"
)

// ndjsonChunk is how many NDJSON lines go into one transaction.
const ndjsonChunk = 1000

func importCmd(args []string) error {
	fset := flag.NewFlagSet("import", flag.ExitOnError)
	data := fset.String("data", envDefault("data", "./data"), "data directory for the embedded SQLite store (CONCORD_DATA)")
	database := fset.String("database", envDefault("database", ""), "postgres://… URL to use PostgreSQL instead (CONCORD_DATABASE)")
	workers := fset.Int("workers", runtime.GOMAXPROCS(0), "files processed in parallel")
	vf := addValidationFlags(fset)
	fset.Usage = func() {
		fmt.Fprintln(fset.Output(), "usage: concord import [--data DIR | --database URL] FILE|DIR…\n\nLoads transaction, batch and collection Bundles (.json) and NDJSON files (.ndjson).")
		fset.PrintDefaults()
	}
	fset.Parse(args)
	if fset.NArg() == 0 {
		fset.Usage()
		return errors.New("no files to import")
	}
	policy, err := vf.policy()
	if err != nil {
		return err
	}
	files, total, err := collectFiles(fset.Args())
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	svc, st, err := openService(ctx, *data, *database)
	if err != nil {
		return err
	}
	defer st.Close()
	svc.Validation = policy
	if policy.Mode(interaction.SourceImport) != interaction.ValidateOff {
		if err := attachConformance(ctx, svc, vf.config(), *data, slog.Default()); err != nil {
			return err
		}
	}

	p := &progress{total: total, files: len(files), start: time.Now(), out: os.Stderr}
	p.tty = isTerminal(os.Stderr)
	stopBar := p.run()
	work := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for range max(1, *workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				if err := importFile(ctx, svc, f, p); err != nil {
					mu.Lock()
					failures = append(failures, f+": "+err.Error())
					mu.Unlock()
					p.failed.Add(1)
				}
				p.filesDone.Add(1)
			}
		}()
	}
	for _, f := range files {
		if ctx.Err() != nil {
			break
		}
		work <- f
	}
	close(work)
	wg.Wait()
	stopBar()
	elapsed := time.Since(p.start)
	n := p.resources.Load()
	fmt.Fprintf(os.Stderr, "imported %d of %d files: %d resources (%d created, %d updated, %d unchanged, %d deleted) in %.1fs, %.0f resources/s\n",
		p.filesDone.Load()-p.failed.Load(), len(files), n, p.created.Load(), p.updated.Load(), p.unchanged.Load(), p.deleted.Load(),
		elapsed.Seconds(), float64(n)/elapsed.Seconds())
	for _, f := range failures {
		fmt.Fprintln(os.Stderr, "failed:", f)
	}
	if len(failures) > 0 {
		return fmt.Errorf("%d of %d files failed (nothing of a failed file was written)", len(failures), len(files))
	}
	return ctx.Err()
}

// collectFiles expands directories into their .json and .ndjson files, in name order.
func collectFiles(args []string) ([]string, int64, error) {
	var files []string
	var total int64
	for _, a := range args {
		info, err := os.Stat(a)
		if err != nil {
			return nil, 0, err
		}
		if !info.IsDir() {
			files = append(files, a)
			total += info.Size()
			continue
		}
		err = filepath.WalkDir(a, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !(strings.HasSuffix(path, ".json") || strings.HasSuffix(path, ".ndjson")) {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			files = append(files, path)
			total += fi.Size()
			return nil
		})
		if err != nil {
			return nil, 0, err
		}
	}
	return files, total, nil
}

func importFile(ctx context.Context, svc *interaction.Service, path string, p *progress) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if strings.HasSuffix(path, ".ndjson") {
		return importNDJSON(ctx, svc, f, p)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	defer p.bytes.Add(int64(len(b)))
	res, err := fhir.Parse(b)
	if err != nil {
		return err
	}
	var items []interaction.LoadItem
	switch typ := res.Root.Text("type"); {
	case res.Type == "Bundle" && (typ == "transaction" || typ == "batch" || typ == "collection" || typ == "searchset" || typ == "history"):
		items = interaction.BundleItems(res)
	default:
		items = []interaction.LoadItem{{Resource: res}}
	}
	return load(ctx, svc, items, p)
}

func importNDJSON(ctx context.Context, svc *interaction.Service, r io.Reader, p *progress) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var items []interaction.LoadItem
	line := 0
	var pending int64
	for sc.Scan() {
		line++
		raw := bytes.TrimSpace(sc.Bytes())
		pending += int64(len(sc.Bytes()) + 1)
		if len(raw) == 0 {
			continue
		}
		res, err := fhir.Parse(raw)
		if err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		items = append(items, interaction.LoadItem{Resource: res})
		if len(items) == ndjsonChunk {
			if err := load(ctx, svc, items, p); err != nil {
				return fmt.Errorf("lines up to %d: %w", line, err)
			}
			items = items[:0]
			p.bytes.Add(pending)
			pending = 0
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(items) > 0 {
		if err := load(ctx, svc, items, p); err != nil {
			return fmt.Errorf("lines up to %d: %w", line, err)
		}
	}
	p.bytes.Add(pending)
	return nil
}

func load(ctx context.Context, svc *interaction.Service, items []interaction.LoadItem, p *progress) error {
	r, err := svc.Load(ctx, items)
	if err != nil {
		return err
	}
	p.created.Add(int64(r.Created))
	p.updated.Add(int64(r.Updated))
	p.unchanged.Add(int64(r.Unchanged))
	p.deleted.Add(int64(r.Deleted))
	p.resources.Add(int64(r.Created + r.Updated + r.Unchanged + r.Deleted))
	return nil
}

// progress draws a progress bar on stderr: in place on a terminal, a line every few
// seconds otherwise (logs).
type progress struct {
	total                                        int64
	files                                        int
	start                                        time.Time
	out                                          io.Writer
	tty                                          bool
	bytes, resources                             atomic.Int64
	created, updated, unchanged, deleted, failed atomic.Int64
	filesDone                                    atomic.Int64
}

func (p *progress) line() string {
	done := p.bytes.Load()
	frac := 1.0
	if p.total > 0 {
		frac = min(1, float64(done)/float64(p.total))
	}
	const width = 30
	fill := int(frac * width)
	bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
	el := time.Since(p.start).Seconds()
	return fmt.Sprintf("[%s] %3.0f%%  files %d/%d  resources %d  %.0f/s", bar, frac*100,
		p.filesDone.Load(), p.files, p.resources.Load(), float64(p.resources.Load())/max(el, 0.001))
}

// run starts drawing and returns the function that stops it.
func (p *progress) run() func() { return drawProgress(p.out, p.tty, p.line) }

// drawProgress redraws line in place every 200 ms on a terminal, or prints it every five
// seconds otherwise (logs), until the function it returns is called, which draws it a
// last time.
func drawProgress(out io.Writer, tty bool, line func() string) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		every := 200 * time.Millisecond
		if !tty {
			every = 5 * time.Second
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				if tty {
					fmt.Fprintf(out, "\r%s\033[K\n", line())
				}
				return
			case <-t.C:
				if tty {
					fmt.Fprintf(out, "\r%s\033[K", line())
				} else {
					fmt.Fprintln(out, line())
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
