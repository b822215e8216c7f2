package gateway

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests      *prometheus.CounterVec
	events        *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	deadLetters   *prometheus.CounterVec
	produceErrors prometheus.Counter
	overloaded    prometheus.Counter
	inFlight      prometheus.Gauge
}

// newMetrics builds the gateway's collectors and registers them with reg
// (nil: unregistered). Labels carry integration ids, never user data.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clarion_gateway_requests_total",
			Help: "Event hook requests by integration, kind (verify, delivery) and HTTP status code.",
		}, []string{"integration", "kind", "code"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clarion_gateway_events_total",
			Help: "Events in accepted (200) deliveries, by integration.",
		}, []string{"integration"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "clarion_gateway_request_duration_seconds",
			Help:    "Event hook request latency, from routing to answer, by kind and status class.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"kind", "class"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clarion_gateway_dead_letters_total",
			Help: "Events of accepted deliveries that Clarion cannot key (not an object, no uuid, no actor), sent to the dead-letter topic, by integration and reason.",
		}, []string{"integration", "reason"}),
		produceErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clarion_gateway_produce_errors_total",
			Help: "Deliveries answered 503 because Kafka did not acknowledge every record in time.",
		}),
		overloaded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clarion_gateway_overloaded_total",
			Help: "Deliveries answered 503 because the in-flight byte budget was exhausted.",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clarion_gateway_inflight_bytes",
			Help: "Bytes of the in-flight byte budget held by deliveries in progress.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.events, m.deadLetters, m.duration, m.produceErrors, m.overloaded, m.inFlight} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) observe(integrationID, kind string, status, events int, start time.Time) {
	if status == 0 {
		status = 200
	}
	// Unknown ids are attacker-chosen: do not let them mint label values.
	label := integrationID
	if status == 404 {
		label = "unknown"
	}
	m.requests.WithLabelValues(label, kind, strconv.Itoa(status)).Inc()
	if status == 200 && events > 0 {
		m.events.WithLabelValues(label).Add(float64(events))
	}
	m.duration.WithLabelValues(kind, strconv.Itoa(status/100)+"xx").Observe(time.Since(start).Seconds())
}
