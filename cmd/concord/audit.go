package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/concord-health/concord/audit"
)

const auditUsage = `usage:
  concord audit verify [--data DIR | --database postgres://…] [--expect SEQ:HASH]
      checks the audit log's hash chain end to end; prints the entries and the head
      (SEQ:HASH, worth keeping elsewhere and passing as --expect later: the chain alone
      cannot show that its newest entries were cut off) and exits 0 when intact, else names
      the first broken entry and exits 1`

func auditCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprintln(stderr, auditUsage)
		return errors.New("usage: concord audit verify …")
	}
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", envDefault("data", "./data"), "data directory (CONCORD_DATA)")
	database := fs.String("database", envDefault("database", ""), "postgres://… URL (CONCORD_DATABASE)")
	var anchors []audit.Anchor
	fs.Func("expect", "SEQ:HASH of an earlier head the chain must still hold (repeatable)", func(s string) error {
		a, err := audit.ParseAnchor(s)
		if err == nil {
			anchors = append(anchors, a)
		}
		return err
	})
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("audit verify takes no arguments, got %q", fs.Args())
	}
	cfg := audit.Config{DataDir: *data}
	if strings.HasPrefix(*database, "postgres://") || strings.HasPrefix(*database, "postgresql://") {
		cfg = audit.Config{DatabaseURL: *database}
	} else if *database != "" {
		return errors.New("audit verify: --database takes a postgres:// URL; the embedded log is DIR/" + audit.FileName + " of --data")
	} else if _, err := os.Stat(filepath.Join(*data, audit.FileName)); err != nil {
		// Opening would create an empty log, which verifies, and say nothing useful.
		return fmt.Errorf("audit verify: no audit log in %s: %w", *data, err)
	}
	ctx := context.Background()
	log, err := audit.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer log.Close()
	rep, err := audit.Verify(ctx, log, anchors...)
	if err != nil {
		return err
	}
	if err := rep.Err(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, rep)
	return nil
}
