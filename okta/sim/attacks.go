package sim

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/clarion-itdr/clarion/okta/sim/traffic"
)

// AttackRequest is the body of POST /sim/attacks.
type AttackRequest struct {
	// User is the victim's id or login. Empty: the simulator picks an
	// ACTIVE user past the detectors' learning period (a successful
	// sign-in in the log and at least 8 days of work), outside IT and
	// Security (whose members are in the protected "Okta Administrators"
	// group).
	User string `json:"user,omitempty"`
	// Kind is one of traffic.InjectKinds: impossible_travel (default),
	// anonymizing_proxy, password_spray, brute_force, credential_stuffing,
	// mfa_fatigue, session_hijack, factor_reset (traffic.Model.Inject
	// describes each). The spray and stuffing kinds also try other users.
	Kind string `json:"kind,omitempty"`
}

// AttackInfo answers POST /sim/attacks.
type AttackInfo struct {
	Kind      string    `json:"kind"`
	UserID    string    `json:"user_id"`
	Login     string    `json:"login"`
	Events    []string  `json:"events"` // uuids, in published order
	Published time.Time `json:"published"`
}

// InjectAttack logs an attack on a user at the simulated now (see
// traffic.Model.Inject) and queues it for every event hook, like any
// other event. All its events are published at the simulated now, a
// millisecond apart, so the System Log stays in published order.
func (s *Server) InjectAttack(req AttackRequest) (AttackInfo, error) {
	if req.Kind == "" {
		req.Kind = traffic.AttackImpossibleTravel
	}
	now := s.SimNow().UnixMilli()
	s.genMu.Lock()
	defer s.genMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pumpLocked(now)
	users := s.model.Users()
	v := -1
	if req.User != "" {
		i, ok := s.findUser(req.User)
		if !ok {
			return AttackInfo{}, errBadRequest(fmt.Sprintf("no user %q", req.User))
		}
		v = i
	} else {
		for i, u := range users {
			if s.status[i] == StatusActive && s.lastLogin[i] > 0 && u.ActiveFrom.UnixMilli()+8*24*3600*1000 <= now &&
				u.Department != "IT" && u.Department != "Security" {
				v = i
				break
			}
		}
		if v < 0 {
			return AttackInfo{}, errBadRequest("no ACTIVE user past the learning period yet: let the traffic run longer")
		}
	}
	s.injected++
	recs, err := s.model.Inject(req.Kind, v, now, s.injected)
	if err != nil {
		return AttackInfo{}, errBadRequest(err.Error())
	}
	if n := len(s.recs); n > 0 && s.recs[n-1].Published > now {
		now = s.recs[n-1].Published
	}
	info := AttackInfo{Kind: req.Kind, UserID: users[v].ID, Login: users[v].Login, Published: time.UnixMilli(now).UTC()}
	for i := range recs {
		r := recs[i]
		r.Published = now + int64(i)
		if r.User >= 0 && s.status[r.User] != StatusActive {
			if r.Kind > traffic.KindSSO {
				continue // no session, so none of the flow after a sign-in
			}
			r.Deny()
		}
		if r.User >= 0 && r.Kind == traffic.KindSessionStart && r.Success() {
			s.lastLogin[r.User] = r.Published
		}
		s.recs = append(s.recs, r)
		for _, h := range s.hooks {
			h.enqueue(len(s.recs)-1, r.EventType())
		}
		info.Events = append(info.Events, s.model.UUID(&r))
	}
	return info, nil
}

// handleSimAttacks is POST /sim/attacks {user?, kind?}: 201 AttackInfo.
func (s *Server) handleSimAttacks(w http.ResponseWriter, r *http.Request) {
	var req AttackRequest
	if r.ContentLength != 0 && !decodeBody(w, r, &req) {
		return
	}
	req.Kind = strings.TrimSpace(req.Kind)
	info, err := s.InjectAttack(req)
	var bad errBadRequest
	if errors.As(err, &bad) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusCreated, info)
}
