package responder

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	actions     *prometheus.CounterVec
	execSeconds *prometheus.HistogramVec
	guards      *prometheus.CounterVec
	expirations prometheus.Counter
	dropped     *prometheus.CounterVec
	pending     prometheus.Gauge
	txns        *prometheus.CounterVec
	restarts    prometheus.Counter
	restored    prometheus.Counter

	refused        *prometheus.CounterVec
	alertsRefused  *prometheus.CounterVec
	alertsKnown    prometheus.Gauge
	actionsRefused prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clarion_responder_actions_total",
			Help: "Action versions committed to clarion.actions, by kind and state.",
		}, []string{"kind", "state"}),
		execSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "clarion_responder_execution_seconds",
			Help:    "Time to execute an action in Okta (every attempt and retry wait), by kind and outcome (succeeded, failed).",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2, 5, 10, 30, 60, 120},
		}, []string{"kind", "outcome"}),
		guards: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clarion_responder_guard_blocks_total",
			Help: "Actions a guard stopped or held for approval, by guard (policy_off, protected_user, protected_group, protected_group_unchecked, hourly_cap, not_confirmed_threat).",
		}, []string{"guard"}),
		expirations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clarion_responder_expirations_total",
			Help: "Pending approvals that expired without a decision.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clarion_responder_requests_dropped_total",
			Help: "Requests that wrote no action record, by reason (malformed, invalid, duplicate, unknown_action, not_pending, expired).",
		}, []string{"reason"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clarion_responder_pending_actions",
			Help: "Actions waiting for approve/reject on this instance's partitions.",
		}),
		txns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clarion_responder_transactions_total",
			Help: "Kafka transactions by outcome (committed, aborted, failed).",
		}, []string{"outcome"}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clarion_responder_session_restarts_total",
			Help: "Transactional sessions restarted after a transaction could not end.",
		}),
		restored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clarion_responder_restored_actions_total",
			Help: "Actions restored from clarion.actions on partition assignment.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clarion_responder_requests_refused_total",
			Help: "Requests the trust checks refused (docs/trust.md), by reason (unsigned, untrusted_signer, bad_signature, unknown_alert, not_subject, no_principal, not_approver, not_analyst).",
		}, []string{"reason"}),
		alertsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clarion_responder_alerts_refused_total",
			Help: "clarion.alerts records the responder did not believe, by reason (unsigned, untrusted_signer, bad_signature, malformed, subject_changed).",
		}, []string{"reason"}),
		alertsKnown: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clarion_responder_known_alerts",
			Help: "Alerts the responder knows from clarion.alerts (subject and detection severity).",
		}),
		actionsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clarion_responder_restore_refused_total",
			Help: "clarion.actions records not signed by the responder, ignored on restore.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.actions, m.execSeconds, m.guards, m.expirations, m.dropped, m.pending, m.txns, m.restarts, m.restored, m.refused, m.alertsRefused, m.alertsKnown, m.actionsRefused} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, errors.New("responder: metrics already registered (one Responder per registerer)")
			}
			return nil, err
		}
	}
	return m, nil
}
