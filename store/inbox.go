package store

import (
	"context"
	"errors"
	"time"
)

// InboxState is where a received message stands.
type InboxState int

const (
	// InboxPending: stored and acknowledged, not yet applied.
	InboxPending InboxState = iota
	// InboxApplied: its resources were written, in the transaction that marked it applied.
	InboxApplied
	// InboxFailed: it could not be applied (a dead letter, with the reason); a replay makes
	// it pending again.
	InboxFailed
)

func (s InboxState) String() string {
	switch s {
	case InboxPending:
		return "pending"
	case InboxApplied:
		return "applied"
	case InboxFailed:
		return "failed"
	}
	return "unknown"
}

// InboxMessage is one message received by an integration channel, kept in the same database
// as the resources so that marking it applied commits with what applying it wrote.
type InboxMessage struct {
	// Seq is the arrival order, assigned by the store.
	Seq int64
	// Channel names the channel (feed) it came in on.
	Channel string
	// DedupKey identifies the message for its channel (for HL7 v2, the sending application
	// and facility and the message control id): a second message with the same key is a
	// duplicate and is not stored again. "" means no duplicate check.
	DedupKey string
	// OrderKey groups messages that must be applied in arrival order (the patient).
	OrderKey string
	// Type is the message type, as the channel reports it (ADT^A01).
	Type     string
	Received time.Time
	Body     []byte

	State    InboxState
	Attempts int
	// Reason says why the message failed (or why its last attempt did).
	Reason  string
	Updated time.Time
}

// InboxFilter selects messages for List.
type InboxFilter struct {
	Channel string // "" = every channel
	State   *InboxState
	// After continues after a Seq; Limit bounds the page (<= 0: 100).
	After int64
	Limit int
}

// InboxCounts summarises a channel's messages by state.
type InboxCounts struct {
	Pending, Applied, Failed int
	// LastReceived is when the newest message arrived (zero when none has).
	LastReceived time.Time
}

// ErrInboxNotFound: no message with that Seq.
var ErrInboxNotFound = errors.New("inbox message not found")

// Inbox is a durable store of received messages. Receive commits before it returns, so a
// channel may acknowledge a message once Receive has succeeded.
type Inbox interface {
	// Receive stores m, unless the channel already holds a message with its DedupKey, in
	// which case duplicate is true and seq is the earlier message's.
	Receive(ctx context.Context, m *InboxMessage) (seq int64, duplicate bool, err error)
	// Pending lists the oldest pending messages of a channel, in arrival order.
	Pending(ctx context.Context, channel string, limit int) ([]*InboxMessage, error)
	// List lists messages (bodies included) in arrival order.
	List(ctx context.Context, f InboxFilter) ([]*InboxMessage, error)
	// Get returns one message, or ErrInboxNotFound.
	Get(ctx context.Context, seq int64) (*InboxMessage, error)
	// Fail marks a pending message failed with the reason (a dead letter).
	Fail(ctx context.Context, seq int64, reason string) error
	// Retry records a failed attempt of a message that stays pending.
	Retry(ctx context.Context, seq int64, reason string) error
	// Replay makes a failed message pending again, with its attempts reset; being the
	// oldest, it is applied next.
	Replay(ctx context.Context, seq int64) error
	// Counts summarises a channel's messages.
	Counts(ctx context.Context, channel string) (InboxCounts, error)
}

// InboxTx is implemented by the write transactions of stores that are also an Inbox.
type InboxTx interface {
	// InboxApplied marks a message applied in this transaction: it is applied if and only
	// if the transaction commits.
	InboxApplied(ctx context.Context, seq int64) error
}
