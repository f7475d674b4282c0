package mllp

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// logBuf collects a server's log lines for assertions.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func echo(_ context.Context, _ ConnInfo, msg []byte) []byte { return append([]byte("ACK:"), msg...) }

// start serves s on a loopback port and closes it when the test ends.
func start(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-errc; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return ln.Addr().String()
}

// rawConn is a client speaking MLLP by hand.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	rd *Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, rd: NewReader(nc, 0)}
}

func (c *rawConn) write(s string) {
	c.t.Helper()
	if _, err := c.nc.Write([]byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawConn) read() (string, error) {
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	msg, err := c.rd.ReadMessage()
	return string(msg), err
}

func (c *rawConn) roundTrip(msg string) string {
	c.t.Helper()
	c.write(frame(msg))
	ack, err := c.read()
	if err != nil {
		c.t.Fatalf("no ack for %q: %v", msg, err)
	}
	return ack
}

// expectClosed waits for the server to close the connection.
func (c *rawConn) expectClosed() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, err := c.rd.ReadMessage()
		if err == nil {
			continue
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
			c.t.Fatalf("expected the server to close the connection, got %v", err)
		}
		return
	}
}

func TestServerInOrder(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	var busy atomic.Int32
	s := &Server{Handler: func(ctx context.Context, c ConnInfo, msg []byte) []byte {
		if busy.Add(1) != 1 {
			t.Errorf("handler called concurrently on one connection")
		}
		defer busy.Add(-1)
		mu.Lock()
		seen = append(seen, string(msg))
		mu.Unlock()
		return echo(ctx, c, msg)
	}}
	addr := start(t, s)

	cl, err := Dial(context.Background(), addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range 200 {
		msg := fmt.Sprintf("MSH|%d", i)
		ack, err := cl.Send(context.Background(), []byte(msg))
		if err != nil || string(ack) != "ACK:"+msg {
			t.Fatalf("send %d: %q %v", i, ack, err)
		}
	}

	// Frames sent back to back, before any acknowledgement, are handled
	// and acknowledged in order.
	rc := dialRaw(t, addr)
	var all strings.Builder
	for i := range 50 {
		all.WriteString(frame(fmt.Sprintf("P|%d", i)))
	}
	rc.write(all.String())
	for i := range 50 {
		if ack, err := rc.read(); err != nil || ack != fmt.Sprintf("ACK:P|%d", i) {
			t.Fatalf("pipelined %d: %q %v", i, ack, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 250 || seen[0] != "MSH|0" || seen[199] != "MSH|199" || seen[249] != "P|49" {
		t.Errorf("handled %d messages, out of order", len(seen))
	}
}

func TestServerConcurrentConnections(t *testing.T) {
	var conns sync.Map
	s := &Server{Handler: func(ctx context.Context, c ConnInfo, msg []byte) []byte {
		conns.Store(c.ID, true)
		return echo(ctx, c, msg)
	}}
	addr := start(t, s)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := range 100 {
		wg.Go(func() {
			cl, err := Dial(context.Background(), addr, &Options{ResponseTimeout: 10 * time.Second})
			if err != nil {
				errs <- err
				return
			}
			defer cl.Close()
			for i := range 5 {
				msg := fmt.Sprintf("MSH|%d|%d", g, i)
				ack, err := cl.Send(context.Background(), []byte(msg))
				if err != nil || string(ack) != "ACK:"+msg {
					errs <- fmt.Errorf("conn %d msg %d: %q %v", g, i, ack, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	n := 0
	conns.Range(func(any, any) bool { n++; return true })
	if n != 100 {
		t.Errorf("%d distinct connections, want 100", n)
	}
}

func TestServerJunkAndSplitFrames(t *testing.T) {
	var logs logBuf
	addr := start(t, &Server{Handler: echo, Logger: logs.logger()})
	rc := dialRaw(t, addr)
	rc.write("GET / HTTP/1.0\r\n\r\n")
	if ack := rc.roundTrip("MSH|1"); ack != "ACK:MSH|1" {
		t.Fatalf("ack %q", ack)
	}
	if !strings.Contains(logs.String(), "discarded bytes outside a frame") || !strings.Contains(logs.String(), "bytes=18") {
		t.Errorf("junk not reported:\n%s", logs.String())
	}
	// One frame in one-byte writes.
	f := frame("MSH|^~\\&|split\rPID|1\r")
	for i := range len(f) {
		rc.write(f[i : i+1])
	}
	if ack, err := rc.read(); err != nil || ack != "ACK:MSH|^~\\&|split\rPID|1\r" {
		t.Fatalf("split frame: %q %v", ack, err)
	}
}

func TestServerOversizedClosesOnlyThatConnection(t *testing.T) {
	var logs logBuf
	s := &Server{Handler: echo, MaxMessageSize: 100, Logger: logs.logger(),
		OnFrameError: func(c ConnInfo, err error) []byte { return []byte("NAK:" + err.Error()) }}
	addr := start(t, s)
	good := dialRaw(t, addr)
	if ack := good.roundTrip("MSH|before"); ack != "ACK:MSH|before" {
		t.Fatal(ack)
	}
	bad := dialRaw(t, addr)
	bad.write(frame(strings.Repeat("X", 200)))
	nak, err := bad.read()
	if err != nil || !strings.HasPrefix(nak, "NAK:mllp: message exceeds the maximum size") {
		t.Fatalf("nak %q %v", nak, err)
	}
	bad.expectClosed()
	if ack := good.roundTrip("MSH|after"); ack != "ACK:MSH|after" {
		t.Fatal(ack)
	}
	if !strings.Contains(logs.String(), "bad frame") {
		t.Errorf("oversize not logged:\n%s", logs.String())
	}
}

func TestServerStalledSender(t *testing.T) {
	var logs logBuf
	addr := start(t, &Server{Handler: echo, ReadTimeout: 150 * time.Millisecond, Logger: logs.logger()})
	stalled := dialRaw(t, addr)
	begin := time.Now()
	stalled.write("\x0bMSH|half a mess")

	// Another connection works meanwhile, including pauses between frames
	// longer than ReadTimeout (which applies only inside a frame).
	other := dialRaw(t, addr)
	for i := range 3 {
		if ack := other.roundTrip(fmt.Sprintf("MSH|%d", i)); ack != fmt.Sprintf("ACK:MSH|%d", i) {
			t.Fatal(ack)
		}
		time.Sleep(100 * time.Millisecond)
	}
	stalled.expectClosed()
	if d := time.Since(begin); d < 150*time.Millisecond {
		t.Errorf("stalled sender closed after %v, before the timeout", d)
	}
	if ack := other.roundTrip("MSH|last"); ack != "ACK:MSH|last" {
		t.Fatal(ack)
	}
	if !strings.Contains(logs.String(), "stalled sender timed out") {
		t.Errorf("stall not logged:\n%s", logs.String())
	}
}

func TestServerIdleTimeout(t *testing.T) {
	var logs logBuf
	addr := start(t, &Server{Handler: echo, IdleTimeout: 100 * time.Millisecond, Logger: logs.logger()})
	rc := dialRaw(t, addr)
	if ack := rc.roundTrip("MSH|1"); ack != "ACK:MSH|1" {
		t.Fatal(ack)
	}
	begin := time.Now()
	rc.expectClosed()
	if d := time.Since(begin); d < 80*time.Millisecond {
		t.Errorf("closed after %v", d)
	}
	if !strings.Contains(logs.String(), "idle connection timed out") {
		t.Errorf("idle timeout not logged:\n%s", logs.String())
	}
}

func TestServerMaxConns(t *testing.T) {
	var logs logBuf
	addr := start(t, &Server{Handler: echo, MaxConns: 2, Logger: logs.logger()})
	a, b := dialRaw(t, addr), dialRaw(t, addr)
	a.roundTrip("MSH|a")
	b.roundTrip("MSH|b")
	extra := dialRaw(t, addr)
	extra.write(frame("MSH|extra"))
	extra.expectClosed()
	if a.roundTrip("MSH|a2") != "ACK:MSH|a2" || b.roundTrip("MSH|b2") != "ACK:MSH|b2" {
		t.Fatal("existing connections harmed")
	}
	if !strings.Contains(logs.String(), "too many connections") {
		t.Errorf("refusal not logged:\n%s", logs.String())
	}
	// Once one leaves, a new connection is served.
	a.nc.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := dialRaw(t, addr)
		c.write(frame("MSH|new"))
		if ack, err := c.read(); err == nil && ack == "ACK:MSH|new" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no room made for a new connection")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServerHandlerPanicAndNilAck(t *testing.T) {
	var logs logBuf
	addr := start(t, &Server{Logger: logs.logger(), Handler: func(ctx context.Context, c ConnInfo, msg []byte) []byte {
		switch string(msg) {
		case "PANIC":
			panic("boom")
		case "SILENT":
			return nil
		}
		return echo(ctx, c, msg)
	}})
	rc := dialRaw(t, addr)
	rc.write(frame("SILENT"))
	if ack := rc.roundTrip("MSH|1"); ack != "ACK:MSH|1" {
		t.Fatalf("after a message with no ack: %q", ack)
	}
	rc.write(frame("PANIC"))
	rc.expectClosed()
	if ack := dialRaw(t, addr).roundTrip("MSH|2"); ack != "ACK:MSH|2" {
		t.Fatal(ack)
	}
	if !strings.Contains(logs.String(), "handler panicked") {
		t.Errorf("panic not logged:\n%s", logs.String())
	}
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mllp test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

func TestServerTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	var logs logBuf
	s := &Server{
		TLSConfig:   &tls.Config{Certificates: []tls.Certificate{cert}},
		ReadTimeout: 2 * time.Second, Logger: logs.logger(),
		Handler: func(ctx context.Context, c ConnInfo, msg []byte) []byte {
			if c.TLS == nil || !c.TLS.HandshakeComplete {
				return []byte("NOT TLS")
			}
			return echo(ctx, c, msg)
		},
	}
	addr := start(t, s)
	cl, err := Dial(context.Background(), addr, &Options{TLSConfig: &tls.Config{RootCAs: pool}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range 3 {
		msg := fmt.Sprintf("MSH|tls|%d", i)
		if ack, err := cl.Send(context.Background(), []byte(msg)); err != nil || string(ack) != "ACK:"+msg {
			t.Fatalf("%q %v", ack, err)
		}
	}
	// A client that does not trust the certificate is refused.
	if _, err := Dial(context.Background(), addr, &Options{TLSConfig: &tls.Config{}}); err == nil {
		t.Errorf("untrusted certificate accepted")
	}
	// Plain MLLP to a TLS server gets no acknowledgement.
	rc := dialRaw(t, addr)
	rc.write(frame("MSH|plain"))
	if ack, err := rc.read(); err == nil {
		t.Errorf("plain client got %q", ack)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "TLS handshake failed") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "TLS handshake failed") {
		t.Errorf("handshake failure not logged:\n%s", logs.String())
	}
}

func TestServerShutdownWaitsForHandler(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	s := &Server{Handler: func(ctx context.Context, c ConnInfo, msg []byte) []byte {
		if string(msg) == "SLOW" {
			close(entered)
			<-release
		}
		return echo(ctx, c, msg)
	}}
	addr := start(t, s)
	idle := dialRaw(t, addr)
	idle.roundTrip("MSH|idle")

	type result struct {
		ack []byte
		err error
	}
	sent := make(chan result, 1)
	cl, err := Dial(context.Background(), addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	go func() {
		ack, err := cl.Send(context.Background(), []byte("SLOW"))
		sent <- result{ack, err}
	}()
	<-entered
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	idle.expectClosed()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a handler in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Errorf("new connection accepted during shutdown")
	}
	close(release)
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if r := <-sent; r.err != nil || string(r.ack) != "ACK:SLOW" {
		t.Fatalf("in-flight message: %q %v", r.ack, r.err)
	}
}

func TestServerShutdownTimeout(t *testing.T) {
	entered := make(chan struct{})
	cancelled := make(chan struct{})
	s := &Server{Handler: func(ctx context.Context, c ConnInfo, msg []byte) []byte {
		close(entered)
		<-ctx.Done()
		close(cancelled)
		return nil
	}}
	addr := start(t, s)
	rc := dialRaw(t, addr)
	rc.write(frame("MSH|stuck"))
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v", err)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("handler context not cancelled")
	}
	rc.expectClosed()
}

func TestClientReconnects(t *testing.T) {
	var ids sync.Map
	addr := start(t, &Server{IdleTimeout: 100 * time.Millisecond, Handler: func(ctx context.Context, c ConnInfo, msg []byte) []byte {
		ids.Store(c.ID, true)
		return echo(ctx, c, msg)
	}})
	cl, err := Dial(context.Background(), addr, &Options{ResponseTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if ack, err := cl.Send(context.Background(), []byte("MSH|1")); err != nil || string(ack) != "ACK:MSH|1" {
		t.Fatalf("%q %v", ack, err)
	}
	time.Sleep(300 * time.Millisecond) // the server drops the idle connection
	if ack, err := cl.Send(context.Background(), []byte("MSH|2")); err != nil || string(ack) != "ACK:MSH|2" {
		t.Fatalf("after the server closed the connection: %q %v", ack, err)
	}
	n := 0
	ids.Range(func(any, any) bool { n++; return true })
	if n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

func TestClientTimeouts(t *testing.T) {
	addr := start(t, &Server{Handler: func(ctx context.Context, c ConnInfo, msg []byte) []byte {
		if string(msg) == "SLOW" {
			select {
			case <-time.After(300 * time.Millisecond):
			case <-ctx.Done():
			}
		}
		return echo(ctx, c, msg)
	}})
	cl, err := Dial(context.Background(), addr, &Options{ResponseTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Send(context.Background(), []byte("SLOW")); err == nil || !strings.Contains(err.Error(), "response timeout") {
		t.Fatalf("slow ack: %v", err)
	}
	// The late acknowledgement of SLOW must not be taken for this one's.
	if ack, err := cl.Send(context.Background(), []byte("FAST")); err != nil || string(ack) != "ACK:FAST" {
		t.Fatalf("after a timeout: %q %v", ack, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	cl.opts.ResponseTimeout = time.Minute
	if _, err := cl.Send(ctx, []byte("SLOW")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled send: %v", err)
	}
	if _, err := cl.Send(context.Background(), []byte("a\x1cb")); !errors.Is(err, ErrFrameByte) {
		t.Fatalf("frame byte: %v", err)
	}
	cl.Close()
	if _, err := cl.Send(context.Background(), []byte("FAST")); !errors.Is(err, ErrClientClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestClientDialFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := Dial(context.Background(), addr, nil); err == nil {
		t.Fatal("dial to a closed port succeeded")
	}
}

func TestServeAfterShutdown(t *testing.T) {
	s := &Server{Handler: echo}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(ln); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Shutdown = %v", err)
	}
}

func TestListenAndServe(t *testing.T) {
	if err := (&Server{Handler: echo}).ListenAndServe("256.0.0.1:bad"); err == nil {
		t.Errorf("bad address accepted")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := (&Server{}).Serve(ln); err == nil || !strings.Contains(err.Error(), "Handler is nil") {
		t.Errorf("nil Handler: %v", err)
	}
	s := &Server{Handler: echo}
	errc := make(chan error, 1)
	go func() { errc <- s.ListenAndServe("127.0.0.1:0") }()
	time.Sleep(20 * time.Millisecond)
	s.Close()
	if err := <-errc; !errors.Is(err, ErrServerClosed) {
		t.Errorf("ListenAndServe = %v", err)
	}
}
