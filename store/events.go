package store

import (
	"context"
	"errors"
	"time"
)

// EventAction is what a write did to a resource.
type EventAction uint8

const (
	// EventCreate: the resource had no live version (new, or re-created after a deletion).
	EventCreate EventAction = 1
	// EventUpdate: a new version replaced a live one.
	EventUpdate EventAction = 2
	// EventDelete: the new version is a deletion.
	EventDelete EventAction = 3
)

func (a EventAction) String() string {
	switch a {
	case EventCreate:
		return "create"
	case EventUpdate:
		return "update"
	case EventDelete:
		return "delete"
	}
	return "unknown"
}

// Event records one version written: the store's transactional outbox. Every Put and Delete
// of a Tx writes its event in the same transaction as the version, so an event exists if
// and only if its write committed.
type Event struct {
	// Seq orders the events; it increases with every event (gaps are possible, from writes
	// rolled back).
	Seq     int64
	Type    string
	ID      string
	Version int64
	Action  EventAction
	// Time is the version's lastUpdated.
	Time time.Time
}

// EventLog reads the events in Seq order. A consumer keeps the Seq of the last event it has
// handled and asks for the events after it: Events never hands out an event while one with a
// lower Seq may still commit, so a consumer that moves its position past what it was given
// never misses an event. On a database with one writer (SQLite) commit order is Seq order; on
// PostgreSQL, where concurrent transactions of several processes take their Seq before they
// commit, Events stops at the first Seq that is missing while a transaction that may hold it
// is still running (see store/sqlstore/events.go).
type EventLog interface {
	// Events returns up to limit events with Seq > after, in Seq order (limit <= 0: 1000).
	Events(ctx context.Context, after int64, limit int) ([]Event, error)
	// LastEvent returns the highest Seq written so far (0 when there is none): a consumer
	// starting "from now" starts after it.
	LastEvent(ctx context.Context) (int64, error)
}

// EventCursor is a durable position of one consumer of the event log (a subscription's
// delivery), with the lease that lets one process of several sharing the database own it.
type EventCursor struct {
	// Name identifies the consumer.
	Name string
	// Seq is the last event the consumer has finished with.
	Seq int64
	// Owner holds the lease until LeaseUntil ("" when nobody does).
	Owner      string
	LeaseUntil time.Time
	// FailingSince is when the consumer's current run of failures began (zero when it is
	// not failing); Attempts counts them and LastError says what the last one was. Kept so
	// that a retry window survives a restart or a change of owner.
	FailingSince time.Time
	Attempts     int
	LastError    string
}

// Errors of EventCursors.
var (
	// ErrCursorNotFound: no cursor by that name.
	ErrCursorNotFound = errors.New("event cursor not found")
	// ErrCursorLost: the caller no longer holds the cursor's lease (it expired and another
	// owner took it, or the cursor was removed).
	ErrCursorLost = errors.New("event cursor lease lost")
)

// EventCursors keeps consumers' positions in the event log in the database, so that
// delivery survives a restart, and leases them, so that of several processes sharing the
// database exactly one works on a consumer at a time. Lease times are compared with the
// caller's now, so the processes' clocks must agree to well within a lease.
type EventCursors interface {
	// CreateCursors creates each named cursor at seq, in one transaction; cursors that
	// exist are left as they are.
	CreateCursors(ctx context.Context, names []string, seq int64) error
	// Cursor returns one cursor, or ErrCursorNotFound.
	Cursor(ctx context.Context, name string) (*EventCursor, error)
	// ClaimCursors takes or renews, until the given time, the lease of each named cursor
	// that is free, expired at now or already owner's, and returns the cursors owner holds
	// afterwards (in any order).
	ClaimCursors(ctx context.Context, owner string, names []string, now, until time.Time) ([]EventCursor, error)
	// AdvanceCursor moves a cursor owner holds to seq (never backwards) and clears its
	// failure; ErrCursorLost when owner does not hold it.
	AdvanceCursor(ctx context.Context, name, owner string, seq int64) error
	// AdvanceCursors moves several cursors owner holds, each to its seq (never backwards),
	// in one transaction; those owner does not hold are left alone.
	AdvanceCursors(ctx context.Context, owner string, seqs map[string]int64) error
	// FailCursor records a failed attempt (the first of a run sets FailingSince to at);
	// ErrCursorLost when owner does not hold it.
	FailCursor(ctx context.Context, name, owner, reason string, at time.Time) (*EventCursor, error)
	// ReleaseCursors gives up owner's leases of the named cursors (of every cursor owner
	// holds when no name is given); cursors owner does not hold are left alone.
	ReleaseCursors(ctx context.Context, owner string, names ...string) error
	// DeleteCursor removes a cursor, whoever holds it.
	DeleteCursor(ctx context.Context, name string) error
}
