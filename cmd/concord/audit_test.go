package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/concord-health/concord/audit"
	"github.com/concord-health/concord/store/postgres/pgtest"
)

// auditData makes a data directory whose audit log holds n events, and returns it with a
// connection for tampering with the log.
func auditData(t *testing.T, n int) (string, *sql.DB) {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	l, err := audit.Open(ctx, audit.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		err := l.Append(ctx, &audit.Event{
			Time: time.Date(2026, 3, 1, 9, 0, i, 0, time.UTC), UserID: fmt.Sprintf("u%d", i%3), Organization: "A81001",
			Role: "R8000", Purpose: "TREAT", Patients: []audit.Patient{{ID: fmt.Sprintf("p%d", i)}},
			Resources:   []audit.Resource{{Type: "Patient", ID: fmt.Sprintf("p%d", i), Version: "1"}},
			Interaction: audit.Read,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, audit.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return dir, db
}

func runAuditVerify(args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	err := auditCmd(append([]string{"verify"}, args...), &stdout, &stderr)
	return stdout.String(), err
}

func TestAuditVerifyCommand(t *testing.T) {
	t.Run("intact", func(t *testing.T) {
		dir, _ := auditData(t, 8)
		out, err := runAuditVerify("--data", dir)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out, "audit chain intact: 8 entries, head 8:") || strings.Count(out, "\n") != 1 {
			t.Fatalf("got %q", out)
		}
		// The head it prints is an anchor for later runs.
		anchor := strings.TrimSpace(out[strings.LastIndex(out, " ")+1:])
		if _, err := runAuditVerify("--data", dir, "--expect", anchor); err != nil {
			t.Fatalf("--expect %s: %v", anchor, err)
		}
	})
	tampered := []struct {
		name, sql, want string
	}{
		{"edited body", `UPDATE audit_log SET body = replace(body, '"TREAT"', '"HRESCH"') WHERE seq = 5`, "entry 5"},
		{"deleted entry", `DELETE FROM audit_log WHERE seq = 3`, "entry 3"},
		{"swapped bodies", `UPDATE audit_log SET body = CASE seq WHEN 2 THEN (SELECT body FROM audit_log WHERE seq = 6) ELSE (SELECT body FROM audit_log WHERE seq = 2) END WHERE seq IN (2, 6)`, "entry 2"},
	}
	for _, tt := range tampered {
		t.Run(tt.name, func(t *testing.T) {
			dir, db := auditData(t, 8)
			if _, err := db.Exec(tt.sql); err != nil {
				t.Fatal(err)
			}
			_, err := runAuditVerify("--data", dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error naming %s", err, tt.want)
			}
		})
	}
	t.Run("truncated, with an anchor", func(t *testing.T) {
		dir, db := auditData(t, 8)
		out, err := runAuditVerify("--data", dir)
		if err != nil {
			t.Fatal(err)
		}
		anchor := strings.TrimSpace(out[strings.LastIndex(out, " ")+1:])
		if _, err := db.Exec(`DELETE FROM audit_log WHERE seq >= 7`); err != nil {
			t.Fatal(err)
		}
		if _, err := runAuditVerify("--data", dir, "--expect", anchor); err == nil || !strings.Contains(err.Error(), "entry 7") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("no log", func(t *testing.T) {
		if _, err := runAuditVerify("--data", t.TempDir()); err == nil || !strings.Contains(err.Error(), "no audit log") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("usage", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		if err := auditCmd(nil, &stdout, &stderr); err == nil {
			t.Fatal("no error")
		}
		if _, err := runAuditVerify("--data", t.TempDir(), "--expect", "nonsense"); err == nil {
			t.Fatal("bad --expect: no error")
		}
	})
}

func TestAuditVerifyCommandPostgres(t *testing.T) {
	url := pgtest.FreshSchema(t)
	ctx := context.Background()
	l, err := audit.Open(ctx, audit.Config{DatabaseURL: url})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := l.Append(ctx, &audit.Event{Time: time.Now(), UserID: "u", Organization: "A81001",
			Patients: []audit.Patient{{ID: fmt.Sprintf("p%d", i)}}, Interaction: audit.Search}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	if out, err := runAuditVerify("--database", url); err != nil || !strings.Contains(out, "5 entries") {
		t.Fatalf("intact: %q %v", out, err)
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE audit_log SET body = replace(body, '"search"', '"read"') WHERE seq = 4`); err != nil {
		t.Fatal(err)
	}
	if _, err := runAuditVerify("--database", url); err == nil || !strings.Contains(err.Error(), "entry 4") {
		t.Fatalf("edited: %v", err)
	}
}
