package interaction_test

import (
	"context"
	"errors"
	"testing"

	"github.com/concord-health/concord/interaction"
	"github.com/concord-health/concord/store"
)

// TestInTransaction: work a caller adds to a transaction Bundle's write transaction commits
// with its entries, and its failure rolls them back.
func TestInTransaction(t *testing.T) {
	svc := writeCheckService(t, "off", "")
	ctx := context.Background()
	bundle := []byte(`{"resourceType":"Bundle","type":"transaction","entry":[
		{"fullUrl":"urn:uuid:6f1c9b2e-1a7d-4a61-9a2e-0c4b8f3a5d10","resource":{"resourceType":"Patient","name":[{"family":"Rollback"}]},
		 "request":{"method":"POST","url":"Patient"}}]}`)
	var sawTx bool
	failing := &interaction.Request{Method: "POST", Body: bundle, InTransaction: func(ctx context.Context, tx store.Tx) error {
		sawTx = tx != nil
		return errors.New("the inbox could not be updated")
	}}
	if r := svc.Do(ctx, failing); r.Status < 400 {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	if !sawTx {
		t.Error("InTransaction did not run with the transaction")
	}
	if n := patientCount(t, svc); n != 0 {
		t.Fatalf("%d patients written by a rolled-back transaction", n)
	}
	ok := &interaction.Request{Method: "POST", Body: bundle, InTransaction: func(context.Context, store.Tx) error { return nil }}
	if r := svc.Do(ctx, ok); r.Status != 200 {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	if n := patientCount(t, svc); n != 1 {
		t.Fatalf("%d patients, want 1", n)
	}
}
