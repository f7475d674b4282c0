package main

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/concord-health/concord/interaction"
	"github.com/concord-health/concord/store/sqlite"
)

// openValidating opens the SQLite store in data as serve does: validating writes with
// mode, with what cfg names and the SNOMED CT edition saved in data. The returned func
// closes the store, for tests that reopen it; otherwise it closes when the test ends.
func openValidating(t *testing.T, data string, cfg conformanceConfig, mode interaction.ValidationMode) (*interaction.Service, func()) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	closeStore := func() {
		if !closed {
			closed = true
			st.Close()
		}
	}
	t.Cleanup(closeStore)
	svc, err := newService(st)
	if err != nil {
		t.Fatal(err)
	}
	svc.Validation = interaction.ValidationPolicy{Default: mode}
	if err := attachConformance(ctx, svc, cfg, data, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	return svc, closeStore
}
