package alerts

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	records *prometheus.CounterVec
	bad     prometheus.Counter
	stale   prometheus.Counter
	evicted prometheus.Counter
	held    prometheus.Gauge

	triageDropped prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clarion_console_records_total", Help: "Alert, anomaly, triage and action records folded into the console's read model.",
		}, []string{"kind"}),
		bad: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clarion_console_bad_records_total", Help: "Records the console's read model could not decode, or that were not signed by their writer, and skipped.",
		}),
		stale: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clarion_console_stale_alerts_total", Help: "Alert records ignored because a newer or equal version was held.",
		}),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clarion_console_evicted_alerts_total", Help: "Alerts dropped from the read model's memory by its cap.",
		}),
		held: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clarion_console_alerts_held", Help: "Alerts held in the console's read model.",
		}),
		triageDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clarion_console_triage_runs_dropped_total", Help: "Triage runs dropped from the read model's memory by its byte budget.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.records, m.bad, m.stale, m.evicted, m.held, m.triageDropped} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
