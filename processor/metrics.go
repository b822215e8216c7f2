package processor

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	events            *prometheus.CounterVec
	publishedFallback prometheus.Counter
	updates           *prometheus.CounterVec
	anomalies         *prometheus.CounterVec
	alerts            prometheus.Counter
	txns              *prometheus.CounterVec
	restarts          prometheus.Counter
	corrupt           prometheus.Counter
	restored          prometheus.Counter
	restoreSeconds    *prometheus.HistogramVec
	restoreWaits      prometheus.Counter
	dedupIDs          prometheus.Gauge
	expired           prometheus.Counter
	users             prometheus.Gauge
	partitions        prometheus.Gauge
	batchSeconds      prometheus.Histogram
	latency           prometheus.Histogram
}

// newMetrics builds the processor's collectors and registers them with reg
// (nil: unregistered, so they still work but are not exported).
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clarion_processor_events_total",
			Help: "Events consumed, by result: processed, duplicate (uuid already processed within the dedup horizon), too_old (older than the dedup horizon), ignored (type not judged yet), unparseable (sent to the dead-letter topic).",
		}, []string{"result"}),
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clarion_processor_lifecycle_updates_total",
			Help: "Alert lifecycle updates (triage verdicts, analyst feedback, approval state) by kind; no_change: already applied or stale; invalid: dead-lettered.",
		}, []string{"kind"}),
		publishedFallback: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clarion_processor_published_fallback_total",
			Help: "Events whose published time was missing or unparseable, timed by the received_at header instead.",
		}),
		anomalies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clarion_processor_anomalies_total",
			Help: "Anomalies produced, by type (counted when produced; aborted transactions may recount).",
		}, []string{"type"}),
		alerts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clarion_processor_alert_updates_total",
			Help: "Alert records produced (new alerts and updates).",
		}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clarion_processor_session_restarts_total",
			Help: "Transactional sessions restarted after a transaction could not end (state restored from the changelog).",
		}),
		txns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clarion_processor_transactions_total",
			Help: "Kafka transactions, by result: committed, aborted (rebalance), failed.",
		}, []string{"result"}),
		corrupt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clarion_processor_changelog_corrupt_total",
			Help: "Changelog records that could not be decoded and were skipped (the user starts over).",
		}),
		restoreSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "clarion_processor_restore_seconds",
			Help:    "Time to restore assigned partitions, by phase: fence (init producer id, aborting a crashed predecessor's open transaction), wait (for another producer's open transaction on the changelog to end), read (the changelog).",
			Buckets: []float64{.005, .01, .05, .1, .5, 1, 2, 5, 10, 30, 60},
		}, []string{"phase"}),
		restoreWaits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clarion_processor_restore_waits_total",
			Help: "Restores that waited for an open transaction of another producer on the changelog to end.",
		}),
		dedupIDs: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clarion_processor_dedup_uuids",
			Help: "Event uuids held for exact dedup over the dedup horizon, in the owned partitions.",
		}),
		restored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clarion_processor_restored_users_total",
			Help: "User states restored from the changelog on partition assignment.",
		}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clarion_processor_expired_users_total",
			Help: "Users expired after being idle (event time) for the idle TTL.",
		}),
		partitions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clarion_processor_partitions",
			Help: "Events partitions this instance owns (state restored).",
		}),
		users: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clarion_processor_users",
			Help: "Users whose state this instance holds.",
		}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "clarion_processor_batch_seconds",
			Help:    "Time from the start of a batch's processing to its transaction commit.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "clarion_processor_event_latency_seconds",
			Help:    "From an event's received_at header (gateway/poller) to the commit of its outputs.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.events, m.updates, m.publishedFallback, m.anomalies, m.alerts, m.txns, m.restarts, m.corrupt, m.restored, m.restoreSeconds, m.restoreWaits, m.dedupIDs, m.expired, m.users, m.partitions, m.batchSeconds, m.latency} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
