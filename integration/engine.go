package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/concord-health/concord/integration/hl7v2"
	"github.com/concord-health/concord/integration/mllp"
	"github.com/concord-health/concord/integration/v2fhir"
	"github.com/concord-health/concord/interaction"
	"github.com/concord-health/concord/store"
)

// Unrouted is the inbox channel of messages no channel takes (an unknown sender, or a
// message too broken to say who sent it): they are kept as dead letters all the same.
const Unrouted = "unrouted"

// Retry says how an applier retries a message whose application failed for a reason that
// may pass (the database unavailable): with exponential backoff from Initial to Max, up to
// Attempts times before the message becomes a dead letter.
type Retry struct {
	Initial, Max time.Duration
	Attempts     int
}

// DefaultRetry retries for about an hour.
var DefaultRetry = Retry{Initial: 500 * time.Millisecond, Max: time.Minute, Attempts: 70}

// Engine runs the channels: Handle receives messages (the MLLP handler), Run applies them.
type Engine struct {
	config *Config
	inbox  store.Inbox
	fhir   *interaction.Service
	log    *slog.Logger
	retry  Retry

	feeds map[string]*feed
	wake  map[string]chan struct{}
}

// Options configure an Engine.
type Options struct {
	Logger *slog.Logger
	Retry  Retry // DefaultRetry when zero
}

// New makes an engine over the channels of cfg (nil: the default channel), the inbox, and
// the FHIR service its messages are applied through. A channel's validate setting becomes
// the validation mode of source "hl7v2/<name>".
func New(cfg *Config, inbox store.Inbox, fhir *interaction.Service, opts Options) *Engine {
	if cfg == nil {
		cfg = &Config{Channels: []*Channel{DefaultChannel()}}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Retry.Attempts == 0 {
		opts.Retry = DefaultRetry
	}
	e := &Engine{config: cfg, inbox: inbox, fhir: fhir, log: opts.Logger, retry: opts.Retry,
		feeds: map[string]*feed{Unrouted: newFeed(Unrouted)}, wake: map[string]chan struct{}{}}
	for _, ch := range cfg.Channels {
		e.feeds[ch.Name] = newFeed(ch.Name)
		e.wake[ch.Name] = make(chan struct{}, 1)
		if ch.Validate != "" {
			if fhir.Validation.Sources == nil {
				fhir.Validation.Sources = map[string]interaction.ValidationMode{}
			}
			fhir.Validation.Sources[source(ch)] = interaction.ValidationMode(ch.Validate)
		}
	}
	return e
}

// source is the name a channel's writes go under, for the validation policy.
func source(ch *Channel) string { return "hl7v2/" + ch.Name }

// Handle receives one message: it is routed to its channel, checked, mapped and stored in
// the inbox before the acknowledgement is returned, so a positive ACK means the message
// is safe. A message that cannot be taken is stored as a dead letter, and the ACK (AE or AR,
// with ERR segments) says why.
func (e *Engine) Handle(ctx context.Context, c mllp.ConnInfo, raw []byte) []byte {
	msg, err := hl7v2.Parse(raw)
	if err != nil {
		header, _ := hl7v2.ParseHeader(raw)
		ch := Unrouted
		if header != nil {
			if r := e.config.route(header.SendingApplication().Namespace, header.SendingFacility().Namespace); r != nil {
				ch = r.Name
			}
		}
		return e.reject(ctx, header, ch, raw, "", hl7v2.AckErrorOf(err))
	}
	code, event, _ := msg.Type()
	typ := code + "^" + event
	if problems := msg.CheckHeader(); len(problems) > 0 {
		return e.reject(ctx, msg, e.channelName(msg), raw, typ, hl7v2.AckErrorOf(problems[0]))
	}
	ch := e.config.route(msg.SendingApplication().Namespace, msg.SendingFacility().Namespace)
	if ch == nil {
		return e.reject(ctx, msg, Unrouted, raw, typ, hl7v2.AckError{Segment: "MSH", SegmentIndex: 1, Field: 3,
			Code: hl7v2.CodeUnknownKeyIdentifier, UserMessage: fmt.Sprintf("no channel takes messages from %s at %s",
				msg.SendingApplication(), msg.SendingFacility())})
	}
	if !ch.accepts(code, event) {
		return e.reject(ctx, msg, ch.Name, raw, typ, hl7v2.AckError{Segment: "MSH", SegmentIndex: 1, Field: 9,
			Code: hl7v2.CodeUnsupportedMessageType, UserMessage: fmt.Sprintf("channel %s does not take %s messages", ch.Name, typ)})
	}
	mapped, err := v2fhir.Map(msg, ch.mapping(msg))
	if err != nil {
		return e.reject(ctx, msg, ch.Name, raw, typ, ackError(err))
	}
	f := e.feeds[ch.Name]
	seq, dup, err := e.inbox.Receive(ctx, &store.InboxMessage{
		Channel: ch.Name, DedupKey: dedupKey(msg), OrderKey: mapped.PatientKey, Type: typ, Body: raw,
	})
	if err != nil {
		// Not stored, so not acknowledged: the sender will send it again.
		e.log.Error("hl7v2: message not stored", "channel", ch.Name, "control_id", msg.ControlID(), "err", err)
		f.noteReceived(time.Now(), false)
		return ack(msg, hl7v2.ApplicationError, hl7v2.AckError{Code: hl7v2.CodeApplicationInternalError,
			UserMessage: "the message could not be stored; send it again"})
	}
	f.noteReceived(time.Now(), true)
	if dup {
		e.log.Info("hl7v2: duplicate message", "channel", ch.Name, "control_id", msg.ControlID(), "seq", seq)
		return ack(msg, hl7v2.ApplicationAccept, hl7v2.AckError{Code: hl7v2.CodeDuplicateKeyIdentifier, Severity: hl7v2.SeverityInformation,
			UserMessage: fmt.Sprintf("duplicate of message %d, already received", seq)})
	}
	select {
	case e.wake[ch.Name] <- struct{}{}:
	default:
	}
	var warnings []hl7v2.AckError
	for _, w := range mapped.Warnings {
		warnings = append(warnings, hl7v2.AckError{Code: hl7v2.CodeAccepted, Severity: hl7v2.SeverityWarning, UserMessage: w})
	}
	return ack(msg, hl7v2.ApplicationAccept, warnings...)
}

// FrameError answers a frame the MLLP layer could not take (too large, or badly ended)
// with a rejection before the connection is closed; its content was never read, so there
// is nothing to keep. It is counted against the unrouted feed. Use it as
// mllp.Server.OnFrameError.
func (e *Engine) FrameError(c mllp.ConnInfo, err error) []byte {
	f := e.feeds[Unrouted]
	f.noteFailed(time.Now())
	e.log.Warn("hl7v2: frame refused", "remote", c.RemoteAddr, "err", err)
	code := hl7v2.CodeApplicationInternalError
	if errors.Is(err, mllp.ErrMessageTooLarge) {
		code = hl7v2.CodeValueTooLong
	}
	return ack(nil, hl7v2.ApplicationReject, hl7v2.AckError{Code: code, UserMessage: err.Error()})
}

// channelName is the channel a message routes to, Unrouted when none.
func (e *Engine) channelName(msg *hl7v2.Message) string {
	if ch := e.config.route(msg.SendingApplication().Namespace, msg.SendingFacility().Namespace); ch != nil {
		return ch.Name
	}
	return Unrouted
}

// dedupKey identifies a message for its channel: the sending application and facility and
// the control id (MSH-10), which together are unique by the standard.
func dedupKey(msg *hl7v2.Message) string {
	return msg.SendingApplication().String() + "|" + msg.SendingFacility().String() + "|" + msg.ControlID()
}

// reject stores a message that cannot be applied as a dead letter and answers AE, or AR
// for a rejection (table 0357's 2xx codes).
func (e *Engine) reject(ctx context.Context, msg *hl7v2.Message, channel string, raw []byte, typ string, why hl7v2.AckError) []byte {
	reason := why.UserMessage
	switch {
	case why.Segment != "" && why.Field > 0:
		reason = fmt.Sprintf("%s-%d: %s", why.Segment, why.Field, reason)
	case why.Segment != "":
		reason = why.Segment + ": " + reason
	}
	reason = fmt.Sprintf("%d %s: %s", int(why.Code), why.Code.Text(), reason)
	f := e.feeds[channel]
	// Dead letters are kept without a duplicate key: a corrected message may come again
	// under the same control id.
	seq, _, err := e.inbox.Receive(ctx, &store.InboxMessage{Channel: channel, Type: typ, Body: raw})
	if err == nil {
		err = e.inbox.Fail(ctx, seq, reason)
	}
	if err != nil {
		e.log.Error("hl7v2: dead letter not stored", "channel", channel, "reason", reason, "err", err)
	}
	f.noteReceived(time.Now(), err == nil)
	f.noteFailed(time.Now())
	e.log.Warn("hl7v2: message refused", "channel", channel, "type", typ, "seq", seq, "reason", reason)
	code := hl7v2.ApplicationError
	if why.Code.Rejection() {
		code = hl7v2.ApplicationReject
	}
	return ack(msg, code, why)
}

// ack encodes an acknowledgement of msg (which may be nil for a message without a readable
// header). A sender in enhanced mode (MSH-15/16 valued) gets the accept acknowledgement
// (CA/CE/CR) when MSH-15 asks for it, and nothing otherwise: the outcome of applying the
// message is in the inbox, not sent back as an application acknowledgement.
func ack(msg *hl7v2.Message, code hl7v2.AckCode, errs ...hl7v2.AckError) []byte {
	if msg != nil && msg.EnhancedMode() {
		accept, _ := msg.AcksWanted(code == hl7v2.ApplicationAccept)
		if !accept {
			return nil
		}
		code = map[hl7v2.AckCode]hl7v2.AckCode{hl7v2.ApplicationAccept: hl7v2.CommitAccept,
			hl7v2.ApplicationError: hl7v2.CommitError, hl7v2.ApplicationReject: hl7v2.CommitReject}[code]
	}
	return hl7v2.NewACK(msg, code, hl7v2.WithAckError(errs...)).Encode()
}

// ackError describes a mapping error for an ERR segment.
func ackError(err error) hl7v2.AckError {
	var me *v2fhir.MapError
	if errors.As(err, &me) {
		a := hl7v2.AckError{Code: me.Code, UserMessage: me.Message}
		if me.Location != "" {
			if p, perr := hl7v2.ParsePath(me.Location); perr == nil {
				a.Segment, a.Field, a.Repetition, a.Component, a.Subcomponent = p.Segment, p.Field, p.Repetition, p.Component, p.Subcomponent
				a.SegmentIndex = max(p.Occurrence, 1)
			} else {
				a.UserMessage = me.Location + ": " + me.Message
			}
		}
		return a
	}
	return hl7v2.AckErrorOf(err)
}

// Run applies the channels' pending messages until ctx ends: one applier per channel, so
// a channel's messages are applied in arrival order and a slow channel delays no other.
func (e *Engine) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, ch := range e.config.Channels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.applier(ctx, ch)
		}()
	}
	wg.Wait()
}

// poll is how often an idle applier looks for work it was not told about (replays from
// another process, messages left by a previous run).
const poll = time.Second

func (e *Engine) applier(ctx context.Context, ch *Channel) {
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		if backoff > 0 {
			if !sleep(ctx, backoff) {
				return
			}
		}
		list, err := e.inbox.Pending(ctx, ch.Name, 100)
		if err != nil {
			if ctx.Err() == nil {
				e.log.Error("hl7v2: reading the inbox", "channel", ch.Name, "err", err)
			}
			backoff = e.next(backoff)
			continue
		}
		if len(list) == 0 {
			backoff = 0
			select {
			case <-ctx.Done():
				return
			case <-e.wake[ch.Name]:
			case <-time.After(poll):
			}
			continue
		}
		backoff = 0
		for _, m := range list {
			if ctx.Err() != nil {
				return
			}
			if !e.applyOne(ctx, ch, m) {
				// A failure that may pass: try the same message again after a pause, so that
				// no later message overtakes it.
				backoff = e.next(backoff)
				break
			}
		}
	}
}

func (e *Engine) next(d time.Duration) time.Duration {
	if d == 0 {
		return e.retry.Initial
	}
	return min(2*d, e.retry.Max)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// applyOne applies one message, reporting false when it failed for a reason that may pass
// and should be retried.
func (e *Engine) applyOne(ctx context.Context, ch *Channel, m *store.InboxMessage) bool {
	f := e.feeds[ch.Name]
	fail := func(reason string) bool {
		if err := e.inbox.Fail(ctx, m.Seq, reason); err != nil {
			e.log.Error("hl7v2: dead letter not recorded", "channel", ch.Name, "seq", m.Seq, "err", err)
			return false
		}
		f.noteFailed(time.Now())
		e.log.Warn("hl7v2: message failed", "channel", ch.Name, "seq", m.Seq, "type", m.Type, "reason", reason)
		return true
	}
	msg, err := hl7v2.Parse(m.Body)
	if err != nil {
		return fail(err.Error())
	}
	mapped, err := v2fhir.Map(msg, ch.mapping(msg))
	if err != nil {
		return fail(err.Error())
	}
	resp := e.fhir.Do(ctx, &interaction.Request{
		Method: "POST", Body: mapped.Bundle, ContentType: "application/fhir+json", Source: source(ch),
		InTransaction: func(ctx context.Context, tx store.Tx) error {
			itx, ok := tx.(store.InboxTx)
			if !ok {
				return errors.New("the store has no inbox")
			}
			if mapped.MergedFrom != "" {
				if err := e.moveMerged(ctx, tx, mapped.MergedFrom, mapped.PatientKey); err != nil {
					return err
				}
			}
			return itx.InboxApplied(ctx, m.Seq)
		},
	})
	switch {
	case resp.Status < 300:
		f.noteApplied(time.Now(), m.Received)
		return true
	case resp.Status < 500:
		// The record refused it (validation, a conflict): sending it again changes nothing.
		return fail(fmt.Sprintf("%d %s", resp.Status, outcomeText(resp.Body)))
	}
	if ctx.Err() != nil {
		return false
	}
	// Another process may have applied it meanwhile (the transaction then fails on the
	// inbox row); otherwise the failure may pass.
	if cur, err := e.inbox.Get(ctx, m.Seq); err == nil && cur.State != store.InboxPending {
		return true
	}
	reason := fmt.Sprintf("%d %s", resp.Status, outcomeText(resp.Body))
	if m.Attempts+1 >= e.retry.Attempts {
		return fail(reason + fmt.Sprintf(" (gave up after %d attempts)", m.Attempts+1))
	}
	if err := e.inbox.Retry(ctx, m.Seq, reason); err != nil {
		e.log.Error("hl7v2: retry not recorded", "channel", ch.Name, "seq", m.Seq, "err", err)
	}
	f.noteRetry()
	e.log.Warn("hl7v2: message will be retried", "channel", ch.Name, "seq", m.Seq, "attempt", m.Attempts+1, "reason", reason)
	return false
}

// moveMerged gives the surviving patient of a merge (A40) everything that referenced the
// retired one, in the transaction that applies the merge.
func (e *Engine) moveMerged(ctx context.Context, tx store.Tx, retired, survivor string) error {
	one := func(identifier string) (string, error) {
		ids, err := e.fhir.MatchInTx(ctx, tx, "Patient", "identifier="+url.QueryEscape(identifier))
		if err != nil {
			return "", err
		}
		if len(ids) != 1 {
			return "", fmt.Errorf("merge: %d patients have identifier %s, not one", len(ids), identifier)
		}
		return ids[0], nil
	}
	from, err := one(retired)
	if err != nil {
		return err
	}
	to, err := one(survivor)
	if err != nil {
		return err
	}
	moved, err := e.fhir.MovePatientData(ctx, tx, from, to)
	if err != nil {
		return fmt.Errorf("merge: moving Patient/%s's resources: %w", from, err)
	}
	e.log.Info("hl7v2: patients merged", "retired", "Patient/"+from, "survivor", "Patient/"+to, "resources moved", moved)
	return nil
}

// outcomeText is the diagnostics of an OperationOutcome, joined.
func outcomeText(body []byte) string {
	var oo struct {
		Issue []struct {
			Diagnostics string   `json:"diagnostics"`
			Expression  []string `json:"expression"`
		} `json:"issue"`
	}
	if json.Unmarshal(body, &oo) != nil || len(oo.Issue) == 0 {
		return strings.TrimSpace(string(body))
	}
	var parts []string
	for _, i := range oo.Issue {
		p := i.Diagnostics
		if len(i.Expression) > 0 {
			p += " (" + strings.Join(i.Expression, ", ") + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}
