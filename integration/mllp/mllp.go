// Package mllp implements the Minimal Lower Layer Protocol that carries HL7 v2
// messages over TCP: each message is framed as 0x0B <message> 0x1C 0x0D. It
// provides a frame Reader and WriteFrame, a Server that hands each message to
// a Handler and writes back the acknowledgement it returns, and a Client that
// sends a message and waits for its acknowledgement.
package mllp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Frame bytes.
const (
	StartBlock     byte = 0x0B
	EndBlock       byte = 0x1C
	CarriageReturn byte = 0x0D
)

// DefaultMaxMessageSize bounds a message when no maximum is given; large
// enough for messages carrying embedded documents.
const DefaultMaxMessageSize = 16 << 20

var (
	// ErrMessageTooLarge: the frame grew past the maximum size. The rest of
	// it is unread, so the connection cannot be used further.
	ErrMessageTooLarge = errors.New("mllp: message exceeds the maximum size")
	// ErrPartialFrame: the connection ended, failed or timed out after a start
	// block and before its end block.
	ErrPartialFrame = errors.New("mllp: frame cut short")
	// ErrBadFrameEnd: an end block not followed by a carriage return.
	ErrBadFrameEnd = errors.New("mllp: end block not followed by carriage return")
	// ErrFrameByte: a message to send contains a start or end block byte,
	// which would corrupt the framing.
	ErrFrameByte = errors.New("mllp: message contains a frame delimiter byte")
)

// Reader reads framed messages from a stream.
type Reader struct {
	br      *bufio.Reader
	max     int
	skipped int
	inFrame bool
}

// NewReader reads frames from r, refusing messages larger than maxSize bytes
// (DefaultMaxMessageSize when maxSize <= 0).
func NewReader(r io.Reader, maxSize int) *Reader {
	if maxSize <= 0 {
		maxSize = DefaultMaxMessageSize
	}
	return &Reader{br: bufio.NewReaderSize(r, 32<<10), max: maxSize}
}

// Skipped is the number of bytes the last ReadMessage discarded: bytes before
// the start block, and frames abandoned by a new start block before their end.
func (r *Reader) Skipped() int { return r.skipped }

// InFrame reports whether the reader is inside a frame: after a start block,
// before its end. Deadline logic uses it to tell an idle peer from a stalled one.
func (r *Reader) InFrame() bool { return r.inFrame }

// ReadMessage returns the next message, without its framing. At the end of
// the stream it returns io.EOF (Skipped says whether junk preceded it); a
// stream ending or failing inside a frame gives an error wrapping
// ErrPartialFrame and the cause.
func (r *Reader) ReadMessage() ([]byte, error) {
	r.skipped = 0
	r.inFrame = false
	for {
		chunk, err := r.br.ReadSlice(StartBlock)
		if err == nil {
			r.skipped += len(chunk) - 1
			break
		}
		r.skipped += len(chunk)
		if err != bufio.ErrBufferFull {
			return nil, err
		}
	}
	r.inFrame = true
	var msg []byte
	for {
		chunk, err := r.br.ReadSlice(EndBlock)
		if i := bytes.LastIndexByte(chunk, StartBlock); i >= 0 {
			// A new start block: the sender gave up on the frame so far.
			r.skipped += 1 + len(msg) + i
			msg = msg[:0]
			chunk = chunk[i+1:]
		}
		body := chunk
		if err == nil {
			body = chunk[:len(chunk)-1]
		}
		if len(msg)+len(body) > r.max {
			return nil, fmt.Errorf("%w (%d bytes)", ErrMessageTooLarge, r.max)
		}
		if msg == nil {
			msg = make([]byte, 0, max(len(body), 512))
		}
		msg = append(msg, body...)
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF:
			return nil, fmt.Errorf("%w: stream ended after %d bytes of a frame: %w", ErrPartialFrame, len(msg), io.ErrUnexpectedEOF)
		case err != nil:
			return nil, fmt.Errorf("%w: %w", ErrPartialFrame, err)
		}
		c, err := r.br.ReadByte()
		if err == io.EOF {
			return nil, fmt.Errorf("%w: stream ended before the final carriage return: %w", ErrPartialFrame, io.ErrUnexpectedEOF)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPartialFrame, err)
		}
		if c != CarriageReturn {
			return nil, fmt.Errorf("%w (got 0x%02x)", ErrBadFrameEnd, c)
		}
		r.inFrame = false
		return msg, nil
	}
}

// WriteFrame writes msg as one frame, in a single Write.
func WriteFrame(w io.Writer, msg []byte) error {
	if bytes.IndexByte(msg, StartBlock) >= 0 || bytes.IndexByte(msg, EndBlock) >= 0 {
		return ErrFrameByte
	}
	buf := make([]byte, 0, len(msg)+3)
	buf = append(buf, StartBlock)
	buf = append(buf, msg...)
	buf = append(buf, EndBlock, CarriageReturn)
	_, err := w.Write(buf)
	return err
}
