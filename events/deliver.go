package events

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/concord-health/concord/store"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// worker delivers the notifications of one subscription whose lease this process holds, in
// seq order. The matcher queues the events that match; when the queue is full (a backlog)
// or the worker starts behind the matcher, the worker reads the events from the log itself
// and matches them alone, up to where the matcher had got to, then goes on with its queue.
type worker struct {
	id   string
	d    *Dispatcher
	crit *criteria // the matcher goroutine's

	mu  sync.Mutex
	sub *Subscription
	// queue holds matched events not yet delivered, in seq order.
	queue []store.Event
	// skipUpTo: the matcher went back to read a backlog for others; events up to here were
	// given to this worker before.
	skipUpTo int64
	// behind: events up to behindUpTo may have matched without being queued; the worker
	// reads them from the log once its queue is empty.
	behind     bool
	behindUpTo int64
	busy       bool
	// cursor is the seq of the last event finished with (as in the database).
	cursor int64
	// attempts and failingSince are the current run of failures (from the database).
	attempts     int
	failingSince time.Time
	// dirty: cursor is ahead of the database, since persisted; catchingUp: the worker is
	// reading its backlog from the log.
	dirty      bool
	persisted  time.Time
	catchingUp bool
	done       bool // gave up (status error) or stopped
	// running: a goroutine is delivering. There is one only while there is something to
	// deliver, so thousands of quiet subscriptions cost no goroutines.
	running bool
	stopped bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startWorker starts delivering for s, from its cursor c; the events after the cursor up to
// behindUpTo (when above it) are read from the log by the worker, the later ones are queued
// by the matcher.
func (d *Dispatcher) startWorker(ctx context.Context, s *Subscription, c store.EventCursor, behindUpTo int64) *worker {
	w := &worker{id: s.ID, d: d, sub: s, crit: compileCriteria(d.opts.Registry, s), cursor: c.Seq,
		attempts: c.Attempts, failingSince: c.FailingSince, persisted: time.Now(),
		behind: behindUpTo > c.Seq, behindUpTo: behindUpTo}
	w.ctx, w.cancel = context.WithCancel(context.WithoutCancel(ctx))
	d.workers[s.ID] = w
	d.index.add(w.crit, w)
	w.mu.Lock()
	if w.behind {
		w.kick()
	}
	w.mu.Unlock()
	return w
}

// kick starts the delivering goroutine unless it runs (w.mu held).
func (w *worker) kick() {
	if w.running || w.stopped || w.done {
		return
	}
	w.running = true
	w.wg.Add(1)
	w.d.wg.Add(1)
	go func() {
		defer w.d.wg.Done()
		defer w.wg.Done()
		w.run(w.ctx)
	}()
}

func (w *worker) subscription() *Subscription {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sub
}

func (w *worker) setSubscription(s *Subscription) {
	w.mu.Lock()
	w.sub = s
	w.mu.Unlock()
}

func (w *worker) finished() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.done
}

// stop ends the worker and waits for it (a delivery in flight gets stopGrace to complete;
// one that does not is made again by whoever holds the subscription next).
func (w *worker) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
	w.cancel()
	w.wg.Wait()
	w.persist(w.ctx)
}

// resetFailures forgets the failures of a subscription a client has requested again, so its
// retry window starts afresh.
func (w *worker) resetFailures(ctx context.Context) {
	w.mu.Lock()
	cursor := w.cursor
	w.attempts, w.failingSince = 0, time.Time{}
	w.mu.Unlock()
	if err := w.d.cur.AdvanceCursor(ctx, cursorName(w.id), w.d.opts.Owner, cursor); err != nil {
		w.d.lg.Warn("resetting a subscription's failures", "id", w.id, "err", err)
	}
}

// enqueue adds a matched event (matcher goroutine).
func (w *worker) enqueue(e store.Event) {
	w.mu.Lock()
	switch {
	case e.Seq <= w.cursor || e.Seq <= w.skipUpTo:
	case w.behind || len(w.queue) >= w.d.opts.QueueLimit:
		w.behind = true
		w.behindUpTo = max(w.behindUpTo, e.Seq)
	default:
		w.queue = append(w.queue, e)
	}
	if len(w.queue) > 0 || w.behind {
		w.kick()
	}
	w.mu.Unlock()
}

// idlePersistEvery is how often the cursor of a subscription without notifications is
// moved up to the matcher (each is one row updated; a stale one only makes a restart read
// further back).
const idlePersistEvery = time.Minute

// skipTo makes the worker ignore events up to seq (matcher goroutine).
func (w *worker) skipTo(seq int64) {
	w.mu.Lock()
	w.skipUpTo = max(w.skipUpTo, seq)
	w.mu.Unlock()
}

// idleBelow reports whether the worker has nothing to deliver up to pos and its cursor is
// below it (or not yet recorded); if so the cursor is taken to pos and returned, for the
// caller to record (matcher goroutine).
func (w *worker) idleBelow(pos int64) (int64, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.busy || w.behind || w.done || len(w.queue) > 0 || w.attempts > 0 || pos <= w.skipUpTo ||
		(w.cursor >= pos && !w.dirty) || (!w.dirty && time.Since(w.persisted) < idlePersistEvery) {
		return 0, false
	}
	w.cursor = max(w.cursor, pos)
	w.dirty, w.persisted = false, time.Now()
	return w.cursor, true
}

// run delivers until there is nothing left to deliver (or the worker stops, or gives up).
func (w *worker) run(ctx context.Context) {
	defer func() {
		w.persist(ctx) // record what was delivered
		w.mu.Lock()
		w.running = false
		// Anything queued after the last look is delivered by a new goroutine.
		if ctx.Err() == nil && (len(w.queue) > 0 || w.behind) {
			w.kick()
		}
		w.mu.Unlock()
	}()
	for ctx.Err() == nil {
		w.mu.Lock()
		switch {
		case len(w.queue) > 0:
			e := w.queue[0]
			w.queue = w.queue[1:]
			w.busy = true
			w.mu.Unlock()
			err := w.deliver(ctx, e)
			w.mu.Lock()
			w.busy = false
			w.mu.Unlock()
			if err != nil {
				w.finish(err)
				return
			}
		case w.behind:
			upTo := w.behindUpTo
			w.behind, w.busy = false, true
			w.mu.Unlock()
			err := w.catchUp(ctx, upTo)
			w.mu.Lock()
			w.busy = false
			if err != nil && !errors.Is(err, errGaveUp) && !errors.Is(err, store.ErrCursorLost) {
				// Read again from the cursor, together with what was queued meanwhile (which
				// must not go before the rest of the backlog).
				w.behind = true
				w.behindUpTo = max(w.behindUpTo, upTo)
				if n := len(w.queue); n > 0 {
					w.behindUpTo = max(w.behindUpTo, w.queue[n-1].Seq)
					w.queue = nil
				}
			}
			w.mu.Unlock()
			switch {
			case errors.Is(err, errGaveUp), errors.Is(err, store.ErrCursorLost):
				w.finish(err)
				return
			case err != nil && ctx.Err() == nil:
				w.d.lg.Warn("reading a subscription's backlog", "id", w.id, "err", err)
				sleep(ctx, w.d.opts.MinBackoff)
			}
		default:
			w.mu.Unlock()
			return
		}
	}
}

func (w *worker) finish(err error) {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
	if errors.Is(err, store.ErrCursorLost) {
		w.d.lg.Info("subscription taken over by another process", "id", w.id)
	}
}

// catchUp reads the log after the cursor up to upTo, delivering what matches.
func (w *worker) catchUp(ctx context.Context, upTo int64) error {
	w.mu.Lock()
	after := w.cursor
	s := w.sub
	w.catchingUp = true
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.catchingUp = false
		w.mu.Unlock()
		w.persist(ctx)
	}()
	c := compileCriteria(w.d.opts.Registry, s)
	for after < upTo {
		evs, err := w.d.log.Events(ctx, after, 500)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			// The matcher has read up to upTo, so those events exist; a gap in the seqs
			// before them is being confirmed final.
			if !sleep(ctx, w.d.opts.PollInterval) {
				return ctx.Err()
			}
			continue
		}
		for _, e := range evs {
			if e.Seq > upTo {
				return nil
			}
			after = e.Seq
			ok, err := w.match(ctx, c, s, e)
			if err != nil {
				return err
			}
			if ok {
				if err := w.deliver(ctx, e); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// match decides one event for this subscription alone.
func (w *worker) match(ctx context.Context, c *criteria, s *Subscription, e store.Event) (bool, error) {
	if e.Type != s.Type || e.Action == store.EventDelete {
		return false, nil
	}
	rec, err := w.d.version(ctx, e)
	if err != nil {
		return false, err
	}
	ix, err := w.d.indexOf(rec.Body)
	if err != nil {
		return false, nil
	}
	ok, err := w.d.matches(ctx, c, e.ID, ix)
	if err != nil {
		w.d.lg.Warn("matching subscription criteria", "criteria", c.text, "err", err)
		return true, nil // as the matcher does: deliver rather than lose
	}
	return ok, nil
}

// errGaveUp: the retry window passed; the subscription is now in error.
var errGaveUp = errors.New("delivery given up")

// deliver sends the notification of e until it succeeds, records it in the cursor, and
// returns nil; or returns errGaveUp once the retry window has passed (the subscription is
// then set to error), ErrCursorLost when another process has taken the subscription, or the
// context's error.
func (w *worker) deliver(ctx context.Context, e store.Event) error {
	w.mu.Lock()
	skip := e.Seq <= w.cursor
	w.mu.Unlock()
	if skip {
		return nil
	}
	d := w.d
	name := cursorName(w.id)
	for {
		s := w.subscription()
		err := w.post(ctx, s, e)
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil {
			w.mu.Lock()
			w.cursor = max(w.cursor, e.Seq)
			// The cursor is written at once when nothing else is waiting (or after
			// failures, to clear them); under a stream of notifications, at most every
			// cursorPersistEvery: a restart then repeats at most that much (at least once).
			now := !w.failingSince.IsZero() || (len(w.queue) == 0 && !w.catchingUp) || time.Since(w.persisted) >= cursorPersistEvery
			w.attempts, w.failingSince = 0, time.Time{}
			w.dirty = true
			w.mu.Unlock()
			if now {
				return w.persist(ctx)
			}
			return nil
		}
		c, ferr := d.cur.FailCursor(ctx, name, d.opts.Owner, err.Error(), time.Now())
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(ferr, store.ErrCursorLost) {
			return ferr
		}
		w.mu.Lock()
		if ferr == nil {
			w.attempts, w.failingSince = c.Attempts, c.FailingSince
		} else {
			w.attempts++
			if w.failingSince.IsZero() {
				w.failingSince = time.Now()
			}
		}
		attempts, since := w.attempts, w.failingSince
		w.mu.Unlock()
		if time.Since(since) >= d.opts.RetryWindow {
			msg := fmt.Sprintf("notifications to %s have failed since %s (%d attempts; last: %v); %s/%s/_history/%d (event %d) and later ones are undelivered",
				s.Endpoint, since.UTC().Format(time.RFC3339), attempts, err, e.Type, e.ID, e.Version, e.Seq)
			d.setStatus(ctx, s.ID, s.Version, "error", msg)
			return errGaveUp
		}
		d.lg.Debug("notification failed; retrying", "id", w.id, "seq", e.Seq, "attempts", attempts, "err", err)
		if !sleep(ctx, w.backoff(attempts)) {
			return ctx.Err()
		}
	}
}

// stopGrace is how long a notification in flight may still take once its worker stops.
const stopGrace = 2 * time.Second

// cursorPersistEvery bounds how long a delivered notification goes unrecorded while more
// are being delivered.
const cursorPersistEvery = 100 * time.Millisecond

// persist writes the cursor if it is ahead of the database; it returns ErrCursorLost when
// another process has taken the subscription.
func (w *worker) persist(ctx context.Context) error {
	w.mu.Lock()
	if !w.dirty {
		w.mu.Unlock()
		return nil
	}
	seq := w.cursor
	w.dirty, w.persisted = false, time.Now()
	w.mu.Unlock()
	// What was delivered is recorded even when the worker is being stopped.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := w.d.cur.AdvanceCursor(pctx, cursorName(w.id), w.d.opts.Owner, seq)
	if errors.Is(err, store.ErrCursorLost) {
		return err
	}
	if err != nil {
		// Delivered but not recorded: it may be delivered again (at least once).
		w.d.lg.Warn("recording delivered notifications", "id", w.id, "seq", seq, "err", err)
		w.mu.Lock()
		w.dirty = true
		w.mu.Unlock()
	}
	return nil
}

// backoff is the wait after the n-th failed attempt: doubling from MinBackoff up to
// MaxBackoff, with ±20% jitter so that retries to one endpoint spread out.
func (w *worker) backoff(n int) time.Duration {
	b := w.d.opts.MinBackoff
	for i := 1; i < n && b < w.d.opts.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, w.d.opts.MaxBackoff)
	return time.Duration(float64(b) * (0.8 + 0.4*rand.Float64()))
}

// post makes one attempt at the notification of e.
func (w *worker) post(ctx context.Context, s *Subscription, e store.Event) error {
	d := w.d
	var body []byte
	if s.Payload == PayloadFull {
		rec, err := d.version(ctx, e)
		if err != nil {
			return fmt.Errorf("reading %s/%s/_history/%d: %w", e.Type, e.ID, e.Version, err)
		}
		body = rec.Body
	}
	// A notification in flight when the worker stops is given stopGrace to complete, so
	// that a restart does not repeat what the receiver has just taken.
	reqCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stopAfter := context.AfterFunc(ctx, func() { time.AfterFunc(stopGrace, cancel) })
	defer stopAfter()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, s.Endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, vs := range s.Headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if s.Payload != PayloadNone {
		req.Header.Set("Content-Location", location(d.opts.Base, e))
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json; charset=utf-8")
	}
	// The event number lets a receiver spot a redelivery (delivery is at least once).
	req.Header.Set("X-Concord-Event", strconv.FormatInt(e.Seq, 10))
	sem := d.healthy
	w.mu.Lock()
	if w.attempts > 0 {
		sem = d.retrying
	}
	w.mu.Unlock()
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	if ctx.Err() != nil {
		<-sem
		return ctx.Err()
	}
	resp, err := d.opts.Client.Do(req)
	<-sem
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the endpoint answered %s", resp.Status)
	}
	return nil
}

func location(base string, e store.Event) string {
	p := e.Type + "/" + e.ID + "/_history/" + strconv.FormatInt(e.Version, 10)
	if base == "" {
		return p
	}
	if base[len(base)-1] != '/' {
		base += "/"
	}
	return base + p
}

// sleep waits for d or the end of ctx; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
