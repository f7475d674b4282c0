package mllp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Options configure a Client.
type Options struct {
	// TLSConfig, when set, makes the connection TLS.
	TLSConfig *tls.Config
	// ResponseTimeout bounds the wait for an acknowledgement (30 s when 0).
	ResponseTimeout time.Duration
	// WriteTimeout bounds sending a message (none when 0).
	WriteTimeout time.Duration
	// MaxMessageSize bounds an acknowledgement (DefaultMaxMessageSize when 0).
	MaxMessageSize int
}

// ErrClientClosed is returned by Send after Close.
var ErrClientClosed = errors.New("mllp: client closed")

// Client sends messages to one address and waits for each acknowledgement.
// Sends are serialised: it is safe to share, one message at a time.
type Client struct {
	addr   string
	opts   Options
	mu     sync.Mutex
	conn   net.Conn
	rd     *Reader
	closed bool
}

// Dial connects to addr. The client reconnects by itself if the connection
// later drops.
func Dial(ctx context.Context, addr string, opts *Options) (*Client, error) {
	c := &Client{addr: addr}
	if opts != nil {
		c.opts = *opts
	}
	if c.opts.ResponseTimeout <= 0 {
		c.opts.ResponseTimeout = 30 * time.Second
	}
	if err := c.dial(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Client) dial(ctx context.Context) error {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return err
	}
	if c.opts.TLSConfig != nil {
		cfg := c.opts.TLSConfig
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			if host, _, err := net.SplitHostPort(c.addr); err == nil {
				cfg.ServerName = host
			}
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return err
		}
		nc = tc
	}
	c.conn = nc
	c.rd = NewReader(nc, c.opts.MaxMessageSize)
	return nil
}

// Send writes msg as one frame and returns the acknowledgement that comes
// back. It fails when no acknowledgement arrives within ResponseTimeout or
// before ctx ends; the connection is then dropped, since a late answer would
// be taken for the next message's. If a connection that sat idle turns out
// to have been closed by the server (nothing came back), Send reconnects and
// sends once more; a receiver may therefore see a message twice, as MLLP's
// at-least-once delivery allows.
func (c *Client) Send(ctx context.Context, msg []byte) ([]byte, error) {
	if bytes.IndexByte(msg, StartBlock) >= 0 || bytes.IndexByte(msg, EndBlock) >= 0 {
		return nil, ErrFrameByte
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClientClosed
	}
	for attempt := 0; ; attempt++ {
		reused := c.conn != nil
		if !reused {
			if err := c.dial(ctx); err != nil {
				return nil, err
			}
		}
		ack, err := c.roundTrip(ctx, msg)
		if err == nil {
			return ack, nil
		}
		c.conn.Close()
		c.conn, c.rd = nil, nil
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !reused || attempt > 0 || !stale(err) {
			return nil, err
		}
	}
}

// stale reports whether err means the peer had already closed the connection.
func stale(err error) bool {
	return errors.Is(err, io.EOF) && !errors.Is(err, ErrPartialFrame) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func (c *Client) roundTrip(ctx context.Context, msg []byte) (ack []byte, err error) {
	conn := c.conn
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if !stop() && err == nil {
			// ctx ended as the answer came: the deadline it set may land on
			// the next exchange, so this connection is not reused.
			conn.Close()
			c.conn, c.rd = nil, nil
		}
	}()
	var wdl time.Time
	if c.opts.WriteTimeout > 0 {
		wdl = time.Now().Add(c.opts.WriteTimeout)
	}
	conn.SetWriteDeadline(wdl)
	if err = WriteFrame(conn, msg); err != nil {
		return nil, err
	}
	conn.SetReadDeadline(time.Now().Add(c.opts.ResponseTimeout))
	ack, err = c.rd.ReadMessage()
	if errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() == nil {
		return nil, errors.Join(errors.New("mllp: no acknowledgement within the response timeout"), err)
	}
	return ack, err
}

// Close closes the connection; later Sends fail.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn, c.rd = nil, nil
	return err
}
