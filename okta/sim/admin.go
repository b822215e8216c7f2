package sim

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/clarion-itdr/clarion/okta/sim/traffic"
)

// The /sim endpoints exist only in the simulator: they stand in for what an
// admin clicks in Okta's console. They take no authentication.

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON body: " + err.Error()})
		return false
	}
	return true
}

// handleSimApps is POST /sim/apps {client_id?, jwks:{keys:[...]}, scopes:[...], dpop}.
func (s *Server) handleSimApps(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ClientID string             `json:"client_id"`
		JWKS     jose.JSONWebKeySet `json:"jwks"`
		Scopes   []string           `json:"scopes"`
		DPoP     bool               `json:"dpop"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	id, err := s.RegisterApp(req.ClientID, req.JWKS, req.Scopes, req.DPoP)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"client_id": id})
}

// handleSimHooks is POST /sim/eventhooks {url, auth_field, auth_secret, events}.
// It answers 201 {id, verified[, error]} even when verification failed.
func (s *Server) handleSimHooks(w http.ResponseWriter, r *http.Request) {
	var req HookConfig
	if !decodeBody(w, r, &req) {
		return
	}
	info, err := s.RegisterEventHook(r.Context(), req)
	var bad errBadRequest
	if errors.As(err, &bad) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusCreated, info)
}

// handleSimHookVerify is POST /sim/eventhooks/{id}/verify.
func (s *Server) handleSimHookVerify(w http.ResponseWriter, r *http.Request) {
	info, err := s.VerifyEventHook(r.Context(), r.PathValue("id"))
	var bad errBadRequest
	if errors.As(err, &bad) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// handleSimUsers is GET /sim/users: every user with status, home and office.
func (s *Server) handleSimUsers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Users())
}

// Label is the ground truth of one System Log event.
type Label struct {
	UUID      string    `json:"uuid"`
	Published time.Time `json:"published"`
	EventType string    `json:"eventType"`
	UserID    string    `json:"user_id"`
	Outcome   string    `json:"outcome"`
	Attack    string    `json:"attack,omitempty"`
	Expect    []string  `json:"expect,omitempty"`
}

// Labels returns the ground truth of the events in the System Log so far:
// every injected attack event, and with all also every event carrying an
// expected anomaly (see package traffic for the rules).
func (s *Server) Labels(all bool) []Label {
	n := s.advance()
	s.mu.RLock()
	recs := s.recs[:n]
	s.mu.RUnlock()
	var out []Label
	for i := range recs {
		r := &recs[i]
		if r.Kind == kindOwn || (r.Attack == 0 && (!all || r.Expect == 0)) {
			continue
		}
		out = append(out, s.label(r))
	}
	return out
}

func (s *Server) label(r *traffic.Record) Label {
	m := s.model
	return Label{
		UUID: m.UUID(r), Published: time.UnixMilli(r.Published).UTC(), EventType: r.EventType(),
		UserID: m.UserKey(r), Outcome: r.Outcome(), Attack: r.AttackName(), Expect: r.ExpectList(),
	}
}

// handleSimLabels is GET /sim/labels[?all=true]: JSON Lines.
func (s *Server) handleSimLabels(w http.ResponseWriter, r *http.Request) {
	labels := s.Labels(r.URL.Query().Get("all") == "true")
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	for _, l := range labels {
		if err := enc.Encode(l); err != nil {
			return
		}
	}
}
