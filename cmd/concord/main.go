// Command concord runs the Concord interoperability hub.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/server"
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
	srv := &http.Server{Addr: *addr, Handler: server.New(reg), ReadHeaderTimeout: 10 * time.Second}
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
