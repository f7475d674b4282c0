// Command concord runs the Concord interoperability hub.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/interaction"
	"github.com/concord-health/concord/search"
	"github.com/concord-health/concord/store"
	"github.com/concord-health/concord/store/postgres"
	"github.com/concord-health/concord/store/sqlite"
)

const usage = `usage:
  concord serve  [--addr 127.0.0.1:8080] [--data DIR | --database postgres://…] [--max-body BYTES]
                 [--mllp-addr 127.0.0.1:2575] [--channels FILE]
  concord import [--data DIR | --database postgres://…] FILE|DIR…
  concord fhirpath [-r RESOURCE.json|-] EXPR | --batch
  concord validate [--packages PATH…] [--profile URL] FILE…
  concord terminology load snomed|dmd|icd10|icd10-who|opcs4 [--data DIR] RELEASE…
  concord hl7 send --addr HOST:PORT FILE…
  concord audit verify [--data DIR | --database URL] [--expect SEQ:HASH]
  concord token --data DIR --system | --user ID --org ODS --role CODE [--purpose TREAT] [--patient ID] [--scope …] [--ttl 1h]
  concord hl7 deadletters list|show|replay [--data DIR | --database URL] …

Every serve and import flag also reads from a CONCORD_… environment variable (--max-body: CONCORD_MAX_BODY).`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "import":
		err = importCmd(os.Args[2:])
	case "fhirpath":
		err = fhirpathCmd(os.Args[2:], os.Stdin, os.Stdout, os.Stderr)
	case "validate":
		err = validateCmd(os.Args[2:], os.Stdout, os.Stderr)
	case "terminology":
		err = terminologyCmd(os.Args[2:], os.Stderr)
	case "hl7":
		err = hl7Cmd(os.Args[2:], os.Stdout, os.Stderr)
	case "token":
		err = tokenCmd(os.Args[2:], os.Stdout, os.Stderr)
	case "audit":
		err = auditCmd(os.Args[2:], os.Stdout, os.Stderr)
	case "help", "-h", "--help":
		fmt.Println(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "concord: unknown command %q\n%s\n", os.Args[1], usage)
		os.Exit(2)
	}
	if errors.Is(err, errInvalid) {
		os.Exit(1) // the outcomes printed say why
	}
	if err != nil {
		slog.Error(os.Args[1], "err", err)
		os.Exit(1)
	}
}

// envDefault returns the CONCORD_… environment variable for a flag, or def.
func envDefault(name, def string) string {
	if v, ok := os.LookupEnv("CONCORD_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))); ok {
		return v
	}
	return def
}

// openStore opens PostgreSQL when database is a postgres:// URL, else SQLite (in the database
// file when given, in the data directory otherwise).
func openStore(ctx context.Context, data, database string) (store.Store, error) {
	switch {
	case strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://"):
		return postgres.Open(ctx, database)
	case database != "":
		return sqlite.OpenFile(ctx, database)
	}
	return sqlite.Open(ctx, data)
}

// openService opens the store the flags name and the interaction layer over it; the caller
// closes the store.
func openService(ctx context.Context, data, database string) (*interaction.Service, store.Store, error) {
	st, err := openStore(ctx, data, database)
	if err != nil {
		return nil, nil, err
	}
	svc, err := newService(st)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return svc, st, nil
}

// newService wires the store to the interaction layer with the official definitions.
func newService(st store.Store) (*interaction.Service, error) {
	reg := definitions.R4()
	ix, err := search.NewExtractor(reg)
	if err != nil {
		return nil, err
	}
	return interaction.New(st, reg, ix), nil
}
