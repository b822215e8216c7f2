package sim

import (
	"crypto/rand"
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests   *prometheus.CounterVec
	deliveries *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clarion_oktasim_requests_total", Help: "Okta API requests the simulator answered, by endpoint family and status.",
		}, []string{"endpoint", "code"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clarion_oktasim_hook_deliveries_total", Help: "Event hook delivery attempts, by result (ok, retried, failed).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.requests, m.deliveries)
	return m
}

func (m *metrics) request(endpoint string, code int) {
	if m != nil {
		m.requests.WithLabelValues(endpoint, strconv.Itoa(code)).Inc()
	}
}

func (m *metrics) delivery(result string) {
	if m != nil {
		m.deliveries.WithLabelValues(result).Inc()
	}
}

func newUUIDv4() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
