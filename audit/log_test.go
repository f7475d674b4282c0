package audit

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

func TestAppendVerify(t *testing.T) {
	eachBackend(t, func(t *testing.T, cfg Config) {
		l := open(t, cfg)
		if rep := verify(t, l); !rep.OK() || rep.Entries != 0 {
			t.Fatalf("empty log: %v", rep)
		}
		appendN(t, l, 25)
		rep := verify(t, l)
		seq, hash := l.Head()
		if !rep.OK() || rep.Entries != 25 || rep.HeadSeq != 25 || seq != 25 || rep.HeadHash != hex.EncodeToString(hash) {
			t.Fatalf("got %v, head %d %x", rep, seq, hash)
		}
		// Reopened, the log carries on from its head.
		l.Close()
		l = open(t, cfg)
		appendN(t, l, 5)
		if rep := verify(t, l, Anchor{25, hash}); !rep.OK() || rep.Entries != 30 {
			t.Fatalf("after reopening: %v", rep)
		}
	})
}

// Concurrent appends, from one process and from two sharing the database, make one chain.
func TestConcurrentAppends(t *testing.T) {
	eachBackend(t, func(t *testing.T, cfg Config) {
		logs := []*Log{open(t, cfg)}
		if cfg.DatabaseURL != "" {
			logs = append(logs, open(t, cfg)) // a second Concord node
		}
		const workers, each = 8, 40
		var wg sync.WaitGroup
		errs := make(chan error, workers*each+5)
		for w := range workers {
			wg.Go(func() {
				l := logs[w%len(logs)]
				for i := range each {
					if err := l.Append(context.Background(), readEvent(i, fmt.Sprintf("w%d", w), "ORG", fmt.Sprintf("p%d", i))); err != nil {
						errs <- err
					}
				}
			})
		}
		// Verifying while appends go on sees a consistent prefix of the chain.
		wg.Go(func() {
			for range 5 {
				if rep, err := Verify(context.Background(), logs[0]); err != nil || !rep.OK() {
					errs <- fmt.Errorf("verify during appends: %v %v", rep, err)
				}
			}
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for _, l := range logs {
			if rep := verify(t, l); !rep.OK() || rep.Entries != workers*each {
				t.Fatalf("%v", rep)
			}
		}
		// Each worker's events are all there.
		for w := range workers {
			got, _, err := logs[0].Search(context.Background(), Query{User: fmt.Sprintf("w%d", w), Count: MaxCount})
			if err != nil || len(got) != each {
				t.Fatalf("worker %d: %d events, %v", w, len(got), err)
			}
		}
	})
}

func TestTamperDetected(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, l *Log)
		broken int64
		want   string
	}{
		{"changed body", func(t *testing.T, l *Log) {
			rawExec(t, l, `UPDATE audit_log SET body = replace(body, '"R8000"', '"R9999"') WHERE seq = 4`)
		}, 4, "hash mismatch"},
		{"changed time", func(t *testing.T, l *Log) {
			rawExec(t, l, `UPDATE audit_log SET time = time + 1 WHERE seq = 6`)
		}, 6, "hash mismatch"},
		{"changed and rehashed", func(t *testing.T, l *Log) {
			// Whoever rewrites an entry's hash still breaks the next entry's link.
			var micros int64
			var body, prev []byte
			if err := l.write.QueryRow(l.rebind(`SELECT time, body, prev_hash FROM audit_log WHERE seq = ?`), 5).Scan(&micros, &body, &prev); err != nil {
				t.Fatal(err)
			}
			body = []byte(strings.Replace(string(body), `"TREAT"`, `"HRESCH"`, 1))
			rawExec(t, l, `UPDATE audit_log SET body = ?, hash = ? WHERE seq = 5`, string(body), entryHash(prev, 5, micros, body))
		}, 6, "prev_hash"},
		{"indexed column changed", func(t *testing.T, l *Log) {
			rawExec(t, l, `UPDATE audit_log SET user_id = 'someone-else' WHERE seq = 3`)
		}, 3, "indexed columns"},
		{"patient index row removed", func(t *testing.T, l *Log) {
			rawExec(t, l, `DELETE FROM audit_patient WHERE seq = 7`)
		}, 7, "patient index"},
		{"deleted entry", func(t *testing.T, l *Log) {
			rawExec(t, l, `DELETE FROM audit_log WHERE seq = 5`)
		}, 5, "missing"},
		{"deleted first entry", func(t *testing.T, l *Log) {
			rawExec(t, l, `DELETE FROM audit_log WHERE seq = 1`)
		}, 1, "missing"},
		{"deleted and renumbered", func(t *testing.T, l *Log) {
			rawExec(t, l, `DELETE FROM audit_log WHERE seq = 5`)
			rawExec(t, l, `DELETE FROM audit_patient WHERE seq >= 5`)
			for s := 6; s <= 10; s++ {
				rawExec(t, l, `UPDATE audit_log SET seq = ? WHERE seq = ?`, s-1, s)
			}
		}, 5, "prev_hash"},
		{"swapped bodies", func(t *testing.T, l *Log) {
			rawExec(t, l, `UPDATE audit_log SET body = (SELECT body FROM audit_log WHERE seq = 3) WHERE seq = 8`)
		}, 8, ""},
		{"reordered entries", func(t *testing.T, l *Log) {
			rawExec(t, l, `UPDATE audit_log SET seq = -1 WHERE seq = 3`)
			rawExec(t, l, `UPDATE audit_log SET seq = 3 WHERE seq = 4`)
			rawExec(t, l, `UPDATE audit_log SET seq = 4 WHERE seq = -1`)
		}, 3, "prev_hash"},
	}
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					l := open(t, b.config(t))
					appendN(t, l, 10)
					tt.tamper(t, l)
					rep := verify(t, l)
					if rep.OK() || rep.Broken != tt.broken || !strings.Contains(rep.Problem, tt.want) {
						t.Fatalf("got broken %d %q, want %d %q", rep.Broken, rep.Problem, tt.broken, tt.want)
					}
					if err := rep.Err(); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("entry %d", tt.broken)) {
						t.Fatalf("error %v does not name entry %d", err, tt.broken)
					}
				})
			}
		})
	}
}

// The chain cannot show that its newest entries were cut off: the head a running log knows,
// or an anchor kept elsewhere, can. And a running log will not chain onto the cut.
func TestTruncatedHead(t *testing.T) {
	eachBackend(t, func(t *testing.T, cfg Config) {
		l := open(t, cfg)
		appendN(t, l, 10)
		_, anchor := l.Head()
		rawExec(t, l, `DELETE FROM audit_log WHERE seq >= 9`)
		rawExec(t, l, `DELETE FROM audit_patient WHERE seq >= 9`)
		if rep := verify(t, l); rep.Broken != 9 || !strings.Contains(rep.Problem, "reached entry 10") {
			t.Fatalf("running log: %v", rep)
		}
		if err := l.Append(context.Background(), readEvent(99, "u", "O", "p")); !errors.Is(err, ErrChainBroken) {
			t.Fatalf("append onto a truncated chain: %v", err)
		}
		l.Close()
		l = open(t, cfg)
		if rep := verify(t, l); !rep.OK() {
			t.Fatalf("without an anchor a truncated chain is consistent, got %v", rep)
		}
		if rep := verify(t, l, Anchor{10, anchor}); rep.Broken != 9 {
			t.Fatalf("with the anchor: %v", rep)
		}
		// An anchor whose hash is not the entry's own.
		if rep := verify(t, l, Anchor{8, anchor}); rep.Broken != 8 || !strings.Contains(rep.Problem, "anchor") {
			t.Fatalf("wrong anchor: %v", rep)
		}
	})
}

// crashEnv makes the test binary the crash test's child: it appends until killed, printing the
// user id of every event whose Append returned.
const crashEnv = "CONCORD_AUDIT_CRASH_CHILD"

func TestCrashChild(t *testing.T) {
	spec := os.Getenv(crashEnv)
	if spec == "" {
		t.Skip("run by TestCrashKeepsAppended")
	}
	cfg := Config{DataDir: spec}
	if strings.HasPrefix(spec, "postgres") {
		cfg = Config{DatabaseURL: spec}
	}
	l, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("c%d-%d", w, i)
				if err := l.Append(context.Background(), readEvent(i, id, "ORG", "p")); err != nil {
					fmt.Println("error", err)
					return
				}
				mu.Lock()
				fmt.Println("ok", id)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// An Append that returned survives the process being killed.
func TestCrashKeepsAppended(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process")
	}
	eachBackend(t, func(t *testing.T, cfg Config) {
		spec := cfg.DataDir + cfg.DatabaseURL
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
		cmd.Env = append(os.Environ(), crashEnv+"="+spec)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var acked []string
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if id, ok := strings.CutPrefix(line, "ok "); ok {
				acked = append(acked, id)
				if len(acked) == 300 {
					cmd.Process.Kill()
				}
			} else if strings.HasPrefix(line, "error") {
				t.Fatal(line)
			}
		}
		cmd.Wait()
		if len(acked) < 300 {
			t.Fatalf("only %d appends acknowledged", len(acked))
		}
		l := open(t, cfg)
		rep := verify(t, l)
		if !rep.OK() || rep.Entries < int64(len(acked)) {
			t.Fatalf("after the crash: %v, %d acknowledged", rep, len(acked))
		}
		for _, id := range acked {
			got, _, err := l.Search(context.Background(), Query{User: id})
			if err != nil || len(got) != 1 {
				t.Fatalf("acknowledged event of %s: %d found, %v", id, len(got), err)
			}
		}
		t.Logf("%d acknowledged, %d in the log", len(acked), rep.Entries)
	})
}

func TestParseAnchor(t *testing.T) {
	h := strings.Repeat("ab", HashSize)
	a, err := ParseAnchor("12:" + h)
	if err != nil || a.Seq != 12 || hex.EncodeToString(a.Hash) != h {
		t.Fatalf("%v %v", a, err)
	}
	for _, bad := range []string{"12", "x:" + h, "0:" + h, "3:abc", "3:" + h[2:]} {
		if _, err := ParseAnchor(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
