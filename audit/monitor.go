package audit

import (
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
)

// The monitoring rules.
const (
	// RulePatientVolume: a user viewed more distinct patients within an hour than usual.
	RulePatientVolume = "patient-volume"
	// RuleBreakGlass: a user broke the glass more often than the threshold within its window.
	RuleBreakGlass = "break-glass"
	// RuleSameHousehold: a user viewed a patient who shares their surname and address.
	RuleSameHousehold = "same-surname-and-address"
)

// MonitorConfig sets the rules' thresholds; zero fields take the defaults.
type MonitorConfig struct {
	PatientsPerHour  int           // alert above this many distinct patients an hour (default 50)
	BreakGlassLimit  int           // alert above this many break-glass accesses… (default 3)
	BreakGlassWindow time.Duration // …within this window (default 24h)
	MaxAlerts        int           // alerts kept, the oldest dropped first (default 1000)
}

// Alert is a rule's finding.
type Alert struct {
	Rule         string
	User         string
	Organization string
	Detail       string
	Time         time.Time // the time of the event that raised it
}

// Monitor applies the rules to the events it observes and keeps the alerts they raise in
// memory. It is safe for concurrent use.
type Monitor struct {
	cfg MonitorConfig

	mu        sync.Mutex
	users     map[string]*userState
	alerts    []Alert // a ring of cfg.MaxAlerts once full
	next      int     // where the ring's next alert goes
	lastSweep time.Time
}

type userState struct {
	last          time.Time
	patients      map[string]time.Time // patient → last viewed, within the hour
	pruned        time.Time
	volumeAlerted bool
	breakGlass    []time.Time
	glassAlerted  bool
	household     map[string]time.Time // patient → when the household rule last fired
}

// householdRepeat is how long the household rule stays quiet about one user and patient.
const householdRepeat = 24 * time.Hour

// NewMonitor returns a monitor with cfg's thresholds.
func NewMonitor(cfg MonitorConfig) *Monitor {
	if cfg.PatientsPerHour <= 0 {
		cfg.PatientsPerHour = 50
	}
	if cfg.BreakGlassLimit <= 0 {
		cfg.BreakGlassLimit = 3
	}
	if cfg.BreakGlassWindow <= 0 {
		cfg.BreakGlassWindow = 24 * time.Hour
	}
	if cfg.MaxAlerts <= 0 {
		cfg.MaxAlerts = 1000
	}
	return &Monitor{cfg: cfg, users: map[string]*userState{}}
}

// Observe applies the rules to one event. The log calls it for every event it appends.
func (m *Monitor) Observe(e *Event) {
	if e.UserID == "" {
		return
	}
	now := e.Time
	if now.IsZero() {
		now = time.Now()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now)
	u := m.users[e.UserID]
	if u == nil {
		u = &userState{patients: map[string]time.Time{}, household: map[string]time.Time{}}
		m.users[e.UserID] = u
	}
	u.last = now
	raise := func(rule, detail string) {
		m.add(Alert{Rule: rule, User: e.UserID, Organization: e.Organization, Detail: detail, Time: now})
	}

	if e.BreakGlassReason != "" {
		u.breakGlass = append(u.breakGlass, now)
		cut := 0
		for cut < len(u.breakGlass) && now.Sub(u.breakGlass[cut]) > m.cfg.BreakGlassWindow {
			cut++
		}
		u.breakGlass = u.breakGlass[cut:]
		switch n := len(u.breakGlass); {
		case n > m.cfg.BreakGlassLimit && !u.glassAlerted:
			u.glassAlerted = true
			raise(RuleBreakGlass, fmt.Sprintf("%d break-glass accesses within %s (threshold %d)", n, m.cfg.BreakGlassWindow, m.cfg.BreakGlassLimit))
		case n <= m.cfg.BreakGlassLimit:
			u.glassAlerted = false
		}
	}
	// Only what was actually shown counts as viewing.
	if e.Outcome != Success {
		return
	}
	m.volume(u, e, now, raise)
	userFamily, userAddress := normalise(e.UserFamily), normalise(e.UserAddress)
	if userFamily == "" || userAddress == "" {
		return
	}
	for _, p := range e.Patients {
		if p.ID == "" || normalise(p.Family) != userFamily || normalise(p.Address) != userAddress {
			continue
		}
		if t, ok := u.household[p.ID]; ok && now.Sub(t) < householdRepeat {
			continue
		}
		u.household[p.ID] = now
		raise(RuleSameHousehold, fmt.Sprintf("viewed Patient/%s, who shares the user's surname and address", p.ID))
	}
}

// volume counts the distinct patients a user viewed in the last hour.
func (m *Monitor) volume(u *userState, e *Event, now time.Time, raise func(rule, detail string)) {
	limit := m.cfg.PatientsPerHour
	// Past this many the alert has fired; tracking more patients would only cost memory.
	capacity := max(2*limit, limit+100)
	if now.Sub(u.pruned) > time.Minute || len(u.patients) >= capacity {
		for id, t := range u.patients {
			if now.Sub(t) > time.Hour {
				delete(u.patients, id)
			}
		}
		u.pruned = now
	}
	for _, p := range e.Patients {
		if p.ID == "" {
			continue
		}
		if _, ok := u.patients[p.ID]; ok || len(u.patients) < capacity {
			u.patients[p.ID] = now
		}
	}
	switch n := len(u.patients); {
	case n > limit && !u.volumeAlerted:
		u.volumeAlerted = true
		raise(RulePatientVolume, fmt.Sprintf("viewed %d patients within an hour (threshold %d)", n, limit))
	case n <= limit:
		u.volumeAlerted = false
	}
}

// sweep forgets users idle for longer than any rule looks back, every ten minutes.
func (m *Monitor) sweep(now time.Time) {
	if now.Sub(m.lastSweep) < 10*time.Minute {
		return
	}
	m.lastSweep = now
	idle := max(time.Hour, m.cfg.BreakGlassWindow, householdRepeat)
	for id, u := range m.users {
		if now.Sub(u.last) > idle {
			delete(m.users, id)
		}
	}
}

func (m *Monitor) add(a Alert) {
	if len(m.alerts) < m.cfg.MaxAlerts {
		m.alerts = append(m.alerts, a)
		return
	}
	m.alerts[m.next] = a
	m.next = (m.next + 1) % m.cfg.MaxAlerts
}

// Alerts returns the alerts kept, oldest first.
func (m *Monitor) Alerts() []Alert {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Alert, 0, len(m.alerts))
	out = append(out, m.alerts[m.next:]...)
	return append(out, m.alerts[:m.next]...)
}

// normalise reduces a name or address to its letters and digits, lower case, so that
// punctuation and spacing (O'Brien, OBrien; "12 High St, Leeds", "12 High St Leeds") do not
// hide a match.
func normalise(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return unicode.ToLower(r)
		}
		return -1
	}, s)
}
