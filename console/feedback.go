package console

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/console/alerts"
	"github.com/clarion-itdr/clarion/internal/api"
	"github.com/clarion-itdr/clarion/internal/audit"
	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/record"
)

// Limits of POST /api/alerts/{id}/feedback.
const (
	maxFeedbackBody = 4 << 10
	maxNoteLen      = 1000
)

// errProducerClosed: feedback after Run returned, with the console's own producer.
var errProducerClosed = errors.New("console: the feedback producer is closed")

// producer hands out the client feedback is produced with: Config.Producer,
// or a client of the console's own (acks=all, idempotent), made on first
// use and closed when Run returns.
type producer struct {
	given   *kgo.Client
	brokers []string
	cfg     Config

	mu     sync.Mutex
	own    *kgo.Client
	closed bool
}

func (p *producer) get() (*kgo.Client, error) {
	if p.given != nil {
		return p.given, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errProducerClosed
	}
	if p.own == nil {
		cl, err := bus.NewClient(p.brokers, p.cfg.Logger, append(bus.ProducerOpts(0), p.cfg.KafkaOpts...)...)
		if err != nil {
			return nil, err
		}
		p.own = cl
	}
	return p.own, nil
}

func (p *producer) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.own != nil {
		p.own.Close()
		p.own = nil
	}
}

type feedbackBody struct {
	Kind string `json:"kind"`
	Note string `json:"note"`
}

type feedbackAnswer struct {
	AlertID  string `json:"alert_id"`
	Feedback string `json:"feedback"`
	// Proposed lists the actions offered for approval (confirm_compromised).
	Proposed []string `json:"proposed_actions,omitempty"`
}

// feedback is POST /api/alerts/{id}/feedback {"kind", "note"}: an analyst's
// verdict on an alert, as Entra ID Protection takes it. It sends the
// processor a record.Update (confirm_safe also teaches the baseline the
// alert's successful sign-in places and networks) and, for
// confirm_compromised, proposes suspend_user and clear_sessions to the
// responder for approval (Basis.Analyst: never automatic). It answers 202
// once Kafka has acknowledged every record; the alert changes when the
// processor applies the update (the live stream shows it).
func (c *Console) feedback(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "application/json") {
		api.WriteError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFeedbackBody)
	var body feedbackBody
	if !api.DecodeJSON(w, r, &body) {
		return
	}
	switch body.Kind {
	case record.FeedbackConfirmCompromised, record.FeedbackConfirmSafe, record.FeedbackDismiss:
	default:
		api.WriteError(w, http.StatusBadRequest, "bad_kind", `kind must be "confirm_compromised", "confirm_safe" or "dismiss"`)
		return
	}
	body.Note = strings.TrimSpace(body.Note)
	if len(body.Note) > maxNoteLen {
		api.WriteError(w, http.StatusBadRequest, "bad_note", "the note is longer than 1000 bytes")
		return
	}
	d, ok := c.alerts.Detail(r.PathValue("id"))
	if !ok {
		api.WriteError(w, http.StatusNotFound, "not_found", "no alert has this id (or it is older than the console keeps in memory)")
		return
	}
	who, _ := api.PrincipalFrom(r.Context())
	now := c.cfg.Now().UTC()
	recs, proposed, err := feedbackRecords(d, body, who, now)
	if err != nil {
		c.log.Error("console: feedback records", "alert", d.Meta.ID, "err", err)
		api.WriteError(w, http.StatusBadRequest, "bad_alert", "this alert cannot take feedback: "+err.Error())
		return
	}
	ev := audit.New(audit.ActionVerdict, api.ActorOf(who), now)
	ev.Remote, ev.Target, ev.TargetID, ev.AlertID, ev.IntegrationID = c.client(r), "alert", d.Meta.ID, d.Meta.ID, d.Meta.IntegrationID
	ev.Details = map[string]string{"feedback": body.Kind, "note": body.Note, "alert_version": strconv.FormatUint(uint64(d.Meta.Version), 10)}
	if len(proposed) > 0 {
		ev.Details["proposed_actions"] = strings.Join(proposed, ",")
	}
	ar, err := audit.Record(ev)
	if err != nil {
		c.log.Error("console: audit record", "err", err)
		api.WriteError(w, http.StatusInternalServerError, "internal", "the audit record could not be built")
		return
	}
	// The verdict and its audit record are written together: no verdict
	// without a record of who gave it.
	recs = append(recs, ar)
	cl, err := c.prod.get()
	if err == nil {
		ctx, cancel := context.WithTimeout(r.Context(), c.cfg.ProduceTimeout)
		err = cl.ProduceSync(ctx, recs...).FirstErr()
		cancel()
	}
	if err != nil {
		c.log.Error("console: feedback not written", "alert", d.Meta.ID, "kind", body.Kind, "err", err)
		w.Header().Set("Retry-After", "5")
		api.WriteError(w, http.StatusServiceUnavailable, "unavailable", "the feedback could not be written to Kafka; try again")
		return
	}
	c.log.Info("console: analyst feedback", "alert", d.Meta.ID, "kind", body.Kind, "by", who.ID, "proposed", len(proposed))
	api.WriteJSON(w, http.StatusAccepted, feedbackAnswer{AlertID: d.Meta.ID, Feedback: body.Kind, Proposed: proposed})
}

// feedbackRecords builds the Kafka records of one feedback on the alert d:
// the update for the processor, then for confirm_compromised one proposal
// per action kind for the responder. It returns the proposed action ids.
func feedbackRecords(d alerts.Detail, body feedbackBody, who api.Principal, now time.Time) ([]*kgo.Record, []string, error) {
	me := d.Meta
	by := who.Name
	if who.ID == "" {
		return nil, nil, errors.New("no principal")
	}
	if by == "" {
		by = who.ID
	}
	if me.IntegrationID == "" || me.User.ID == "" {
		return nil, nil, errors.New("the alert has no integration_id or user.id")
	}
	user := record.UserRef{ID: me.User.ID, Login: me.User.Login}
	u := &record.Update{
		Kind: record.UpdateFeedback, AlertID: me.ID, IntegrationID: me.IntegrationID, User: user,
		AlertVersion: me.Version, At: now, By: by, Feedback: body.Kind, Base: d.Alert,
	}
	if body.Kind == record.FeedbackConfirmSafe {
		u.Learn = learnPlaces(d.Anomalies)
	}
	ur, err := record.UpdateRecord(u)
	if err != nil {
		return nil, nil, err
	}
	recs := []*kgo.Record{ur}
	if body.Kind != record.FeedbackConfirmCompromised {
		return recs, nil, nil
	}
	sev := me.DetectionSeverity
	if sev == "" {
		sev = me.Severity
	}
	reason := by + " (" + who.Role.String() + ") confirmed the account compromised."
	if body.Note != "" {
		reason += " Note: " + body.Note
	}
	var ids []string
	for _, kind := range []string{record.KindSuspendUser, record.KindClearSessions} {
		id := record.ActionID(me.ID, kind)
		q := &record.Request{
			ID: requestID(me.ID, me.Version, kind), Type: record.RequestPropose, ActionID: id, At: now, By: by,
			Reason: reason, Kind: kind, AlertID: me.ID, AlertVersion: me.Version, IntegrationID: me.IntegrationID, User: user,
			Basis: &record.Basis{
				DetectionSeverity: sev, Deterministic: d.Deterministic,
				Verdict: record.DispositionConfirmedThreat, VerdictBy: "analyst", Analyst: true,
			},
		}
		qr, err := record.RequestRecord(q)
		if err != nil {
			return nil, nil, err
		}
		recs = append(recs, qr)
		ids = append(ids, id)
	}
	return recs, ids, nil
}

// requestID names an analyst's proposal: the same alert version and kind
// give the same id, so a repeated click is one request to the responder.
func requestID(alertID string, version uint32, kind string) string {
	h := sha256.New()
	for _, p := range []string{"console/feedback/confirm_compromised", alertID, strconv.FormatUint(uint64(version), 10), kind} {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// learnPlaces lists the places and networks of the successful sign-ins in
// the anomalies' evidence, each once.
func learnPlaces(anomalies []json.RawMessage) []record.Place {
	type key struct {
		lat, lon float64
		hasGeo   bool
		asn      uint32
	}
	var out []record.Place
	seen := map[key]bool{}
	for _, raw := range anomalies {
		var an struct {
			Evidence struct {
				Signins []struct {
					Outcome string   `json:"outcome"`
					Lat     *float64 `json:"lat"`
					Lon     *float64 `json:"lon"`
					ASN     uint32   `json:"asn"`
				} `json:"signins"`
			} `json:"evidence"`
		}
		if json.Unmarshal(raw, &an) != nil {
			continue
		}
		for _, s := range an.Evidence.Signins {
			if s.Outcome != "SUCCESS" {
				continue
			}
			p := record.Place{ASN: s.ASN}
			k := key{asn: s.ASN}
			if s.Lat != nil && s.Lon != nil {
				lat, lon := *s.Lat, *s.Lon
				p.Lat, p.Lon = &lat, &lon
				k.lat, k.lon, k.hasGeo = lat, lon, true
			}
			if (!k.hasGeo && k.asn == 0) || seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, p)
		}
	}
	return out
}
