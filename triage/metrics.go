package triage

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	runs      *prometheus.CounterVec   // outcome (final disposition), by
	latency   *prometheus.HistogramVec // by
	fallbacks *prometheus.CounterVec   // reason
	gateHeld  prometheus.Counter
	tools     *prometheus.HistogramVec // tool, result
	tokens    *prometheus.CounterVec   // kind
	retries   prometheus.Counter
	proposals *prometheus.CounterVec // kind
	skipped   *prometheus.CounterVec // reason
	missing   prometheus.Counter
	indexed   prometheus.GaugeFunc
	refused   prometheus.Counter // tool calls outside the schema
}

func newMetrics(reg prometheus.Registerer, indexSize func() float64) *metrics {
	f := promauto.With(reg)
	return &metrics{
		runs: f.NewCounterVec(prometheus.CounterOpts{Name: "clarion_triage_runs_total",
			Help: "Triage runs by final disposition (outcome) and by (llm or deterministic)."}, []string{"outcome", "by"}),
		latency: f.NewHistogramVec(prometheus.HistogramOpts{Name: "clarion_triage_run_seconds",
			Help:    "Time to triage one alert, from the analyzing update to the verdict, by llm or deterministic.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}, []string{"by"}),
		fallbacks: f.NewCounterVec(prometheus.CounterOpts{Name: "clarion_triage_fallbacks_total",
			Help: "Runs where a configured LLM failed and the deterministic triage decided, by reason (error, timeout, invalid_output, max_steps, max_tokens)."}, []string{"reason"}),
		gateHeld: f.NewCounter(prometheus.CounterOpts{Name: "clarion_triage_gate_held_total",
			Help: "Agent verdicts the triage policy gate held back for an analyst."}),
		tools: f.NewHistogramVec(prometheus.HistogramOpts{Name: "clarion_triage_tool_seconds",
			Help:    "Tool call latency by tool and result (ok or error).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10}}, []string{"tool", "result"}),
		tokens: f.NewCounterVec(prometheus.CounterOpts{Name: "clarion_triage_llm_tokens_total",
			Help: "LLM tokens used, by kind (prompt, completion)."}, []string{"kind"}),
		retries: f.NewCounter(prometheus.CounterOpts{Name: "clarion_triage_llm_retries_total",
			Help: "LLM calls retried after a transient error."}),
		proposals: f.NewCounterVec(prometheus.CounterOpts{Name: "clarion_triage_proposals_total",
			Help: "Action proposals sent to the responder, by kind."}, []string{"kind"}),
		skipped: f.NewCounterVec(prometheus.CounterOpts{Name: "clarion_triage_skipped_total",
			Help: "Alert records not triaged, by reason (not_new, superseded, malformed; unsigned, untrusted_signer, bad_signature: not the processor's; anomaly_*: anomaly records not the processor's)."}, []string{"reason"}),
		missing: f.NewCounter(prometheus.CounterOpts{Name: "clarion_triage_anomalies_missing_total",
			Help: "Alerts triaged before all their anomalies arrived (the wait ran out)."}),
		refused: f.NewCounter(prometheus.CounterOpts{Name: "clarion_triage_tool_calls_refused_total",
			Help: "Tool calls refused because their arguments were outside the tool's schema (undeclared argument, wrong type, out of range); nothing ran."}),
		indexed: f.NewGaugeFunc(prometheus.GaugeOpts{Name: "clarion_triage_indexed_alerts",
			Help: "Alerts whose anomalies are held in the in-memory index."}, indexSize),
	}
}
