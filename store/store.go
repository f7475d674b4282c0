// Package store defines how Concord keeps resources: versioned records with full history, the
// search index written in the same transaction, and search execution. Backends (store/sqlite,
// store/postgres) implement Store; store/storetest is the suite both must pass.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/concord-health/concord/fhir"
	"github.com/concord-health/concord/search"
)

// Errors a backend returns; the server maps them to HTTP statuses.
var (
	// ErrNotFound: no resource with that type and id (or no such version).
	ErrNotFound = errors.New("resource not found")
	// ErrGone: the resource's current version is a deletion.
	ErrGone = errors.New("resource deleted")
	// ErrVersionConflict: an If-Match version is not the current one.
	ErrVersionConflict = errors.New("version conflict")
	// ErrExists: a create-only write found a live resource with that id.
	ErrExists = errors.New("resource already exists")
)

// Record is one version of a resource.
type Record struct {
	Type        string
	ID          string
	Version     int64
	LastUpdated time.Time
	Deleted     bool
	// Body is the resource JSON with id and meta.versionId/lastUpdated set; nil for a deletion.
	Body []byte
}

// Put is a create or update of one resource inside a transaction.
type Put struct {
	// Resource has its final id; the store sets meta.versionId and meta.lastUpdated.
	Resource *fhir.Resource
	// Index holds the resource's search rows, extracted by the caller outside the write lock.
	Index *search.Index
	// IfMatch, when non-zero, is the version the current one must be (else ErrVersionConflict).
	IfMatch int64
	// CreateOnly fails the write with ErrExists when a live version exists.
	CreateOnly bool
}

// Tx is a write transaction: everything done through it commits or rolls back together.
type Tx interface {
	// Current returns the current version, a deletion included (Deleted set), or ErrNotFound.
	Current(ctx context.Context, typ, id string) (*Record, error)
	// Put writes a new version and returns it (Body set).
	Put(ctx context.Context, p *Put) (*Record, error)
	// Delete writes a deletion as a new version; deleting what is absent or already deleted
	// returns ErrNotFound and ErrGone respectively, with nothing written.
	Delete(ctx context.Context, typ, id string, ifMatch int64) (*Record, error)
	// Match returns the ids of the resources a search matches, up to limit (for conditional
	// interactions, which must see the transaction's own writes).
	Match(ctx context.Context, q *search.Query, limit int) ([]string, error)
}

// HistoryRequest selects versions for _history at instance (Type and ID), type (Type) or
// system level.
type HistoryRequest struct {
	Type, ID string
	// Since keeps versions updated at or after it; At the versions current at that instant.
	Since, At time.Time
	Count     int
	// Cursor continues from a previous page (HistoryPage.Next).
	Cursor string
}

// HistoryPage is one page of versions, newest first.
type HistoryPage struct {
	Records []*Record
	Total   int
	Next    string
}

// Result is one page of search results.
type Result struct {
	Matches []*Record
	// Included are the resources added by _include/_revinclude (search mode "include").
	Included []*Record
	// Total is the number of matches, or -1 when not computed (_total=none).
	Total int
	// Next and Prev are cursors for the adjacent pages ("" when there is none).
	Next, Prev string
}

// Store is a FHIR resource store.
type Store interface {
	// Read returns the current version; ErrGone (with the deletion's Record) if deleted.
	Read(ctx context.Context, typ, id string) (*Record, error)
	// VRead returns one version; ErrGone (with the Record) if that version is a deletion.
	VRead(ctx context.Context, typ, id string, version int64) (*Record, error)
	History(ctx context.Context, req HistoryRequest) (*HistoryPage, error)
	Search(ctx context.Context, q *search.Query) (*Result, error)
	// Update runs fn in one write transaction, committed if fn returns nil.
	Update(ctx context.Context, fn func(Tx) error) error
	Close() error
}

// ErrBadCursor: a paging cursor the store did not make (or from an incompatible version).
var ErrBadCursor = errors.New("invalid paging cursor")
