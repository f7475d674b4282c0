package sqlite

import (
	"context"
	"testing"

	"github.com/concord-health/concord/store"
	"github.com/concord-health/concord/store/storetest"
)

func open(tb testing.TB) store.Store {
	s, err := Open(context.Background(), tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

func BenchmarkPut(b *testing.B) { storetest.BenchPut(b, open) }
