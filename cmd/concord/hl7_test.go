package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/concord-health/concord/integration/hl7v2"
	"github.com/concord-health/concord/integration/mllp"
)

// buildConcord builds the concord binary once per test run.
func buildConcord(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "concord")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer is a bytes.Buffer a child process may write while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}

// startServe runs concord serve with an MLLP listener and waits until both listeners answer.
func startServe(t *testing.T, bin, data, httpAddr, mllpAddr string, log *syncBuffer) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--data", data, "--addr", httpAddr, "--mllp-addr", mllpAddr)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		c1, err1 := net.Dial("tcp", mllpAddr)
		c2, err2 := net.Dial("tcp", httpAddr)
		if err1 == nil && err2 == nil {
			c1.Close()
			c2.Close()
			return cmd
		}
		if c1 != nil {
			c1.Close()
		}
		if c2 != nil {
			c2.Close()
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("concord serve did not start:\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func admission(t *testing.T, i int) []byte {
	t.Helper()
	m, err := hl7v2.NewMessage(hl7v2.DefaultDelimiters, "2.5.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range [][2]string{
		{"MSH-3", "PAS"}, {"MSH-4", "RXA01"}, {"MSH-7", "20261127090000+0000"}, {"MSH-9.1", "ADT"}, {"MSH-9.2", "A04"},
		{"MSH-10", fmt.Sprintf("CRASH%d", i)}, {"MSH-11", "P"}, {"EVN-1", "A04"},
		{"PID-1", "1"}, {"PID-3.1", fmt.Sprintf("MRN%05d", i)}, {"PID-3.4", "RXA"}, {"PID-3.5", "MR"},
		{"PID-5.1", "PATIENT"}, {"PID-5.2", fmt.Sprintf("NUMBER%d", i)}, {"PID-7", "19800101"}, {"PID-8", "U"},
	} {
		if err := m.Set(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	return m.Encode()
}

// TestCrashLosesNothing kills concord serve with SIGKILL while a sender streams messages,
// restarts it, and checks that every acknowledged message was applied exactly once.
func TestCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildConcord(t)
	data := t.TempDir()
	httpAddr, mllpAddr := freeAddr(t), freeAddr(t)
	var log syncBuffer
	cmd := startServe(t, bin, data, httpAddr, mllpAddr, &log)
	client, err := mllp.Dial(context.Background(), mllpAddr, &mllp.Options{ResponseTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const total, killAt = 400, 150
	acked := map[int]bool{}
	for i := 0; i < total; i++ {
		if i == killAt {
			// Killed while the next messages are being sent and applied.
			go func() {
				time.Sleep(5 * time.Millisecond)
				cmd.Process.Signal(syscall.SIGKILL)
			}()
		}
		raw, err := client.Send(context.Background(), admission(t, i))
		if err != nil {
			break // the server is gone
		}
		ack, err := hl7v2.Parse(raw)
		if err != nil || ack.Get("MSA-1") != "AA" {
			t.Fatalf("message %d: ACK %q", i, raw)
		}
		acked[i] = true
	}
	client.Close()
	cmd.Wait()
	if len(acked) < killAt || len(acked) == total {
		t.Fatalf("%d of %d messages acknowledged: the kill did not land while streaming", len(acked), total)
	}

	log.Reset()
	cmd = startServe(t, bin, data, httpAddr, mllpAddr, &log)
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	base := "http://" + httpAddr
	deadline := time.Now().Add(60 * time.Second)
	for {
		var feeds struct {
			Feeds []struct {
				Channel                 string
				QueueDepth, DeadLetters int
			}
		}
		resp, err := http.Get(base + "/admin/feeds")
		if err == nil {
			json.NewDecoder(resp.Body).Decode(&feeds)
			resp.Body.Close()
		}
		if err == nil && len(feeds.Feeds) > 0 && feeds.Feeds[0].QueueDepth == 0 {
			if feeds.Feeds[0].DeadLetters != 0 {
				t.Fatalf("%d dead letters after restart:\n%s", feeds.Feeds[0].DeadLetters, log.String())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("messages still pending a minute after restart:\n%s", log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	count := func(query string) int {
		resp, err := http.Get(base + "/fhir/Patient?_total=accurate&_summary=count&" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b struct{ Total int }
		if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
			t.Fatal(err)
		}
		return b.Total
	}
	for i := range acked {
		if n := count(fmt.Sprintf("identifier=MRN%05d", i)); n != 1 {
			t.Errorf("acknowledged message %d: %d patients", i, n)
		}
	}
	// Nothing applied twice: one version per patient, and no more patients than messages
	// sent.
	resp, err := http.Get(base + "/fhir/Patient/_history?_count=1&_total=accurate")
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Total int }
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	patients := count("")
	if patients < len(acked) || patients > len(acked)+1 {
		t.Errorf("%d patients for %d acknowledged messages (one in flight at most)", patients, len(acked))
	}
	t.Logf("%d of %d messages acknowledged before the kill; %d patients after the restart", len(acked), total, patients)
	if h.Total != patients {
		t.Errorf("%d patient versions for %d patients: a message was applied twice", h.Total, patients)
	}
	if strings.Contains(log.String(), "panic") {
		t.Errorf("log after restart:\n%s", log.String())
	}
}

// TestHL7Commands sends a file of two messages with concord hl7 send to a running channel,
// then lists, shows and replays the dead letter of the bad one.
func TestHL7Commands(t *testing.T) {
	data := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc, st, err := openService(ctx, data, "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	addr := freeAddr(t)
	mf := mllpFlags{addr: &addr, cert: new(string), key: new(string), channels: new(string)}
	engine, stop, err := startIntegration(ctx, mf, svc, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	good := admission(t, 1)
	bad := []byte(strings.Replace(string(admission(t, 2)), "19800101", "19801399", 1))
	file := filepath.Join(t.TempDir(), "feed.hl7")
	if err := os.WriteFile(file, append(append(good, '\n'), bad...), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err = hl7Cmd([]string{"send", "--addr", addr, file}, &out, &errOut)
	if !errors.Is(err, errInvalid) {
		t.Fatalf("send: %v (want 1 of 2 not accepted)\n%s", err, errOut.String())
	}
	if acks := strings.Count(out.String(), "MSA|"); acks != 2 || !strings.Contains(out.String(), "MSA|AA|CRASH1") || !strings.Contains(out.String(), "MSA|AE|CRASH2") {
		t.Fatalf("send printed:\n%s", out.String())
	}
	if f := engine.Feeds(ctx); f[0].Received != 2 || f[0].DeadLetters != 1 {
		t.Errorf("feeds: %+v", f[0])
	}

	run := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := hl7Cmd(append([]string{"deadletters"}, args...), &out, io.Discard); err != nil {
			t.Fatalf("deadletters %v: %v", args, err)
		}
		return out.String()
	}
	list := run("list", "--data", data)
	var dl struct {
		Seq    int64
		Reason string
	}
	if err := json.Unmarshal([]byte(list), &dl); err != nil || dl.Seq == 0 || !strings.Contains(dl.Reason, "PID-7") {
		t.Fatalf("list: %v\n%s", err, list)
	}
	seq := fmt.Sprint(dl.Seq)
	if show := run("show", "--data", data, seq); !strings.Contains(show, "reason: 102") || !strings.Contains(show, "PID|1||MRN00002") {
		t.Errorf("show:\n%s", show)
	}
	if replay := run("replay", "--data", data, seq); !strings.Contains(replay, seq+" pending again") {
		t.Errorf("replay: %s", replay)
	}
	// Replayed, it fails again (the date is still wrong) and is a dead letter once more.
	deadline := time.Now().Add(10 * time.Second)
	for run("list", "--data", data) == "" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if run("list", "--data", data) == "" {
		t.Error("the replayed message did not fail again")
	}
	if err := hl7Cmd([]string{"deadletters", "replay", "--data", data, "999"}, io.Discard, io.Discard); err == nil {
		t.Error("replay of an absent message succeeded")
	}

	// Feed health as JSON and as Prometheus metrics, next to the FHIR API.
	h := httptest.NewServer(adminHandler(http.NotFoundHandler(), engine))
	defer h.Close()
	get := func(path string) string {
		resp, err := http.Get(h.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	if feeds := get("/admin/feeds"); !strings.Contains(feeds, `"channel":"default"`) || !strings.Contains(feeds, `"received":2`) {
		t.Errorf("/admin/feeds: %s", feeds)
	}
	metrics := get("/metrics")
	for _, want := range []string{`concord_hl7v2_messages_received_total{channel="default"} 2`, `concord_hl7v2_dead_letters{channel="default"} 1`,
		`concord_hl7v2_queue_depth{channel="default"} 0`, "concord_hl7v2_apply_latency_seconds_bucket"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
