package poller

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	events      *prometheus.CounterVec
	pages       *prometheus.CounterVec
	errors      *prometheus.CounterVec
	rateLimited *prometheus.CounterVec
	skipped     *prometheus.CounterVec

	lagDesc, lastDesc *prometheus.Desc
	now               func() time.Time
	mu                sync.Mutex
	last              map[string]time.Time // integration → latest published written
}

// newMetrics builds the poller's collectors and registers them with reg
// (nil: unregistered). Labels carry integration ids, never user data.
func newMetrics(reg prometheus.Registerer, p *Poller) (*metrics, error) {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clarion_poller_events_total",
			Help: "System Log events written to clarion.okta.events by the poller, by integration.",
		}, []string{"integration"}),
		pages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clarion_poller_pages_total",
			Help: "System Log pages read (empty polls included), by integration.",
		}, []string{"integration"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clarion_poller_errors_total",
			Help: "Failed poll rounds by integration and kind (okta.Kind, or other).",
		}, []string{"integration", "kind"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clarion_poller_rate_limited_total",
			Help: "Okta 429 answers to the poller, by integration.",
		}, []string{"integration"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clarion_poller_skipped_events_total",
			Help: "System Log elements not written because they had no uuid, by integration.",
		}, []string{"integration"}),
		lagDesc: prometheus.NewDesc("clarion_poller_lag_seconds",
			"Now minus the published time of the latest event the poller wrote, by integration.", []string{"integration"}, nil),
		lastDesc: prometheus.NewDesc("clarion_poller_last_event_published_timestamp_seconds",
			"Published time of the latest event the poller wrote, by integration.", []string{"integration"}, nil),
		now:  p.cfg.Now,
		last: map[string]time.Time{},
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.events, m.pages, m.errors, m.rateLimited, m.skipped, m} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) notePublished(id string, t time.Time) {
	m.mu.Lock()
	if t.After(m.last[id]) {
		m.last[id] = t
	}
	m.mu.Unlock()
}

// Describe and Collect export the lag gauges, computed at scrape time.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.lagDesc
	ch <- m.lastDesc
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, t := range m.last {
		// Events published "in the future" (a skewed clock) count as no lag.
		ch <- prometheus.MustNewConstMetric(m.lagDesc, prometheus.GaugeValue, max(0, now.Sub(t).Seconds()), id)
		ch <- prometheus.MustNewConstMetric(m.lastDesc, prometheus.GaugeValue, float64(t.UnixNano())/1e9, id)
	}
}

// Lag returns now minus the latest published time written for id, and
// whether any event was written.
func (p *Poller) Lag(id string) (time.Duration, bool) {
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	t, ok := p.m.last[id]
	if !ok {
		return 0, false
	}
	return p.cfg.Now().Sub(t), true
}
