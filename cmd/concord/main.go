// Command concord runs the Concord interoperability hub.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: concord serve [--addr 127.0.0.1:8080] [--data DIR]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		if err := serve(os.Args[2:]); err != nil {
			slog.Error("serve", "err", err)
			os.Exit(1)
		}
	default:
		fmt.Fprintf(os.Stderr, "concord: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
}

// envDefault returns the CONCORD_… environment variable for a flag, or def.
func envDefault(name, def string) string {
	if v, ok := os.LookupEnv("CONCORD_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))); ok {
		return v
	}
	return def
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", envDefault("addr", "127.0.0.1:8080"), "listen address (CONCORD_ADDR)")
	data := fs.String("data", envDefault("data", "./data"), "data directory (CONCORD_DATA)")
	fs.Parse(args)
	if err := os.MkdirAll(*data, 0o750); err != nil {
		return err
	}
	reg := definitions.R4()
	srv := &http.Server{Addr: *addr, Handler: newHandler(reg), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	slog.Info("concord listening", "base", "http://"+*addr+"/fhir")
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

const maxBody = 16 << 20

func newHandler(reg *definitions.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fhir/metadata", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, capabilityStatement(reg))
	})
	// $validate runs the structural checks every write will pass through.
	mux.HandleFunc("POST /fhir/{type}/$validate", func(w http.ResponseWriter, r *http.Request) {
		typ := r.PathValue("type")
		if !reg.IsResource(typ) {
			writeOutcome(w, fhir.Errorf(404, fhir.IssueNotSupported, "unknown resource type %q", typ))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			writeOutcome(w, fhir.Errorf(413, fhir.IssueTooLong, "request body larger than %d bytes", maxBody))
			return
		}
		res, err := fhir.Parse(body)
		if err != nil {
			writeOutcome(w, fhir.AsError(err))
			return
		}
		if res.Type != typ {
			writeOutcome(w, fhir.Errorf(400, fhir.IssueInvalid, "resourceType %s does not match %s", res.Type, typ))
			return
		}
		writeJSON(w, 200, fhir.OperationOutcome())
	})
	return mux
}

func writeOutcome(w http.ResponseWriter, e *fhir.Error) {
	writeJSON(w, e.Status, fhir.OperationOutcome(e.Issues...))
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/fhir+json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(body)
}

func capabilityStatement(reg *definitions.Registry) []byte {
	var b strings.Builder
	b.WriteString(`{"resourceType":"CapabilityStatement","status":"active","date":"2026-11-26","kind":"instance","fhirVersion":"` + definitions.FHIRVersion + `","format":["json"],"software":{"name":"Concord"},"rest":[{"mode":"server","resource":[`)
	for i, t := range reg.ResourceTypes() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"type":"` + t + `","operation":[{"name":"validate","definition":"http://hl7.org/fhir/OperationDefinition/Resource-validate"}]}`)
	}
	b.WriteString(`]}]}`)
	return []byte(b.String())
}
