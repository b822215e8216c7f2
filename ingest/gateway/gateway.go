// Package gateway is Clarion's Okta event hook endpoint. It answers Okta's
// one-time verification GET and, for each delivery POST, writes every element
// of data.events to clarion.okta.events as its own record, byte for byte,
// answering 200 only once Kafka has acknowledged every record.
//
// Outcomes (Okta retries a delivery once on 5xx or timeout, never on 4xx):
//
//	unknown integration            404
//	missing or wrong secret        401 (constant-time comparison)
//	content type other than JSON   415
//	body over the limit            413
//	malformed JSON, not Okta's     400 with a JSON error
//	Kafka cannot ack in time       503 (Okta retries; the poller repairs gaps)
//	every record acked             200 {"accepted":n,"dead_lettered":m}
//
// One bad event never costs the others: an element of data.events that
// Clarion cannot key or parse (not an object, no string uuid, no actor
// object) goes, byte for byte, to clarion.deadletter with the reason and
// the integration in its headers (HeaderDLQReason, bus.HeaderIntegrationID)
// and is counted (clarion_gateway_dead_letters_total); the rest of the
// delivery is written and the delivery answered 200 once Kafka has
// acknowledged every record, dead letters included. Only a body that is not
// an Okta event hook envelope at all is refused with 400.
package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/semaphore"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/integration"
	"github.com/clarion-itdr/clarion/internal/secrets"
)

// Registry is what the gateway needs of the integration registry.
// *integration.Store implements it.
type Registry interface {
	Get(id string) (*integration.Integration, bool)
	MasterKey() *secrets.MasterKey
	NoteVerified(id string)
	NoteDelivery(id string, events int)
}

// Producer is what the gateway needs of a Kafka client. *kgo.Client
// implements it; it must be configured with bus.ProducerOpts (acks=all,
// idempotent).
type Producer interface {
	Produce(ctx context.Context, r *kgo.Record, promise func(*kgo.Record, error))
}

// Config configures a Gateway. Zero values take the defaults named.
type Config struct {
	// Registry resolves integrations and checks their secrets. Required.
	Registry Registry
	// Producer writes records. Required.
	Producer Producer
	// MaxBody is the largest delivery body accepted. Default 10 MiB.
	MaxBody int64
	// MaxInFlightBytes bounds the bodies held at once by deliveries in
	// progress (each counts its Content-Length, or MaxBody when unknown).
	// A delivery that does not fit is answered 503 at once, so that Okta
	// retries, instead of exhausting memory. Default 256 MiB.
	MaxInFlightBytes int64
	// AckTimeout bounds the wait for Kafka to acknowledge a delivery's
	// records; past it the answer is 503. Default 2.5 s, inside Okta's 3 s.
	AckTimeout time.Duration
	// Logger. Default slog.Default(). Secrets are never logged.
	Logger *slog.Logger
	// Registerer receives the gateway's metrics. nil: no metrics.
	Registerer prometheus.Registerer
	// Now is the clock for received_at. Default time.Now.
	Now func() time.Time
}

const (
	defaultMaxBody    = 10 << 20
	defaultInFlight   = 256 << 20
	defaultAckTimeout = 2500 * time.Millisecond
	maxChallenge      = 1024
)

// Headers of a record the gateway sends to bus.TopicDeadLetter, besides the
// integration_id, source, received_at and event_id of an event record. The
// names are those the sinks use for their dead letters.
const (
	HeaderDLQReason = "dlq_reason" // why the event could not be keyed
	HeaderDLQSink   = "dlq_sink"   // the component that rejected it: "gateway"
	HeaderDLQTopic  = "dlq_topic"  // the topic it was meant for: clarion.okta.events
)

var (
	dlqSinkGateway = []byte("gateway")
	dlqTopicEvents = []byte(bus.TopicEvents)
)

// Gateway serves GET and POST /hooks/okta/{integrationID}.
type Gateway struct {
	cfg      Config
	m        *metrics
	inFlight *semaphore.Weighted
	buf      sync.Pool // *[]byte bodies, reused only when no record can still reference them
}

// New returns a Gateway for cfg.
func New(cfg Config) (*Gateway, error) {
	if cfg.Registry == nil || cfg.Producer == nil {
		return nil, errors.New("gateway: Config.Registry and Config.Producer are required")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = defaultMaxBody
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = defaultAckTimeout
	}
	if cfg.MaxInFlightBytes <= 0 {
		cfg.MaxInFlightBytes = defaultInFlight
	}
	if cfg.MaxInFlightBytes < cfg.MaxBody {
		cfg.MaxInFlightBytes = cfg.MaxBody
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Gateway{cfg: cfg, m: m, inFlight: semaphore.NewWeighted(cfg.MaxInFlightBytes)}, nil
}

// Register adds the gateway's routes to mux.
func (g *Gateway) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /hooks/okta/{integrationID}", g.serveVerify)
	mux.HandleFunc("POST /hooks/okta/{integrationID}", g.serveDelivery)
}

// authenticate resolves the integration and checks the auth header. It
// writes the failure answer itself and returns nil then.
func (g *Gateway) authenticate(w http.ResponseWriter, r *http.Request) *integration.Integration {
	id := r.PathValue("integrationID")
	in, ok := g.cfg.Registry.Get(id)
	if !ok {
		writeError(w, http.StatusNotFound, "unknown_integration", "no integration has this id; copy the webhook URL from the Clarion wizard")
		return nil
	}
	secret := r.Header.Get(in.AuthField)
	if secret == "" || !g.cfg.Registry.MasterKey().CheckSecret([]byte(secret), in.SecretHash) {
		writeError(w, http.StatusUnauthorized, "unauthorized", "missing or wrong authentication secret in header "+in.AuthField)
		return nil
	}
	return in
}

// serveVerify answers Okta's one-time verification request.
func (g *Gateway) serveVerify(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	defer func() { g.m.observe(r.PathValue("integrationID"), "verify", rec.status, 0, start) }()
	in := g.authenticate(rec, r)
	if in == nil {
		return
	}
	challenge := r.Header.Get("X-Okta-Verification-Challenge")
	if challenge == "" {
		writeError(rec, http.StatusBadRequest, "no_challenge", "a GET to this URL is Okta's verification request and needs the X-Okta-Verification-Challenge header")
		return
	}
	if len(challenge) > maxChallenge {
		writeError(rec, http.StatusBadRequest, "bad_challenge", "the verification challenge is too long")
		return
	}
	g.cfg.Registry.NoteVerified(in.ID)
	g.cfg.Logger.Info("event hook verified", "integration", in.ID)
	writeJSON(rec, http.StatusOK, map[string]string{"verification": challenge})
}

// serveDelivery writes a delivery's events to Kafka.
func (g *Gateway) serveDelivery(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	events := 0
	defer func() { g.m.observe(r.PathValue("integrationID"), "delivery", rec.status, events, start) }()

	in := g.authenticate(rec, r)
	if in == nil {
		return
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		writeError(rec, http.StatusUnsupportedMediaType, "unsupported_media_type", "deliveries must be application/json")
		return
	}
	if r.ContentLength > g.cfg.MaxBody {
		writeError(rec, http.StatusRequestEntityTooLarge, "too_large", "the body is larger than "+strconv.FormatInt(g.cfg.MaxBody, 10)+" bytes")
		return
	}
	weight := r.ContentLength
	if weight <= 0 {
		weight = g.cfg.MaxBody
	}
	if !g.inFlight.TryAcquire(weight) {
		g.m.overloaded.Inc()
		rec.Header().Set("Retry-After", "1")
		writeError(rec, http.StatusServiceUnavailable, "overloaded", "too many deliveries in progress; Okta will retry")
		return
	}
	g.m.inFlight.Add(float64(weight))
	defer func() { g.m.inFlight.Sub(float64(weight)); g.inFlight.Release(weight) }()
	bp, err := g.readBody(rec, r)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(rec, http.StatusRequestEntityTooLarge, "too_large", "the body is larger than "+strconv.FormatInt(g.cfg.MaxBody, 10)+" bytes")
			return
		}
		writeError(rec, http.StatusBadRequest, "bad_body", "could not read the body")
		return
	}
	body := *bp
	reusable := true
	defer func() {
		if reusable {
			g.putBuf(bp)
		}
	}()

	receivedAt := []byte(bus.FormatTime(g.cfg.Now()))
	idb := []byte(in.ID)
	ctx, cancel := context.WithTimeout(r.Context(), g.cfg.AckTimeout)
	defer cancel()
	b := newBatch()
	// One allocation each for the records, their headers and their keys
	// of a delivery, sized by its event count.
	var (
		deliveryID []byte
		recs       []kgo.Record
		hdrs       []kgo.RecordHeader
		keys       []byte
		rejected   []string // RejectCode of each dead-lettered element
	)
	env, err := SplitEnvelope(body, func(ev EventRef) error {
		if recs == nil {
			recs = make([]kgo.Record, 0, ev.Count)
			hdrs = make([]kgo.RecordHeader, 0, ev.Count*5)
			keys = make([]byte, 0, ev.Count*(len(in.ID)+24))
			if ev.DeliveryID != "" {
				deliveryID = []byte(ev.DeliveryID)
			}
		}
		userKey := ev.ActorID
		if userKey == "" || userKey == "unknown" {
			userKey = ev.AlternateID
		}
		k0 := len(keys)
		keys = bus.AppendKey(keys, in.ID, userKey)
		h0 := len(hdrs)
		hdrs = append(hdrs,
			kgo.RecordHeader{Key: bus.HeaderIntegrationID, Value: idb},
			kgo.RecordHeader{Key: bus.HeaderSource, Value: sourceHook},
			kgo.RecordHeader{Key: bus.HeaderReceivedAt, Value: receivedAt},
			kgo.RecordHeader{Key: bus.HeaderUUID, Value: unsafe.Slice(unsafe.StringData(ev.UUID), len(ev.UUID))}, // aliases body, like Value
		)
		if deliveryID != nil {
			hdrs = append(hdrs, kgo.RecordHeader{Key: bus.HeaderDeliveryID, Value: deliveryID})
		}
		topic := bus.TopicEvents
		if ev.Reject != "" {
			// Rare: the dead letter's headers are allocated apart.
			topic = bus.TopicDeadLetter
			h := append(hdrs[h0:len(hdrs):len(hdrs)],
				kgo.RecordHeader{Key: HeaderDLQReason, Value: []byte(ev.Reject)},
				kgo.RecordHeader{Key: HeaderDLQSink, Value: dlqSinkGateway},
				kgo.RecordHeader{Key: HeaderDLQTopic, Value: dlqTopicEvents})
			hdrs = hdrs[:h0]
			rejected = append(rejected, ev.RejectCode)
			recs = append(recs, kgo.Record{Topic: topic, Key: keys[k0:len(keys):len(keys)], Value: ev.Raw, Headers: h})
			return nil
		}
		recs = append(recs, kgo.Record{
			Topic:   topic,
			Key:     keys[k0:len(keys):len(keys)],
			Value:   ev.Raw,
			Headers: hdrs[h0:len(hdrs):len(hdrs)],
		})
		return nil
	})
	if err != nil {
		var ee *EnvelopeError
		if errors.As(err, &ee) {
			writeError(rec, http.StatusBadRequest, "bad_envelope", ee.Error())
			return
		}
		writeError(rec, http.StatusBadRequest, "bad_envelope", err.Error())
		return
	}
	events = env.Events - env.Rejected
	if len(recs) == 0 {
		g.cfg.Registry.NoteDelivery(in.ID, 0)
		writeAccepted(rec, 0, 0)
		return
	}

	b.pending.Store(int64(len(recs)))
	for i := range recs {
		g.cfg.Producer.Produce(ctx, &recs[i], b.promise)
	}
	select {
	case <-b.done:
	case <-ctx.Done():
	}
	if err := b.result(); err != nil || ctx.Err() != nil {
		// Some records may still be in flight and reference body: never
		// hand it to another request.
		reusable = false
		if err == nil {
			err = ctx.Err()
		}
		g.m.produceErrors.Inc()
		g.cfg.Logger.Warn("delivery not acknowledged by Kafka; answering 503 so Okta retries",
			"integration", in.ID, "events", env.Events, "err", err)
		rec.Header().Set("Retry-After", "1")
		writeError(rec, http.StatusServiceUnavailable, "unavailable", "events could not be stored durably; Okta will retry")
		return
	}
	if len(rejected) > 0 {
		for _, code := range rejected {
			g.m.deadLetters.WithLabelValues(in.ID, code).Inc()
		}
		// The reason only: the events' contents are personal data.
		g.cfg.Logger.Warn("events Clarion cannot key sent to the dead-letter topic; the rest of the delivery is accepted",
			"integration", in.ID, "dead_lettered", len(rejected), "accepted", events, "first_reason", rejected[0])
	}
	g.cfg.Registry.NoteDelivery(in.ID, events)
	writeAccepted(rec, events, len(rejected))
}

// writeAccepted answers 200 {"accepted":n,"dead_lettered":m}, the hot
// path's answer, without reflection.
func writeAccepted(w http.ResponseWriter, n, dead int) {
	var buf [64]byte
	b := append(buf[:0], `{"accepted":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, `,"dead_lettered":`...)
	b = strconv.AppendInt(b, int64(dead), 10)
	b = append(b, "}\n"...)
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

var sourceHook = []byte(bus.SourceHook)

// batch tracks one delivery's produce acknowledgements.
type batch struct {
	pending atomic.Int64
	done    chan struct{}
	mu      sync.Mutex
	err     error
}

func newBatch() *batch { return &batch{done: make(chan struct{})} }

func (b *batch) promise(_ *kgo.Record, err error) {
	if err != nil {
		b.mu.Lock()
		if b.err == nil {
			b.err = err
		}
		b.mu.Unlock()
	}
	if b.pending.Add(-1) == 0 {
		close(b.done)
	}
}

func (b *batch) result() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

func (g *Gateway) readBody(w http.ResponseWriter, r *http.Request) (*[]byte, error) {
	bp, _ := g.buf.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, 0, 64<<10)
		bp = &b
	}
	buf := (*bp)[:0]
	if n := r.ContentLength; n > 0 && int64(cap(buf)) < n+1 {
		buf = make([]byte, 0, n+1)
	}
	rd := http.MaxBytesReader(w, r.Body, g.cfg.MaxBody)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			*bp = buf
			g.putBuf(bp)
			return nil, err
		}
	}
	*bp = buf
	return bp, nil
}

func (g *Gateway) putBuf(bp *[]byte) {
	if cap(*bp) > 4<<20 { // do not pin rare huge bodies
		return
	}
	g.buf.Put(bp)
}

func isJSON(ct string) bool {
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || mt == "application/cloudevents+json")
}

type apiError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Error: code, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}
