package mllp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// ConnInfo describes the connection a message came in on.
type ConnInfo struct {
	ID         uint64 // unique within the server, for correlating log lines
	RemoteAddr net.Addr
	LocalAddr  net.Addr
	TLS        *tls.ConnectionState // nil without TLS
}

// Handler processes one message and returns the acknowledgement to send
// back, or nil to send nothing. The messages of one connection are handled
// one at a time, in order. ctx ends when the server is closed or the
// connection drops.
type Handler func(ctx context.Context, c ConnInfo, msg []byte) (ack []byte)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("mllp: server closed")

// Server accepts MLLP connections and passes each message to Handler. The
// zero value with a Handler is usable; set the fields before serving.
type Server struct {
	Handler Handler
	// TLSConfig, when set, makes every accepted connection TLS.
	TLSConfig *tls.Config
	// IdleTimeout closes a connection that starts no frame for this long
	// (0: never). ReadTimeout closes one that sends nothing for this long
	// inside a frame, a stalled sender (0: never). WriteTimeout bounds writing
	// an acknowledgement (0: none). The TLS handshake must finish within
	// ReadTimeout (or IdleTimeout when only that is set).
	IdleTimeout, ReadTimeout, WriteTimeout time.Duration
	// MaxMessageSize bounds a message (DefaultMaxMessageSize when 0).
	MaxMessageSize int
	// MaxConns bounds concurrent connections (0: no bound); connections
	// beyond it are closed as soon as accepted.
	MaxConns int
	// OnFrameError, when set, is asked for a negative acknowledgement to send
	// before a connection is closed for an oversized or malformed frame.
	OnFrameError func(c ConnInfo, err error) (nak []byte)
	// Logger receives connection events and errors (nil: discarded).
	Logger *slog.Logger

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*serverConn]struct{}
	closing   bool
	done      chan struct{} // closed when conns becomes empty during shutdown
	baseCtx   context.Context
	cancel    context.CancelFunc
	nextID    atomic.Uint64
}

type serverConn struct {
	nc     net.Conn
	idle   bool // waiting for a frame to start: shutdown may close it
	closed bool // closed by shutdown
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (s *Server) init() {
	if s.conns == nil {
		s.listeners = map[net.Listener]struct{}{}
		s.conns = map[*serverConn]struct{}{}
		s.baseCtx, s.cancel = context.WithCancel(context.Background())
	}
}

// ListenAndServe listens on the TCP address addr (":2575", the registered HL7
// port, when empty) and serves it.
func (s *Server) ListenAndServe(addr string) error {
	if addr == "" {
		addr = ":2575"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// Serve accepts connections on ln until Shutdown or Close, and returns
// ErrServerClosed then; ln is closed on return.
func (s *Server) Serve(ln net.Listener) error {
	if s.Handler == nil {
		ln.Close()
		return errors.New("mllp: Server.Handler is nil")
	}
	s.mu.Lock()
	s.init()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	log := s.logger()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: wait and retry rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			log.Error("mllp: accept failed", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		c := &serverConn{nc: nc}
		s.mu.Lock()
		switch {
		case s.closing:
			s.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		case s.MaxConns > 0 && len(s.conns) >= s.MaxConns:
			s.mu.Unlock()
			log.Warn("mllp: connection refused: too many connections", "remote", nc.RemoteAddr().String(), "max_conns", s.MaxConns)
			nc.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

// setIdle marks c idle (waiting for a frame) or busy; it reports false when
// the connection must end because the server is shutting down.
func (s *Server) setIdle(c *serverConn, idle bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.closed || (idle && s.closing) {
		return false
	}
	c.idle = idle
	return true
}

func (s *Server) removeConn(c *serverConn) {
	s.mu.Lock()
	delete(s.conns, c)
	if s.closing && len(s.conns) == 0 && s.done != nil {
		close(s.done)
		s.done = nil
	}
	s.mu.Unlock()
}

// deadlineReader sets the read deadline before every read from the
// connection: IdleTimeout between frames, ReadTimeout inside one.
type deadlineReader struct {
	nc          net.Conn
	r           io.Reader // nc, or the TLS connection over it
	rd          *Reader
	idle, stall time.Duration
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	t := d.idle
	if d.rd.InFrame() {
		t = d.stall
	}
	var dl time.Time
	if t > 0 {
		dl = time.Now().Add(t)
	}
	if err := d.nc.SetReadDeadline(dl); err != nil {
		return 0, err
	}
	return d.r.Read(p)
}

func (s *Server) serveConn(c *serverConn) {
	defer s.removeConn(c)
	defer c.nc.Close()
	log := s.logger()
	info := ConnInfo{ID: s.nextID.Add(1), RemoteAddr: c.nc.RemoteAddr(), LocalAddr: c.nc.LocalAddr()}
	log = log.With("conn", info.ID, "remote", info.RemoteAddr.String())
	ctx, cancel := context.WithCancel(s.baseCtx)
	defer cancel()

	var rw io.ReadWriter = c.nc
	if s.TLSConfig != nil {
		tc := tls.Server(c.nc, s.TLSConfig)
		if t := cmp(s.ReadTimeout, s.IdleTimeout); t > 0 {
			tc.SetDeadline(time.Now().Add(t))
		}
		if err := tc.HandshakeContext(ctx); err != nil {
			log.Warn("mllp: TLS handshake failed", "err", err)
			return
		}
		tc.SetDeadline(time.Time{})
		st := tc.ConnectionState()
		info.TLS = &st
		rw = tc
	}
	log.Debug("mllp: connection opened")
	dr := &deadlineReader{nc: c.nc, r: rw, idle: s.IdleTimeout, stall: s.ReadTimeout}
	rd := NewReader(dr, s.MaxMessageSize)
	dr.rd = rd

	for {
		if !s.setIdle(c, true) {
			log.Debug("mllp: connection closed for shutdown")
			return
		}
		msg, err := rd.ReadMessage()
		if n := rd.Skipped(); n > 0 {
			log.Warn("mllp: discarded bytes outside a frame", "bytes", n)
		}
		if err != nil {
			s.logReadError(log, c, rd, err)
			if s.OnFrameError != nil && (errors.Is(err, ErrMessageTooLarge) || errors.Is(err, ErrBadFrameEnd)) {
				if nak := s.OnFrameError(info, err); nak != nil {
					s.write(log, c.nc, rw, nak)
				}
			}
			return
		}
		if !s.setIdle(c, false) {
			// Shutdown closed the connection as the frame completed: no
			// acknowledgement can reach the sender, who will send it again.
			log.Debug("mllp: message dropped at shutdown")
			return
		}
		ack, ok := s.handle(ctx, log, info, msg)
		if !ok {
			return
		}
		if ack != nil && !s.write(log, c.nc, rw, ack) {
			return
		}
	}
}

// cmp is the first positive duration.
func cmp(a, b time.Duration) time.Duration {
	if a > 0 {
		return a
	}
	return b
}

func (s *Server) logReadError(log *slog.Logger, c *serverConn, rd *Reader, err error) {
	s.mu.Lock()
	closed := c.closed
	s.mu.Unlock()
	timeout := errors.Is(err, os.ErrDeadlineExceeded)
	switch {
	case closed:
		log.Debug("mllp: connection closed for shutdown")
	case errors.Is(err, io.EOF):
		log.Debug("mllp: connection closed by peer")
	case timeout && rd.InFrame():
		log.Warn("mllp: stalled sender timed out inside a frame", "timeout", s.ReadTimeout)
	case timeout:
		log.Info("mllp: idle connection timed out", "timeout", s.IdleTimeout)
	case errors.Is(err, ErrMessageTooLarge), errors.Is(err, ErrBadFrameEnd), errors.Is(err, ErrPartialFrame):
		log.Warn("mllp: bad frame, closing connection", "err", err)
	default:
		log.Warn("mllp: read failed", "err", err)
	}
}

func (s *Server) handle(ctx context.Context, log *slog.Logger, info ConnInfo, msg []byte) (ack []byte, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("mllp: handler panicked; closing connection", "panic", fmt.Sprint(r))
			ack, ok = nil, false
		}
	}()
	return s.Handler(ctx, info, msg), true
}

func (s *Server) write(log *slog.Logger, nc net.Conn, w io.Writer, msg []byte) bool {
	var dl time.Time
	if s.WriteTimeout > 0 {
		dl = time.Now().Add(s.WriteTimeout)
	}
	nc.SetWriteDeadline(dl)
	if err := WriteFrame(w, msg); err != nil {
		log.Warn("mllp: writing acknowledgement failed", "err", err)
		return false
	}
	return true
}

// Shutdown stops accepting connections, closes those not busy with a message
// (a frame still arriving is cut off; its sender, having no acknowledgement,
// sends it again), and waits for the others to finish the message in hand,
// handler and acknowledgement, before closing them. If ctx ends first, every connection
// is closed, handlers' contexts are cancelled, and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.init()
	s.closing = true
	for ln := range s.listeners {
		ln.Close()
	}
	var done chan struct{}
	if len(s.conns) > 0 {
		if s.done == nil {
			s.done = make(chan struct{})
		}
		done = s.done
	}
	for c := range s.conns {
		if c.idle {
			c.closed = true
			c.nc.Close()
		}
	}
	s.mu.Unlock()
	if done == nil {
		s.cancel()
		return nil
	}
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.Close()
		return ctx.Err()
	}
}

// Close stops the server at once: listeners and connections are closed and
// handlers' contexts cancelled, without waiting for them.
func (s *Server) Close() error {
	s.mu.Lock()
	s.init()
	s.closing = true
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.closed = true
		c.nc.Close()
	}
	s.mu.Unlock()
	s.cancel()
	return nil
}
