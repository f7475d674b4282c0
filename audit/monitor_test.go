package audit

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func rules(alerts []Alert) []string {
	var out []string
	for _, a := range alerts {
		out = append(out, a.Rule+":"+a.User)
	}
	return out
}

func TestMonitorPatientVolume(t *testing.T) {
	m := NewMonitor(MonitorConfig{PatientsPerHour: 10})
	view := func(at time.Duration, user, patient string) {
		e := readEvent(0, user, "ORG", patient)
		e.Time = epoch.Add(at)
		m.Observe(e)
	}
	// Ten patients, each twice, within the hour: at the threshold, not above it.
	for i := range 20 {
		view(time.Duration(i)*time.Minute, "busy", fmt.Sprintf("p%d", i%10))
	}
	// Another user's patients do not count towards this one's.
	for i := range 30 {
		view(30*time.Minute, "other", fmt.Sprintf("q%d", i%5))
	}
	if a := m.Alerts(); len(a) != 0 {
		t.Fatalf("alerts at the threshold: %v", rules(a))
	}
	view(40*time.Minute, "busy", "p10")
	a := m.Alerts()
	if len(a) != 1 || a[0].Rule != RulePatientVolume || a[0].User != "busy" || a[0].Organization != "ORG" ||
		!strings.Contains(a[0].Detail, "11 patients") || !a[0].Time.Equal(epoch.Add(40*time.Minute)) {
		t.Fatalf("got %+v", a)
	}
	// Once raised it stays quiet while the user stays above the threshold…
	view(41*time.Minute, "busy", "p11")
	if a := m.Alerts(); len(a) != 1 {
		t.Fatalf("raised again: %v", rules(a))
	}
	// …and fires again after the hour has passed and the count built up anew.
	for i := range 11 {
		view(3*time.Hour+time.Duration(i)*time.Minute, "busy", fmt.Sprintf("r%d", i))
	}
	if a := m.Alerts(); len(a) != 2 {
		t.Fatalf("a new hour: %v", rules(a))
	}
	// Failed requests showed nothing.
	for i := range 20 {
		e := readEvent(0, "denied", "ORG", fmt.Sprintf("d%d", i))
		e.Outcome = MinorFailure
		m.Observe(e)
	}
	if a := m.Alerts(); len(a) != 2 {
		t.Fatalf("failures counted: %v", rules(a))
	}
}

func TestMonitorBreakGlass(t *testing.T) {
	m := NewMonitor(MonitorConfig{BreakGlassLimit: 2, BreakGlassWindow: time.Hour})
	glass := func(at time.Duration, user string) {
		e := readEvent(0, user, "RX1", "p")
		e.Time = epoch.Add(at)
		e.Purpose = "ETREAT"
		e.BreakGlassReason = "emergency"
		m.Observe(e)
	}
	glass(0, "a")
	glass(10*time.Minute, "a")
	glass(20*time.Minute, "b")
	glass(2*time.Hour, "a") // the first two have left the window
	glass(2*time.Hour+time.Minute, "a")
	if a := m.Alerts(); len(a) != 0 {
		t.Fatalf("alerts within the threshold: %v", rules(a))
	}
	glass(2*time.Hour+2*time.Minute, "a")
	a := m.Alerts()
	if len(a) != 1 || a[0].Rule != RuleBreakGlass || a[0].User != "a" || !strings.Contains(a[0].Detail, "3 break-glass") {
		t.Fatalf("got %+v", a)
	}
}

func TestMonitorSameHousehold(t *testing.T) {
	m := NewMonitor(MonitorConfig{})
	e := readEvent(0, "nurse", "RX1", "p1")
	e.UserFamily, e.UserAddress = "O'Brien", "12 High Street, Leeds LS1 4AB"
	e.Patients = []Patient{
		{ID: "p1", Family: "obrien", Address: "12 High Street Leeds LS1 4AB"}, // the same, spelt differently
		{ID: "p2", Family: "O'Brien", Address: "14 High Street, Leeds LS1 4AB"},
		{ID: "p3", Family: "Smith", Address: "12 High Street, Leeds LS1 4AB"},
		{ID: "p4"},
	}
	m.Observe(e)
	a := m.Alerts()
	if len(a) != 1 || a[0].Rule != RuleSameHousehold || a[0].User != "nurse" || !strings.Contains(a[0].Detail, "Patient/p1") {
		t.Fatalf("got %+v", a)
	}
	// Not again for the same patient the same day; a user without an address is not compared.
	e.Time = e.Time.Add(time.Hour)
	m.Observe(e)
	e2 := readEvent(0, "clerk", "RX1", "p1")
	e2.UserFamily = "O'Brien"
	e2.Patients = e.Patients
	m.Observe(e2)
	if a := m.Alerts(); len(a) != 1 {
		t.Fatalf("got %v", rules(a))
	}
}

func TestMonitorKeepsBoundedAlerts(t *testing.T) {
	m := NewMonitor(MonitorConfig{BreakGlassLimit: 1, MaxAlerts: 3})
	for i := range 5 {
		for j := range 2 {
			e := readEvent(j, fmt.Sprintf("u%d", i), "O", "p")
			e.BreakGlassReason = "x"
			m.Observe(e)
		}
	}
	if got := rules(m.Alerts()); strings.Join(got, " ") != "break-glass:u2 break-glass:u3 break-glass:u4" {
		t.Fatalf("got %v", got)
	}
}

// The log feeds its monitor every event once it is durable.
func TestLogFeedsMonitor(t *testing.T) {
	m := NewMonitor(MonitorConfig{PatientsPerHour: 3})
	cfg := Config{DataDir: t.TempDir(), Monitor: m}
	l := open(t, cfg)
	for i := range 4 {
		if err := l.Append(context.Background(), readEvent(i, "u", "ORG", fmt.Sprintf("p%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	l.Close() // the monitor hears of a batch after its appends return; Close waits for it
	if a := m.Alerts(); len(a) != 1 || a[0].Rule != RulePatientVolume {
		t.Fatalf("got %+v", a)
	}
}
