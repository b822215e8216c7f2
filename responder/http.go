package responder

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/api"
	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/internal/secrets"
)

// HandlerConfig configures the approve/reject API.
type HandlerConfig struct {
	// Producer writes requests to clarion.responder.requests. It must use
	// acks=all (bus.ProducerOpts), so a 202 means the request is durable,
	// and sign as record.SignerAPI (the record.Signer's Opt among its
	// options): the responder honours only API-signed decisions.
	// Required.
	Producer *kgo.Client
	// Actions looks actions up (the console's model, or a View). Required.
	Actions ActionView
	// MaxBody bounds the request body. Default 4 KiB.
	MaxBody int64
	// ProduceTimeout bounds the wait for Kafka's ack. Default 10 s; past it
	// the API answers 503.
	ProduceTimeout time.Duration
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// Registerer for the handler's metrics; nil means none.
	Registerer prometheus.Registerer
}

// Handler serves POST /api/actions/{id}/approve and /reject. Mount it
// behind the API's authentication with Register; it does not check the
// admin token itself, but it needs the principal the API attached to the
// request (api.PrincipalFrom): 401 without one, 403 unless it holds the
// approver role. The decision record names the principal (ID, name, role,
// how it signed in) and is signed by the API's producer.
type Handler struct {
	cfg  HandlerConfig
	mux  *http.ServeMux
	reqs *prometheus.CounterVec
}

// NewHandler returns the approve/reject handler.
func NewHandler(cfg HandlerConfig) (*Handler, error) {
	if cfg.Producer == nil || cfg.Actions == nil {
		return nil, errors.New("responder: HandlerConfig.Producer and HandlerConfig.Actions are required")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 4 << 10
	}
	if cfg.ProduceTimeout <= 0 {
		cfg.ProduceTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), reqs: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "clarion_responder_api_decisions_total",
		Help: "POST /api/actions/{id}/approve|reject by decision and HTTP status.",
	}, []string{"decision", "code"})}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(h.reqs); err != nil {
			return nil, err
		}
	}
	h.mux.Handle(PatternApprove, h.decision(record.RequestApprove))
	h.mux.Handle(PatternReject, h.decision(record.RequestReject))
	return h, nil
}

// Route patterns the Handler serves.
const (
	PatternApprove = "POST /api/actions/{id}/approve"
	PatternReject  = "POST /api/actions/{id}/reject"
)

// Register mounts both routes on the API (behind its token check).
func (h *Handler) Register(a *api.API) {
	a.Handle(PatternApprove, h.decision(record.RequestApprove))
	a.Handle(PatternReject, h.decision(record.RequestReject))
}

// ServeHTTP serves both routes without authentication: for tests, or
// behind another authenticating handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

type decisionBody struct {
	Reason string `json:"reason"`
}

// maxReason bounds the reason kept on the action.
const maxReason = 1000

func (h *Handler) decision(kind string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := h.serveDecision(w, r, kind)
		h.reqs.WithLabelValues(kind, strconv.Itoa(code)).Inc()
	})
}

func (h *Handler) serveDecision(w http.ResponseWriter, r *http.Request, kind string) int {
	who, ok := api.PrincipalFrom(r.Context())
	if !ok || who.ID == "" {
		api.WriteError(w, http.StatusUnauthorized, "unauthenticated", "sign in, or send a token, to approve or reject actions")
		return http.StatusUnauthorized
	}
	if !who.Role.Allows(api.RoleApprover) {
		api.WriteError(w, http.StatusForbidden, "forbidden", "approving or rejecting actions needs the approver role; you have "+who.Role.String())
		return http.StatusForbidden
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			api.WriteError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send no body, or application/json like {\"reason\": \"...\"}")
			return http.StatusUnsupportedMediaType
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			api.WriteError(w, http.StatusRequestEntityTooLarge, "too_large", "the body is larger than 4 KiB")
			return http.StatusRequestEntityTooLarge
		}
		api.WriteError(w, http.StatusBadRequest, "bad_body", "the body could not be read")
		return http.StatusBadRequest
	}
	var b decisionBody
	if len(bytes.TrimSpace(body)) > 0 {
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := &statusRecorder{ResponseWriter: w}
		if !api.DecodeJSON(rec, r, &b) {
			return rec.code
		}
	}
	b.Reason = strings.TrimSpace(b.Reason)
	if len(b.Reason) > maxReason {
		b.Reason = b.Reason[:maxReason]
	}
	id := r.PathValue("id")
	a, ok := h.cfg.Actions.Action(id)
	if !ok {
		api.WriteError(w, http.StatusNotFound, "not_found", "no action has this id")
		return http.StatusNotFound
	}
	if a.State != record.ActionPending {
		api.WriteJSON(w, http.StatusConflict, map[string]any{
			"error": "not_pending", "message": "the action is " + a.State + ", not pending_approval", "state": a.State, "action": a,
		})
		return http.StatusConflict
	}
	q := &record.Request{
		ID: "req-" + secrets.RandomToken(16), Type: kind, ActionID: a.ID, At: time.Now().UTC(), By: who.Name,
		Reason: b.Reason, IntegrationID: a.IntegrationID, User: a.User,
		Principal: &record.Identity{ID: who.ID, Name: who.Name, Email: who.Email, Role: who.Role.String(), Via: who.Via},
	}
	rec, err := record.RequestRecord(q)
	if err != nil {
		h.cfg.Logger.Error("build request", "action", a.ID, "err", err)
		api.WriteError(w, http.StatusInternalServerError, "internal", "the request could not be built")
		return http.StatusInternalServerError
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.ProduceTimeout)
	defer cancel()
	if err := h.cfg.Producer.ProduceSync(ctx, rec).FirstErr(); err != nil {
		h.cfg.Logger.Error("produce decision", "action", a.ID, "err", err)
		api.WriteError(w, http.StatusServiceUnavailable, "unavailable", "Kafka did not accept the decision; try again")
		return http.StatusServiceUnavailable
	}
	h.cfg.Logger.Info("action decision requested", "action", a.ID, "decision", kind, "request", q.ID, "by", who.ID, "via", who.Via)
	api.WriteJSON(w, http.StatusAccepted, map[string]any{"action": a, "request_id": q.ID})
	return http.StatusAccepted
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}
