// Package events delivers FHIR R4 Subscription notifications from the store's event log
// (store.EventLog, the transactional outbox every write fills).
//
// A Dispatcher follows the log. Subscriptions are ordinary Subscription resources: the
// dispatcher loads the requested and active ones when it starts and takes up every later
// change from the log itself (a Subscription's own events), so a subscription written
// through any node sharing the database, or deleted, is seen. One it cannot serve (criteria
// that are not a search of this server, a channel other than rest-hook, an endpoint that is
// not https, except to a loopback host, an unsupported payload) is set to status error with
// Subscription.error saying why; CheckSubscription gives the same verdict to a validation
// hook that would rather refuse the write with a 422. An accepted one goes from requested to
// active; a client ends it by setting it off (or deleting it), and the dispatcher sets it off
// once its end has passed. R4 defines no handshake.
//
// Matching (match.go): each create or update is matched against the subscriptions of its
// resource type; criteria are evaluated as a search of this server restricted to the
// resource. As R4 specifies for criteria subscriptions, deletions are not notified.
//
// Delivery (deliver.go) is at least once and in order per subscription. Each subscription
// has a cursor in the database (store.EventCursors: the seq of the last event it has
// finished with) and a lease on it: of several processes sharing one PostgreSQL database,
// the one holding a subscription's lease delivers its notifications, so each is delivered
// once whichever node picks it up (twice only if a node loses its lease mid-delivery, or
// stops between a delivery and recording it). Each held subscription has its own goroutine
// and queue, so a slow or dead endpoint delays no one else; a failed notification is retried
// with exponential backoff, and once it has failed for the retry window (24 hours by
// default, kept in the database across restarts) the subscription is set to status error.
// A subscription set back to requested resumes from its cursor: nothing is lost.
package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/fhir/definitions"
	"github.com/concord-health/concord/interaction"
	"github.com/concord-health/concord/search"
	"github.com/concord-health/concord/store"
)

// Options tune a Dispatcher; zero values take the defaults.
type Options struct {
	// RetryWindow is how long a notification is retried before its subscription is set to
	// status error (default 24 hours).
	RetryWindow time.Duration
	// MinBackoff and MaxBackoff bound the wait between attempts, which doubles from the
	// first to the second (defaults 1 second and 10 minutes).
	MinBackoff, MaxBackoff time.Duration
	// Client sends the notifications (default: a client with a 10 second timeout that does
	// not follow redirects).
	Client *http.Client
	// Concurrency bounds the notifications in flight to healthy endpoints (default 32);
	// retries to failing endpoints have a quarter of that (at least 1) of their own, so
	// endpoints that hang cannot hold up the healthy ones.
	Concurrency int
	// QueueLimit bounds the notifications queued in memory per subscription (default
	// 1000); beyond it a subscription reads its backlog from the event log.
	QueueLimit int
	Logger     *slog.Logger
	// Registry and Extractor default to the R4 definitions and an extractor over them.
	Registry  *definitions.Registry
	Extractor *search.Extractor
	// Owner names this process in leases (default: host name, process id and a random
	// suffix). Processes sharing a database must have different owners.
	Owner string
	// Lease is how long a process holds a subscription without renewing (default 30
	// seconds); renewed every third of it. Clocks of processes sharing a database must
	// agree to well within it.
	Lease time.Duration
	// PollInterval is how often the event log is read when nothing wakes the dispatcher
	// (default 250 milliseconds): writes through the Service wake it at once, so polling
	// only finds the writes of other processes sharing the database, and an idle server
	// stays idle.
	PollInterval time.Duration
	// Base is the FHIR base URL that Content-Location headers of notifications start with
	// ("" gives paths relative to the base).
	Base string
}

func (o *Options) defaults() error {
	if o.RetryWindow <= 0 {
		o.RetryWindow = 24 * time.Hour
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Minute
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 32
	}
	if o.QueueLimit <= 0 {
		o.QueueLimit = 1000
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Registry == nil {
		o.Registry = definitions.R4()
	}
	if o.Extractor == nil {
		x, err := search.NewExtractor(o.Registry)
		if err != nil {
			return err
		}
		o.Extractor = x
	}
	if o.Owner == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		rand.Read(b)
		o.Owner = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	if o.Lease <= 0 {
		o.Lease = 30 * time.Second
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 250 * time.Millisecond
	}
	return nil
}

// subscriptionsCursor is the cursor of the dispatchers' own reading of the log: where a
// starting dispatcher resumes taking up Subscription changes.
const subscriptionsCursor = "subscriptions"

func cursorName(id string) string { return "subscription/" + id }

// statusSource is the Request.Source of the dispatcher's status writes.
const statusSource = "subscriptions"

// Dispatcher delivers the notifications of the Subscriptions in a store.
type Dispatcher struct {
	st   store.Store
	log  store.EventLog
	cur  store.EventCursors
	svc  *interaction.Service
	opts Options
	lg   *slog.Logger

	wake chan struct{}
	// pos is the seq up to which the matcher has handled the log.
	pos atomic.Int64
	// running guards against two Runs at once.
	running atomic.Bool

	healthy, retrying chan struct{}

	// The matcher goroutine's state.
	subs    map[string]*Subscription // the requested and active ones this dispatcher can serve
	workers map[string]*worker       // those whose lease it holds
	index   *matchIndex
	// holdsLog: this process holds the subscriptions cursor.
	holdsLog bool
	// needClaim: a subscription to serve was added since the last claim.
	needClaim bool
	// newCursors are the subscriptions (and the seq their notifications start after) whose
	// cursors are to be created before the next claim.
	newCursors map[string]int64
	// held counts the workers (for tests and benchmarks).
	held atomic.Int64
	wg   sync.WaitGroup
}

// NewDispatcher returns a dispatcher over st, which must also be a store.EventLog and a
// store.EventCursors (both SQL backends are), writing subscription statuses through svc. It
// registers commit hooks on svc that wake it after each write, so call it before svc
// serves requests.
func NewDispatcher(st store.Store, svc *interaction.Service, opts Options) (*Dispatcher, error) {
	l, ok := st.(store.EventLog)
	if !ok {
		return nil, fmt.Errorf("events: %T keeps no event log", st)
	}
	c, ok := st.(store.EventCursors)
	if !ok {
		return nil, fmt.Errorf("events: %T keeps no event cursors", st)
	}
	if svc == nil {
		return nil, errors.New("events: a dispatcher needs the interaction service")
	}
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	d := &Dispatcher{st: st, log: l, cur: c, svc: svc, opts: opts, lg: opts.Logger.With("component", "subscriptions"),
		wake:     make(chan struct{}, 1),
		healthy:  make(chan struct{}, opts.Concurrency),
		retrying: make(chan struct{}, max(1, opts.Concurrency/4)),
	}
	for _, typ := range opts.Registry.ResourceTypes() {
		svc.OnCommit(typ, func(*fhir.Resource) { d.Notify() })
	}
	// A Subscription the server cannot serve (criteria it cannot run, an endpoint it will
	// not call) is refused at write with a 422 naming the element; one that reaches the
	// store another way is set to status error when taken up.
	reg := opts.Registry
	svc.AddWriteRule("Subscription", func(res *fhir.Resource) *fhir.Error { return CheckSubscription(reg, res) })
	return d, nil
}

// Notify wakes the dispatcher to read the event log now (writes through the Service do).
func (d *Dispatcher) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers notifications until ctx ends; then it stops its deliveries, gives up its
// leases and returns nil. It returns an error if it cannot start.
func (d *Dispatcher) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return errors.New("events: the dispatcher is already running")
	}
	defer d.running.Store(false)
	d.subs, d.workers, d.index = map[string]*Subscription{}, map[string]*worker{}, newMatchIndex()
	d.newCursors = map[string]int64{}
	last, err := d.log.LastEvent(ctx)
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	if err := d.cur.CreateCursors(ctx, []string{subscriptionsCursor}, last); err != nil {
		return fmt.Errorf("events: %w", err)
	}
	c, err := d.cur.Cursor(ctx, subscriptionsCursor)
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	pos := c.Seq
	d.pos.Store(pos)
	if err := d.loadSubscriptions(ctx, pos); err != nil {
		return fmt.Errorf("events: loading subscriptions: %w", err)
	}
	defer d.shutdown()
	d.claim(ctx)
	tick := time.NewTicker(d.opts.Lease / 3)
	defer tick.Stop()
	poll := time.NewTimer(0)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			d.claim(ctx)
			d.endExpired(ctx)
			d.advanceIdle(ctx)
			continue
		case <-d.wake:
		case <-poll.C:
		}
		for ctx.Err() == nil {
			evs, err := d.log.Events(ctx, d.pos.Load(), 1000)
			if err != nil {
				if ctx.Err() == nil {
					d.lg.Warn("reading the event log", "err", err)
				}
				break
			}
			for _, e := range evs {
				d.handle(ctx, e)
				d.pos.Store(e.Seq)
			}
			if d.needClaim {
				d.claim(ctx)
			}
			if len(evs) < 1000 {
				break
			}
		}
		poll.Reset(d.nextPoll(ctx))
	}
}

// nextPoll is the wait before the log is read again: soon when events beyond the matcher's
// position exist but were not handed out (on PostgreSQL, behind a transaction still
// committing), else the poll interval.
func (d *Dispatcher) nextPoll(ctx context.Context) time.Duration {
	if last, err := d.log.LastEvent(ctx); err == nil && last > d.pos.Load() {
		return max(time.Millisecond, d.opts.PollInterval/10)
	}
	return d.opts.PollInterval
}

// shutdown stops every worker and gives up the leases.
func (d *Dispatcher) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, w := range d.workers {
		w.mu.Lock()
		w.stopped = true
		w.mu.Unlock()
		w.cancel()
	}
	d.wg.Wait()
	for _, w := range d.workers {
		w.persist(w.ctx)
	}
	if d.holdsLog && len(d.newCursors) == 0 {
		d.cur.AdvanceCursors(ctx, d.opts.Owner, map[string]int64{subscriptionsCursor: d.pos.Load()})
	}
	if err := d.cur.ReleaseCursors(ctx, d.opts.Owner); err != nil {
		d.lg.Warn("releasing subscriptions", "err", err)
	}
}

// loadSubscriptions takes up the requested and active Subscriptions in the store.
func (d *Dispatcher) loadSubscriptions(ctx context.Context, seq int64) error {
	q, _, err := search.Parse(d.opts.Registry, "Subscription", url.Values{"status": {"requested,active"}, "_count": {"1000"}}, true)
	if err != nil {
		return err
	}
	for {
		res, err := d.st.Search(ctx, q)
		if err != nil {
			return err
		}
		for _, r := range res.Matches {
			d.apply(ctx, r, seq)
		}
		if res.Next == "" {
			return nil
		}
		q.Cursor = res.Next
	}
}

// handle takes one event of the log: a Subscription change, or a write to match.
func (d *Dispatcher) handle(ctx context.Context, e store.Event) {
	if e.Type == "Subscription" {
		r, err := d.st.Read(ctx, "Subscription", e.ID)
		switch {
		case errors.Is(err, store.ErrGone), errors.Is(err, store.ErrNotFound):
			d.drop(ctx, e.ID, true)
			return
		case err != nil:
			d.lg.Warn("reading a subscription", "id", e.ID, "err", err)
			return
		}
		d.apply(ctx, r, e.Seq)
	}
	if e.Action == store.EventDelete {
		return
	}
	ti := d.index.types[e.Type]
	if ti == nil {
		return
	}
	rec, err := d.version(ctx, e)
	if err != nil {
		d.lg.Warn("reading a changed resource", "type", e.Type, "id", e.ID, "version", e.Version, "err", err)
		return
	}
	ix, err := d.indexOf(rec.Body)
	if err != nil {
		d.lg.Warn("indexing a changed resource", "type", e.Type, "id", e.ID, "err", err)
		return
	}
	for _, g := range ti.candidates(e.Type, e.ID, ix) {
		ok, err := d.matches(ctx, g.c, e.ID, ix)
		if err != nil {
			d.lg.Warn("matching subscription criteria", "criteria", g.c.text, "err", err)
			// Deliver rather than lose: a criteria search that fails is a server problem,
			// and the receiver reads what changed.
			ok = true
		}
		if !ok {
			continue
		}
		for _, w := range g.subs {
			w.enqueue(e)
		}
	}
}

// version reads the version an event wrote: usually still the current one, which is one
// lookup.
func (d *Dispatcher) version(ctx context.Context, e store.Event) (*store.Record, error) {
	if r, err := d.st.Read(ctx, e.Type, e.ID); err == nil && r.Version == e.Version {
		return r, nil
	}
	return d.st.VRead(ctx, e.Type, e.ID, e.Version)
}

func (d *Dispatcher) indexOf(body []byte) (*search.Index, error) {
	res, err := fhir.Parse(body)
	if err != nil {
		return nil, err
	}
	return d.opts.Extractor.Extract(res), nil
}

// matches decides criteria for a resource with the given index rows (of the event's
// version): in memory when they allow, else, once the filters decidable in memory hold, by
// the server's search restricted to the resource.
func (d *Dispatcher) matches(ctx context.Context, c *criteria, id string, ix *search.Index) (bool, error) {
	for _, f := range c.q.Filters {
		if memFilter(d.opts.Registry, f) && !memFilterMatch(c.typ, f, id, ix) {
			return false, nil
		}
	}
	if c.inMemory {
		return true, nil
	}
	return d.searchMatch(ctx, c, id)
}

// searchMatch runs the criteria as a search of the server with _id=id added.
func (d *Dispatcher) searchMatch(ctx context.Context, c *criteria, id string) (bool, error) {
	_, rawQ, _ := cutCriteria(c.key)
	q, err := url.ParseQuery(rawQ)
	if err != nil {
		return false, err
	}
	q.Add("_id", id)
	q.Set("_summary", "count")
	resp := d.svc.Do(ctx, &interaction.Request{Method: "GET", Path: c.typ, Query: q, Source: statusSource,
		Prefer: interaction.Prefer{Handling: "strict"}})
	if resp.Err != nil {
		return false, resp.Err
	}
	var b struct {
		Total *int `json:"total"`
	}
	if err := json.Unmarshal(resp.Body, &b); err != nil {
		return false, err
	}
	if b.Total == nil {
		return false, errors.New("the search returned no total")
	}
	return *b.Total > 0, nil
}

func cutCriteria(key string) (string, string, bool) {
	for i := 0; i < len(key); i++ {
		if key[i] == '?' {
			return key[:i], key[i+1:], true
		}
	}
	return key, "", false
}

// apply takes up the current version of a Subscription; seq is where notifications of a new
// one start.
func (d *Dispatcher) apply(ctx context.Context, r *store.Record, seq int64) {
	s, err := ParseSubscription(d.opts.Registry, r.Body)
	if s == nil {
		d.lg.Warn("unreadable subscription", "id", r.ID, "err", err)
		return
	}
	s.ID, s.Version = r.ID, r.Version
	switch s.Status {
	case "requested", "active":
	case "error":
		d.drop(ctx, s.ID, false) // kept: a client that sets it back to requested resumes
		return
	default: // off, entered-in-error
		d.drop(ctx, s.ID, true)
		return
	}
	if err != nil {
		d.drop(ctx, s.ID, false)
		d.setStatus(ctx, s.ID, s.Version, "error", err.Error())
		return
	}
	if ended(s) {
		d.drop(ctx, s.ID, true)
		d.setStatus(ctx, s.ID, s.Version, "off", "")
		return
	}
	d.subs[s.ID] = s
	if d.workers[s.ID] == nil {
		// Its cursor is created (unless it exists) before the next claim.
		if _, ok := d.newCursors[s.ID]; !ok {
			d.newCursors[s.ID] = seq
		}
		d.needClaim = true
	}
	if w := d.workers[s.ID]; w != nil {
		old := w.subscription()
		if old.Version == s.Version {
			return
		}
		d.index.remove(w.crit, s.ID)
		w.crit = compileCriteria(d.opts.Registry, s)
		w.setSubscription(s)
		d.index.add(w.crit, w)
		if s.Status == "requested" {
			w.resetFailures(ctx)
			d.setStatus(ctx, s.ID, s.Version, "active", "")
		}
	}
}

// drop stops serving a subscription (and forgets its cursor when it is gone or off).
func (d *Dispatcher) drop(ctx context.Context, id string, forget bool) {
	delete(d.subs, id)
	delete(d.newCursors, id)
	if w := d.workers[id]; w != nil {
		w.stop()
		d.index.remove(w.crit, id)
		delete(d.workers, id)
		if !forget {
			d.cur.ReleaseCursors(ctx, d.opts.Owner, cursorName(id))
		}
	}
	if forget {
		if err := d.cur.DeleteCursor(ctx, cursorName(id)); err != nil {
			d.lg.Warn("removing a subscription cursor", "id", id, "err", err)
		}
	}
}

// claim takes or renews the leases of the subscriptions served, starts a worker for each
// newly held one and stops those whose lease was lost.
func (d *Dispatcher) claim(ctx context.Context) {
	d.needClaim = false
	if len(d.newCursors) > 0 {
		bySeq := map[int64][]string{}
		for id, seq := range d.newCursors {
			bySeq[seq] = append(bySeq[seq], cursorName(id))
		}
		for seq, names := range bySeq {
			if err := d.cur.CreateCursors(ctx, names, seq); err != nil {
				if ctx.Err() == nil {
					d.lg.Warn("creating subscription cursors", "err", err)
				}
				d.needClaim = true
				return
			}
		}
		clear(d.newCursors)
	}
	names := []string{subscriptionsCursor}
	for id := range d.subs {
		names = append(names, cursorName(id))
	}
	now := time.Now()
	held, err := d.cur.ClaimCursors(ctx, d.opts.Owner, names, now, now.Add(d.opts.Lease))
	if err != nil {
		if ctx.Err() == nil {
			d.lg.Warn("claiming subscriptions", "err", err)
		}
		return
	}
	holds := map[string]store.EventCursor{}
	d.holdsLog = false
	for _, c := range held {
		if c.Name == subscriptionsCursor {
			d.holdsLog = true
			continue
		}
		holds[c.Name] = c
	}
	for id, w := range d.workers {
		if _, ok := holds[cursorName(id)]; !ok || w.finished() {
			w.stop()
			d.index.remove(w.crit, id)
			delete(d.workers, id)
		}
	}
	defer func() { d.held.Store(int64(len(d.workers))) }()
	type fresh struct {
		s *Subscription
		c store.EventCursor
	}
	var start []fresh
	pos, from, behind := d.pos.Load(), d.pos.Load(), 0
	for id, s := range d.subs {
		c, ok := holds[cursorName(id)]
		if !ok || d.workers[id] != nil {
			continue
		}
		start = append(start, fresh{s, c})
		if c.Seq < pos {
			behind++
			from = min(from, c.Seq)
		}
	}
	// Subscriptions taken up behind the matcher read their backlog from the log. When there
	// are many (a start, or the subscriptions of a process that stopped), the matcher reads
	// it once for all of them instead: it goes back to the oldest cursor, and the workers it
	// already feeds ignore what they have already been given.
	rewind := behind > 0 && (len(d.workers) == 0 || behind >= rewindMin)
	if rewind {
		for _, w := range d.workers {
			w.skipTo(pos)
		}
		d.pos.Store(from)
	}
	for _, f := range start {
		behindUpTo := pos
		if rewind {
			behindUpTo = 0
		}
		w := d.startWorker(ctx, f.s, f.c, behindUpTo)
		if f.s.Status == "requested" {
			w.resetFailures(ctx)
			d.setStatus(ctx, f.s.ID, f.s.Version, "active", "")
		}
	}
}

// rewindMin is the number of subscriptions taken up behind the matcher from which the
// matcher reads their backlog for them.
const rewindMin = 8

func ended(s *Subscription) bool { return !s.End.IsZero() && !time.Now().Before(s.End) }

// endExpired sets the subscriptions this process serves whose end has come to off.
func (d *Dispatcher) endExpired(ctx context.Context) {
	for id, w := range d.workers {
		if s := w.subscription(); ended(s) {
			d.drop(ctx, id, true)
			d.setStatus(ctx, id, s.Version, "off", "")
		}
	}
}

// advanceIdle moves the cursors of subscriptions with nothing to deliver up to the matcher's
// position, so that a restart does not read again what they had no notification in, and
// records the matcher's position.
func (d *Dispatcher) advanceIdle(ctx context.Context) {
	pos := d.pos.Load()
	seqs := map[string]int64{}
	for id, w := range d.workers {
		if seq, ok := w.idleBelow(pos); ok {
			seqs[cursorName(id)] = seq
		}
	}
	if d.holdsLog && len(d.newCursors) == 0 {
		// Every Subscription change up to pos has been taken up, its cursor created.
		seqs[subscriptionsCursor] = pos
	}
	if err := d.cur.AdvanceCursors(ctx, d.opts.Owner, seqs); err != nil {
		if ctx.Err() == nil {
			d.lg.Warn("advancing idle subscription cursors", "err", err)
		}
		for id, w := range d.workers {
			if _, ok := seqs[cursorName(id)]; ok {
				w.mu.Lock()
				w.dirty = true // to be recorded again
				w.mu.Unlock()
			}
		}
	}
}

// setStatus writes a Subscription's status (and error, "" to remove it) through the
// Service, unless the Subscription has changed since version was read.
func (d *Dispatcher) setStatus(ctx context.Context, id string, version int64, status, errText string) {
	r, err := d.st.Read(ctx, "Subscription", id)
	if err != nil || r.Version != version {
		return
	}
	var obj map[string]any
	dec := json.NewDecoder(bytesReader(r.Body))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return
	}
	obj["status"] = status
	if errText != "" {
		obj["error"] = errText
	} else {
		delete(obj, "error")
	}
	body, err := json.Marshal(obj)
	if err != nil {
		return
	}
	resp := d.svc.Do(ctx, &interaction.Request{Method: "PUT", Path: "Subscription/" + id, Body: body,
		ContentType: "application/fhir+json", IfMatch: `W/"` + strconv.FormatInt(version, 10) + `"`, Source: statusSource})
	if resp.Err != nil && resp.Status != http.StatusPreconditionFailed && ctx.Err() == nil {
		d.lg.Warn("setting a subscription's status", "id", id, "status", status, "err", resp.Err)
		return
	}
	if resp.Err == nil {
		d.lg.Info("subscription status", "id", id, "status", status, "error", errText)
	}
}
