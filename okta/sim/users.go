package sim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/clarion-itdr/clarion/okta/sim/traffic"
)

// User statuses of Okta's lifecycle.
const (
	StatusActive    = "ACTIVE"
	StatusSuspended = "SUSPENDED"
)

// UserStatus is a user with their current lifecycle status.
type UserStatus struct {
	traffic.User
	Status        string    `json:"status"`
	StatusChanged time.Time `json:"statusChanged"`
}

// Users returns every user with their status (what GET /sim/users shows).
func (s *Server) Users() []UserStatus {
	s.mu.RLock()
	defer s.mu.RUnlock()
	us := s.model.Users()
	out := make([]UserStatus, len(us))
	for i, u := range us {
		out[i] = UserStatus{User: u, Status: s.status[i], StatusChanged: s.changed[i]}
	}
	return out
}

// findUser resolves an id or a login, as Okta's /api/v1/users/{id} does.
func (s *Server) findUser(idOrLogin string) (int, bool) {
	if i, ok := s.model.UserIndex(idOrLogin); ok {
		return i, true
	}
	for i, u := range s.model.Users() {
		if strings.EqualFold(u.Login, idOrLogin) {
			return i, true
		}
	}
	return 0, false
}

func userNotFound(w http.ResponseWriter, id string) int {
	writeOktaError(w, http.StatusNotFound, codeNotFound, "Not found: Resource not found: "+id+" (User)")
	return http.StatusNotFound
}

func oktaTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

type href struct {
	Href   string `json:"href"`
	Method string `json:"method,omitempty"`
}

// userJSON is the Okta User object.
func (s *Server) userJSON(base string, i int) map[string]any {
	s.mu.RLock()
	status, changed, last := s.status[i], s.changed[i], s.lastLogin[i]
	s.mu.RUnlock()
	u := s.model.Users()[i]
	self := base + "/api/v1/users/" + u.ID
	links := map[string]any{"self": href{Href: self}}
	switch status {
	case StatusActive:
		links["suspend"] = href{self + "/lifecycle/suspend", "POST"}
		links["resetPassword"] = href{self + "/lifecycle/reset_password", "POST"}
		links["expirePassword"] = href{self + "/lifecycle/expire_password", "POST"}
		links["deactivate"] = href{self + "/lifecycle/deactivate", "POST"}
	case StatusSuspended:
		links["unsuspend"] = href{self + "/lifecycle/unsuspend", "POST"}
		links["deactivate"] = href{self + "/lifecycle/deactivate", "POST"}
	}
	links["type"] = href{Href: base + "/api/v1/meta/types/user/oty1simdefault0000"}
	var lastLogin any
	if last > 0 {
		lastLogin = oktaTime(time.UnixMilli(last))
	}
	activated := u.Created.Add(time.Hour)
	return map[string]any{
		"id":              u.ID,
		"status":          status,
		"created":         oktaTime(u.Created),
		"activated":       oktaTime(activated),
		"statusChanged":   oktaTime(changed),
		"lastLogin":       lastLogin,
		"lastUpdated":     oktaTime(changed),
		"passwordChanged": oktaTime(activated),
		"type":            map[string]string{"id": "oty1simdefault0000"},
		"profile": map[string]any{
			"firstName": u.FirstName, "lastName": u.LastName, "mobilePhone": nil, "secondEmail": nil,
			"login": u.Login, "email": u.Login, "department": u.Department, "title": u.Title, "city": u.HomeCity,
		},
		"credentials": map[string]any{
			"password": map[string]any{},
			"provider": map[string]string{"type": "OKTA", "name": "OKTA"},
		},
		"_links": links,
	}
}

// handleGetUser is GET /api/v1/users/{id}.
func (s *Server) handleGetUser(w http.ResponseWriter, r *http.Request, t *token) int {
	if !requireScope(w, r, t, "okta.users.read", "okta.users.manage") {
		return http.StatusForbidden
	}
	i, ok := s.findUser(r.PathValue("id"))
	if !ok {
		return userNotFound(w, r.PathValue("id"))
	}
	writeJSON(w, http.StatusOK, s.userJSON(s.orgURL(r), i))
	return http.StatusOK
}

// handleListUsers is GET /api/v1/users?limit=&after=&filter=.
func (s *Server) handleListUsers(w http.ResponseWriter, r *http.Request, t *token) int {
	if !requireScope(w, r, t, "okta.users.read", "okta.users.manage") {
		return http.StatusForbidden
	}
	q := r.URL.Query()
	limit := 200
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeOktaError(w, http.StatusBadRequest, codeValidation, "Api validation failed: limit", "limit: must be a positive integer")
			return http.StatusBadRequest
		}
		limit = min(n, 200)
	}
	var flt filter
	if v := q.Get("filter"); v != "" {
		f, err := parseFilter(v)
		if err != nil {
			writeOktaError(w, http.StatusBadRequest, codeValidation, "Api validation failed: filter", "filter: "+err.Error())
			return http.StatusBadRequest
		}
		flt = f
	}
	users := s.model.Users()
	start := 0
	if a := q.Get("after"); a != "" {
		i, ok := s.model.UserIndex(a)
		if !ok {
			writeOktaError(w, http.StatusBadRequest, codeValidation, "Api validation failed: after", "after: unknown cursor")
			return http.StatusBadRequest
		}
		start = i + 1
	}
	base := s.orgURL(r)
	out := []map[string]any{}
	last := -1
	i := start
	for ; i < len(users) && len(out) < limit; i++ {
		uj := s.userJSON(base, i)
		if flt != nil {
			b, _ := json.Marshal(uj)
			if !flt.match(&view{raw: func() []byte { return b }}) {
				continue
			}
		}
		out = append(out, uj)
		last = i
	}
	w.Header().Add("Link", "<"+base+r.URL.RequestURI()+`>; rel="self"`)
	if len(out) == limit && i < len(users) && last >= 0 {
		nq := url.Values{}
		nq.Set("limit", strconv.Itoa(limit))
		if v := q.Get("filter"); v != "" {
			nq.Set("filter", v)
		}
		nq.Set("after", users[last].ID)
		w.Header().Add("Link", "<"+base+"/api/v1/users?"+nq.Encode()+`>; rel="next"`)
	}
	writeJSON(w, http.StatusOK, out)
	return http.StatusOK
}

func groupID(name string) string {
	h := uint64(1469598103934665603)
	for i := 0; i < len(name); i++ {
		h = (h ^ uint64(name[i])) * 1099511628211
	}
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := []byte("00g")
	for len(b) < 20 {
		b = append(b, alphabet[h%62])
		h = h/62 + h*31
	}
	return string(b)
}

// handleUserGroups is GET /api/v1/users/{id}/groups.
func (s *Server) handleUserGroups(w http.ResponseWriter, r *http.Request, t *token) int {
	if !requireScope(w, r, t, "okta.users.read", "okta.users.manage", "okta.groups.read") {
		return http.StatusForbidden
	}
	i, ok := s.findUser(r.PathValue("id"))
	if !ok {
		return userNotFound(w, r.PathValue("id"))
	}
	u := s.model.Users()[i]
	base := s.orgURL(r)
	created := oktaTime(s.model.Config().Start.AddDate(-3, 0, 0))
	group := func(name, typ, desc string) map[string]any {
		id := groupID(name)
		return map[string]any{
			"id": id, "created": created, "lastUpdated": created, "lastMembershipUpdated": created,
			"objectClass": []string{"okta:user_group"}, "type": typ,
			"profile": map[string]string{"name": name, "description": desc},
			"_links": map[string]any{
				"logo":  []map[string]string{{"name": "medium", "href": "https://op1static.oktacdn.com/assets/img/logos/groups/okta-medium.png", "type": "image/png"}},
				"users": href{Href: base + "/api/v1/groups/" + id + "/users"},
				"apps":  href{Href: base + "/api/v1/groups/" + id + "/apps"},
			},
		}
	}
	gs := []map[string]any{
		group("Everyone", "BUILT_IN", "All users in your organization"),
		group(u.Department, "OKTA_GROUP", u.Department+" department"),
	}
	if u.Department == "IT" || u.Department == "Security" {
		gs = append(gs, group("Okta Administrators", "OKTA_GROUP", "Admins: protected from automated response"))
	}
	writeJSON(w, http.StatusOK, gs)
	return http.StatusOK
}

// handleLifecycle is POST /api/v1/users/{id}/lifecycle/{suspend|unsuspend}.
func (s *Server) handleLifecycle(w http.ResponseWriter, r *http.Request, t *token) int {
	op := r.PathValue("op")
	if op != "suspend" && op != "unsuspend" {
		writeOktaError(w, http.StatusNotFound, codeNotFound, "Not found: Resource not found: "+op+" (Path)")
		return http.StatusNotFound
	}
	if !requireScope(w, r, t, "okta.users.manage") {
		return http.StatusForbidden
	}
	i, ok := s.findUser(r.PathValue("id"))
	if !ok {
		return userNotFound(w, r.PathValue("id"))
	}
	from, to, msg := StatusActive, StatusSuspended, "Cannot suspend a user that is not active"
	if op == "unsuspend" {
		from, to, msg = StatusSuspended, StatusActive, "Cannot unsuspend a user that is not suspended"
	}
	s.mu.Lock()
	if s.status[i] != from {
		s.mu.Unlock()
		writeOktaError(w, http.StatusBadRequest, codeValidation, msg)
		return http.StatusBadRequest
	}
	s.status[i] = to
	s.changed[i] = s.SimNow()
	s.mu.Unlock()
	u := s.model.Users()[i]
	display := map[string]string{"suspend": "Suspend Okta user", "unsuspend": "Unsuspend Okta user"}[op]
	s.appendOwn(s.adminEvent(r, t, "user.lifecycle."+op, display, &u))
	writeJSON(w, http.StatusOK, map[string]any{})
	return http.StatusOK
}

// handleClearSessions is DELETE /api/v1/users/{id}/sessions[?oauthTokens=true].
func (s *Server) handleClearSessions(w http.ResponseWriter, r *http.Request, t *token) int {
	if !requireScope(w, r, t, "okta.users.manage") {
		return http.StatusForbidden
	}
	i, ok := s.findUser(r.PathValue("id"))
	if !ok {
		return userNotFound(w, r.PathValue("id"))
	}
	if v := r.URL.Query().Get("oauthTokens"); v != "" && v != "true" && v != "false" {
		writeOktaError(w, http.StatusBadRequest, codeValidation, "Api validation failed: oauthTokens", "oauthTokens: must be true or false")
		return http.StatusBadRequest
	}
	u := s.model.Users()[i]
	s.appendOwn(s.adminEvent(r, t, "user.session.clear", "Clear user session", &u))
	if r.URL.Query().Get("oauthTokens") == "true" {
		s.appendOwn(s.adminEvent(r, t, "user.authentication.revoke_tokens", "Revoke all user OAuth tokens", &u))
	}
	w.WriteHeader(http.StatusNoContent)
	return http.StatusNoContent
}

func (s *Server) adminEvent(r *http.Request, t *token, eventType, display string, u *traffic.User) ownEvent {
	ip := r.RemoteAddr
	if i := strings.LastIndexByte(ip, ':'); i > 0 {
		ip = strings.Trim(ip[:i], "[]")
	}
	return ownEvent{
		eventType: eventType, display: display,
		actorID: t.ClientID, alternateID: t.ClientID, actorName: "Clarion", actorType: "PublicClientApp",
		outcome: "SUCCESS", ip: ip, target: u,
	}
}
