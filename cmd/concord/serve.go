package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/concord-health/concord/events"
	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/server"
)

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", envDefault("addr", "127.0.0.1:8080"), "listen address (CONCORD_ADDR)")
	data := fs.String("data", envDefault("data", "./data"), "data directory for the embedded SQLite store (CONCORD_DATA)")
	database := fs.String("database", envDefault("database", ""), "postgres://… URL to use PostgreSQL instead (CONCORD_DATABASE)")
	maxBodyDefault, _ := strconv.ParseInt(envDefault("max-body", strconv.Itoa(server.DefaultMaxBody)), 10, 64)
	maxBody := fs.Int64("max-body", maxBodyDefault, "largest request body in bytes (CONCORD_MAX_BODY)")
	debugAddr := fs.String("debug-addr", envDefault("debug-addr", ""), "if set, serve Go runtime profiles (/debug/pprof/) on this address, e.g. 127.0.0.1:6060 (CONCORD_DEBUG_ADDR)")
	vf := addValidationFlags(fs)
	mf := addMLLPFlags(fs)
	fs.Parse(args)
	policy, err := vf.policy()
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
	if err := attachConformance(ctx, svc, vf.config(), *data, slog.Default()); err != nil {
		return err
	}
	engine, stopIntegration, err := startIntegration(ctx, mf, svc, st, slog.Default())
	if err != nil {
		return err
	}
	defer stopIntegration()
	// Subscriptions: the dispatcher hears of writes through the service, so it is made
	// before the service serves; it stops with ctx, before the store closes.
	dispatcher, err := events.NewDispatcher(st, svc, events.Options{Base: "http://" + *addr + "/fhir", Logger: slog.Default()})
	if err != nil {
		return err
	}
	dispatchCtx, stopDispatch := context.WithCancel(ctx)
	dispatched := make(chan struct{})
	go func() {
		defer close(dispatched)
		if err := dispatcher.Run(dispatchCtx); err != nil && dispatchCtx.Err() == nil {
			slog.Error("subscriptions", "err", err)
		}
	}()
	defer func() { stopDispatch(); <-dispatched }()
	fhir := server.New(svc, definitions.R4(), server.Options{MaxBody: *maxBody})
	srv := &http.Server{Addr: *addr, Handler: adminHandler(fhir, engine),
		ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	// Requests in flight finish before the store closes: serve returns only once Shutdown
	// has drained them.
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	backend := "sqlite:" + *data
	if *database != "" {
		backend = "database"
	}
	if *debugAddr != "" {
		go serveDebug(*debugAddr)
	}
	slog.Info("concord listening", "base", "http://"+*addr+"/fhir", "store", backend, "validate", svc.Validation.String())
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-drained
	return nil
}

// serveDebug serves the Go runtime profiles on their own listener, so they are never
// reachable through the FHIR address.
func serveDebug(addr string) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	slog.Info("debug profiles", "addr", "http://"+addr+"/debug/pprof/")
	if err := http.ListenAndServe(addr, mux); err != nil {
		slog.Error("debug listener", "err", err)
	}
}
