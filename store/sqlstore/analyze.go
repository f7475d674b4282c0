package sqlstore

import (
	"context"
	"log/slog"
	"sync"
)

// planner keeps the query planner's statistics current. Without them SQLite plans a search
// such as Observation?code=X as a scan of every Observation rather than a lookup of the few
// matching rows; statistics go stale fastest while a store fills up, so they are refreshed
// each time the number of writes since the last refresh reaches the number before it
// (doubling), which costs little over the life of a store.
type planner struct {
	mu        sync.Mutex
	written   int64 // writes since the last refresh
	threshold int64 // writes that trigger the next refresh
	running   bool
}

// minAnalyzeWrites is the first refresh point: below it plans hardly matter.
const minAnalyzeWrites = 500

// noteWrites records committed writes and refreshes the statistics in the background when
// they pass the threshold.
func (db *DB) noteWrites(n int) {
	if db.d.Analyze == "" || n == 0 {
		return
	}
	p := &db.planner
	p.mu.Lock()
	p.written += int64(n)
	if p.threshold == 0 {
		p.threshold = minAnalyzeWrites
	}
	if p.written < p.threshold || p.running {
		p.mu.Unlock()
		return
	}
	p.running = true
	p.threshold = max(p.threshold, p.written) * 2
	p.written = 0
	p.mu.Unlock()
	go func() {
		if _, err := db.write.ExecContext(context.Background(), db.d.Analyze); err != nil {
			slog.Warn("refreshing planner statistics", "err", err)
		}
		p.mu.Lock()
		p.running = false
		p.mu.Unlock()
	}()
}
