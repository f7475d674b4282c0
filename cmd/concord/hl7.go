package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/concord-health/concord/integration"
	"github.com/concord-health/concord/integration/hl7v2"
	"github.com/concord-health/concord/integration/mllp"
	"github.com/concord-health/concord/interaction"
	"github.com/concord-health/concord/store"
)

const hl7Usage = `usage:
  concord hl7 send --addr HOST:PORT [--tls] [--ca FILE] [--timeout 30s] FILE…
      sends each message of the files (one message, several, or a batch file) over MLLP
      and prints each acknowledgement; exits 1 when any is not positive (AA/CA)
  concord hl7 deadletters list [--data DIR | --database URL] [--channel NAME] [--limit N]
      one JSON object per dead letter: seq, channel, type, received, attempts, reason
  concord hl7 deadletters show [--data DIR | --database URL] SEQ
      the dead letter's reason, then the message as received
  concord hl7 deadletters replay [--data DIR | --database URL] SEQ… | --all [--channel NAME]
      makes dead letters pending again; a running server applies them within a second`

func hl7Cmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, hl7Usage)
		return errors.New("usage: concord hl7 send|deadletters …")
	}
	switch args[0] {
	case "send":
		return hl7Send(args[1:], stdout, stderr)
	case "deadletters":
		if len(args) < 2 {
			fmt.Fprintln(stderr, hl7Usage)
			return errors.New("usage: concord hl7 deadletters list|show|replay …")
		}
		return deadLetters(args[1], args[2:], stdout, stderr)
	}
	fmt.Fprintln(stderr, hl7Usage)
	return fmt.Errorf("concord hl7: unknown command %q", args[0])
}

func hl7Send(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hl7 send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "", "the MLLP listener, HOST:PORT")
	useTLS := fs.Bool("tls", false, "connect with TLS")
	ca := fs.String("ca", "", "PEM file of the certificate authorities to trust (with --tls; default: the system's)")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for each acknowledgement")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *addr == "" || fs.NArg() == 0 {
		fmt.Fprintln(stderr, hl7Usage)
		return errors.New("hl7 send needs --addr and at least one file")
	}
	var messages [][]byte
	for _, path := range fs.Args() {
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		b, err := hl7v2.ParseBatch(raw)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, m := range b.Messages() {
			messages = append(messages, m.Encode())
		}
	}
	opts := &mllp.Options{ResponseTimeout: *timeout}
	if *useTLS {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if *ca != "" {
			pem, err := os.ReadFile(*ca)
			if err != nil {
				return err
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return fmt.Errorf("%s holds no PEM certificate", *ca)
			}
		}
		opts.TLSConfig = cfg
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	c, err := mllp.Dial(ctx, *addr, opts)
	if err != nil {
		return err
	}
	defer c.Close()
	negative := 0
	for _, m := range messages {
		ackRaw, err := c.Send(ctx, m)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, strings.TrimRight(strings.ReplaceAll(string(ackRaw), "\r", "\n"), "\n"))
		fmt.Fprintln(stdout)
		ack, err := hl7v2.Parse(ackRaw)
		if code := ""; err == nil {
			code = ack.Get("MSA-1")
			if code != "AA" && code != "CA" {
				negative++
			}
		} else {
			negative++
		}
	}
	if negative > 0 {
		return fmt.Errorf("%w: %d of %d messages were not accepted", errInvalid, negative, len(messages))
	}
	return nil
}

func deadLetters(sub string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hl7 deadletters "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", envDefault("data", "./data"), "data directory (CONCORD_DATA)")
	database := fs.String("database", envDefault("database", ""), "postgres://… URL (CONCORD_DATABASE)")
	channel := fs.String("channel", "", "only this channel")
	limit := fs.Int("limit", 100, "list at most this many")
	all := fs.Bool("all", false, "replay every dead letter (of --channel, when given)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx := context.Background()
	st, err := openStore(ctx, *data, *database)
	if err != nil {
		return err
	}
	defer st.Close()
	inbox, ok := st.(store.Inbox)
	if !ok {
		return errors.New("this store keeps no inbox")
	}
	failed := store.InboxFailed
	switch sub {
	case "list":
		list, err := inbox.List(ctx, store.InboxFilter{Channel: *channel, State: &failed, Limit: *limit})
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		for _, m := range list {
			if err := enc.Encode(map[string]any{"seq": m.Seq, "channel": m.Channel, "type": m.Type,
				"received": m.Received.Format(time.RFC3339), "attempts": m.Attempts, "reason": m.Reason}); err != nil {
				return err
			}
		}
		return nil
	case "show":
		if fs.NArg() != 1 {
			return errors.New("hl7 deadletters show takes one SEQ")
		}
		seq, err := strconv.ParseInt(fs.Arg(0), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a message number", fs.Arg(0))
		}
		m, err := inbox.Get(ctx, seq)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "seq: %d\nchannel: %s\ntype: %s\nstate: %s\nreceived: %s\nattempts: %d\nreason: %s\n\n%s\n",
			m.Seq, m.Channel, m.Type, m.State, m.Received.Format(time.RFC3339), m.Attempts, m.Reason,
			strings.TrimRight(strings.ReplaceAll(string(m.Body), "\r", "\n"), "\n"))
		return nil
	case "replay":
		var seqs []int64
		if *all {
			list, err := inbox.List(ctx, store.InboxFilter{Channel: *channel, State: &failed, Limit: 1 << 30})
			if err != nil {
				return err
			}
			for _, m := range list {
				seqs = append(seqs, m.Seq)
			}
		}
		for _, a := range fs.Args() {
			seq, err := strconv.ParseInt(a, 10, 64)
			if err != nil {
				return fmt.Errorf("%q is not a message number", a)
			}
			seqs = append(seqs, seq)
		}
		if len(seqs) == 0 {
			return errors.New("hl7 deadletters replay: name messages by SEQ, or --all")
		}
		for _, seq := range seqs {
			if err := inbox.Replay(ctx, seq); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%d pending again\n", seq)
		}
		return nil
	}
	fmt.Fprintln(stderr, hl7Usage)
	return fmt.Errorf("concord hl7 deadletters: unknown command %q", sub)
}

// mllpFlags are serve's integration flags.
type mllpFlags struct {
	addr, cert, key, channels *string
}

func addMLLPFlags(fs *flag.FlagSet) mllpFlags {
	return mllpFlags{
		addr:     fs.String("mllp-addr", envDefault("mllp-addr", ""), "if set, take HL7 v2 messages over MLLP on this address, e.g. 127.0.0.1:2575 (CONCORD_MLLP_ADDR)"),
		cert:     fs.String("mllp-tls-cert", envDefault("mllp-tls-cert", ""), "PEM certificate for MLLP over TLS (CONCORD_MLLP_TLS_CERT)"),
		key:      fs.String("mllp-tls-key", envDefault("mllp-tls-key", ""), "PEM key for MLLP over TLS (CONCORD_MLLP_TLS_KEY)"),
		channels: fs.String("channels", envDefault("channels", ""), "YAML file of the HL7 v2 channels (CONCORD_CHANNELS); default: one channel taking every sender"),
	}
}

// startIntegration starts the MLLP listener and the channels' appliers when --mllp-addr is
// set, and returns the engine (nil without it) and the function that stops both.
func startIntegration(ctx context.Context, f mllpFlags, svc *interaction.Service, st store.Store, log *slog.Logger) (*integration.Engine, func(), error) {
	if *f.addr == "" {
		return nil, func() {}, nil
	}
	inbox, ok := st.(store.Inbox)
	if !ok {
		return nil, nil, errors.New("this store keeps no inbox for HL7 v2 channels")
	}
	var cfg *integration.Config
	if *f.channels != "" {
		var err error
		if cfg, err = integration.LoadConfig(*f.channels); err != nil {
			return nil, nil, err
		}
	}
	engine := integration.New(cfg, inbox, svc, integration.Options{Logger: log})
	srv := &mllp.Server{Handler: engine.Handle, OnFrameError: engine.FrameError, Logger: log,
		IdleTimeout: 10 * time.Minute, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, MaxConns: 256}
	if (*f.cert == "") != (*f.key == "") {
		return nil, nil, errors.New("--mllp-tls-cert and --mllp-tls-key go together")
	}
	if *f.cert != "" {
		pair, err := tls.LoadX509KeyPair(*f.cert, *f.key)
		if err != nil {
			return nil, nil, fmt.Errorf("MLLP TLS: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", *f.addr)
	if err != nil {
		return nil, nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	applied := make(chan struct{})
	go func() {
		defer close(applied)
		engine.Run(runCtx)
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, mllp.ErrServerClosed) {
			log.Error("MLLP listener", "err", err)
		}
	}()
	log.Info("MLLP listening", "addr", ln.Addr().String(), "tls", srv.TLSConfig != nil)
	stop := func() {
		// Stop taking messages first, so every message acknowledged is in the inbox; the
		// appliers then stop between transactions.
		shutdown, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		srv.Shutdown(shutdown)
		cancel()
		<-applied
	}
	return engine, stop, nil
}

// adminHandler serves /admin/feeds (the channels' health, JSON) and /metrics (Prometheus)
// next to the FHIR API.
func adminHandler(fhir http.Handler, engine *integration.Engine) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	if engine != nil {
		reg.MustRegister(engine)
	}
	mux := http.NewServeMux()
	mux.Handle("/", fhir)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /admin/feeds", func(w http.ResponseWriter, r *http.Request) {
		feeds := []integration.FeedHealth{}
		if engine != nil {
			feeds = engine.Feeds(r.Context())
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"feeds": feeds})
	})
	return mux
}
