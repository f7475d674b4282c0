package integration

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// feed counts one channel's traffic since the process started; the inbox holds what
// survives a restart (queue depth, dead letters).
type feed struct {
	name string

	mu                             sync.Mutex
	received, applied              int64
	failed, retries, storeFailures int64
	lastMessage, lastApplied       time.Time
	perSecond                      [60]int64 // messages received, by second of the last minute
	perSecondAt                    [60]int64 // the Unix second each bucket counts
	applyLatency                   prometheus.Histogram
	latencySum                     time.Duration
	latencyCount                   int64
}

func newFeed(name string) *feed {
	return &feed{name: name, applyLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:        "concord_hl7v2_apply_latency_seconds",
		Help:        "Time from a message's receipt to its resources being committed.",
		ConstLabels: prometheus.Labels{"channel": name},
		Buckets:     []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	})}
}

// received counts a message taken (stored is false when the inbox could not store it).
func (f *feed) noteReceived(now time.Time, stored bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !stored {
		f.storeFailures++
		return
	}
	f.received++
	f.lastMessage = now
	sec := now.Unix()
	i := sec % 60
	if f.perSecondAt[i] != sec {
		f.perSecondAt[i], f.perSecond[i] = sec, 0
	}
	f.perSecond[i]++
}

func (f *feed) noteFailed(time.Time) {
	f.mu.Lock()
	f.failed++
	f.mu.Unlock()
}

func (f *feed) noteRetry() {
	f.mu.Lock()
	f.retries++
	f.mu.Unlock()
}

func (f *feed) noteApplied(now, received time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied++
	f.lastApplied = now
	if !received.IsZero() {
		d := now.Sub(received)
		f.latencySum += d
		f.latencyCount++
		f.applyLatency.Observe(d.Seconds())
	}
}

// perMinute is the number of messages received in the last 60 seconds.
func (f *feed) perMinute(now time.Time) int64 {
	var n int64
	for i := range f.perSecond {
		if now.Unix()-f.perSecondAt[i] < 60 {
			n += f.perSecond[i]
		}
	}
	return n
}

// FeedHealth is one channel's health, as /admin/feeds reports it.
type FeedHealth struct {
	Channel string `json:"channel"`
	// LastMessage is when the last message arrived (this process's start if none has).
	LastMessage      *time.Time `json:"lastMessage,omitempty"`
	LastApplied      *time.Time `json:"lastApplied,omitempty"`
	MessagesPerMin   int64      `json:"messagesPerMinute"`
	Received         int64      `json:"received"`
	Applied          int64      `json:"applied"`
	Failed           int64      `json:"failed"`
	Retries          int64      `json:"retries"`
	ErrorRate        float64    `json:"errorRate"` // failed / received since start
	QueueDepth       int        `json:"queueDepth"`
	DeadLetters      int        `json:"deadLetters"`
	MeanApplyLatency float64    `json:"meanApplyLatencyMs"`
	// Error is set when the inbox could not be read.
	Error string `json:"error,omitempty"`
}

// Feeds reports every channel's health, the unrouted messages last.
func (e *Engine) Feeds(ctx context.Context) []FeedHealth {
	var out []FeedHealth
	names := make([]string, 0, len(e.config.Channels)+1)
	for _, ch := range e.config.Channels {
		names = append(names, ch.Name)
	}
	names = append(names, Unrouted)
	now := time.Now()
	for _, name := range names {
		f := e.feeds[name]
		f.mu.Lock()
		h := FeedHealth{Channel: name, MessagesPerMin: f.perMinute(now), Received: f.received, Applied: f.applied,
			Failed: f.failed, Retries: f.retries}
		if !f.lastMessage.IsZero() {
			t := f.lastMessage.UTC()
			h.LastMessage = &t
		}
		if !f.lastApplied.IsZero() {
			t := f.lastApplied.UTC()
			h.LastApplied = &t
		}
		if f.received > 0 {
			h.ErrorRate = float64(f.failed) / float64(f.received)
		}
		if f.latencyCount > 0 {
			h.MeanApplyLatency = float64(f.latencySum.Microseconds()) / float64(f.latencyCount) / 1000
		}
		f.mu.Unlock()
		c, err := e.inbox.Counts(ctx, name)
		if err != nil {
			h.Error = err.Error()
		} else {
			h.QueueDepth, h.DeadLetters = c.Pending, c.Failed
			if h.LastMessage == nil && !c.LastReceived.IsZero() {
				t := c.LastReceived.UTC()
				h.LastMessage = &t
			}
		}
		out = append(out, h)
	}
	return out
}

var (
	descReceived    = prometheus.NewDesc("concord_hl7v2_messages_received_total", "Messages received and stored.", []string{"channel"}, nil)
	descApplied     = prometheus.NewDesc("concord_hl7v2_messages_applied_total", "Messages applied to the record.", []string{"channel"}, nil)
	descFailed      = prometheus.NewDesc("concord_hl7v2_messages_failed_total", "Messages that became dead letters.", []string{"channel"}, nil)
	descRetries     = prometheus.NewDesc("concord_hl7v2_apply_retries_total", "Failed attempts to apply a message that were retried.", []string{"channel"}, nil)
	descStoreErrors = prometheus.NewDesc("concord_hl7v2_store_errors_total", "Messages that could not be stored and were not acknowledged.", []string{"channel"}, nil)
	descQueue       = prometheus.NewDesc("concord_hl7v2_queue_depth", "Messages stored and not yet applied.", []string{"channel"}, nil)
	descDead        = prometheus.NewDesc("concord_hl7v2_dead_letters", "Dead letters awaiting replay.", []string{"channel"}, nil)
	descLast        = prometheus.NewDesc("concord_hl7v2_last_message_timestamp_seconds", "When the channel last received a message.", []string{"channel"}, nil)
)

// Describe implements prometheus.Collector.
func (e *Engine) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descReceived, descApplied, descFailed, descRetries, descStoreErrors, descQueue, descDead, descLast} {
		ch <- d
	}
	for _, f := range e.feeds {
		f.applyLatency.Describe(ch)
	}
}

// Collect implements prometheus.Collector: counters from this process, queue depth and dead
// letters from the inbox.
func (e *Engine) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, h := range e.Feeds(ctx) {
		f := e.feeds[h.Channel]
		f.mu.Lock()
		storeFailures := f.storeFailures
		f.mu.Unlock()
		ch <- prometheus.MustNewConstMetric(descReceived, prometheus.CounterValue, float64(h.Received), h.Channel)
		ch <- prometheus.MustNewConstMetric(descApplied, prometheus.CounterValue, float64(h.Applied), h.Channel)
		ch <- prometheus.MustNewConstMetric(descFailed, prometheus.CounterValue, float64(h.Failed), h.Channel)
		ch <- prometheus.MustNewConstMetric(descRetries, prometheus.CounterValue, float64(h.Retries), h.Channel)
		ch <- prometheus.MustNewConstMetric(descStoreErrors, prometheus.CounterValue, float64(storeFailures), h.Channel)
		if h.Error == "" {
			ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(h.QueueDepth), h.Channel)
			ch <- prometheus.MustNewConstMetric(descDead, prometheus.GaugeValue, float64(h.DeadLetters), h.Channel)
		}
		if h.LastMessage != nil {
			ch <- prometheus.MustNewConstMetric(descLast, prometheus.GaugeValue, float64(h.LastMessage.UnixMilli())/1000, h.Channel)
		}
		f.applyLatency.Collect(ch)
	}
}
