package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/clarion-itdr/clarion/internal/audit"
	"github.com/clarion-itdr/clarion/internal/secrets"
)

// Route is one /api route and the least role it needs.
type Route struct {
	Pattern string `json:"pattern"`
	Role    Role   `json:"-"`
}

// Route patterns other packages register with Handle whose role is not
// the method default.
const (
	patternApprove  = "POST /api/actions/{id}/approve"
	patternReject   = "POST /api/actions/{id}/reject"
	patternFeedback = "POST /api/alerts/{id}/feedback"
)

// RoleFor is the role Handle gives pattern: approver for approving and
// rejecting actions, analyst for verdicts and feedback, viewer for other
// reads, admin for any other change (integrations, policy, tokens), so a
// route nobody classified fails closed.
func RoleFor(pattern string) Role {
	switch pattern {
	case patternApprove, patternReject:
		return RoleApprover
	case patternFeedback:
		return RoleAnalyst
	}
	method, _, _ := strings.Cut(pattern, " ")
	if method == http.MethodGet || method == http.MethodHead {
		return RoleViewer
	}
	return RoleAdmin
}

// Routes lists every route registered so far with its role, sorted by
// pattern (the role × route matrix test walks it).
func (a *API) Routes() []Route {
	a.routesMu.Lock()
	defer a.routesMu.Unlock()
	out := append([]Route(nil), a.routes...)
	sort.Slice(out, func(i, j int) bool { return out[i].Pattern < out[j].Pattern })
	return out
}

// HandleRole adds a route under /api/ that needs role.
func (a *API) HandleRole(pattern string, role Role, h http.Handler) {
	if role <= RoleNone {
		panic("api: route " + pattern + " without a role")
	}
	a.routesMu.Lock()
	a.routes = append(a.routes, Route{Pattern: pattern, Role: role})
	a.routesMu.Unlock()
	a.mux.Handle(pattern, a.require(role, a.audited(pattern, h)))
}

// require answers 403 unless the request's principal holds role.
func (a *API) require(role Role, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := PrincipalFrom(r.Context())
		if !ok || !p.Role.Allows(role) {
			held := RoleNone
			if ok {
				held = p.Role
			}
			WriteError(w, http.StatusForbidden, "forbidden", "this needs the "+role.String()+" role; you have "+held.String())
			return
		}
		h.ServeHTTP(w, r)
	})
}

// audited records approvals and rejections that the handler accepted (2xx).
func (a *API) audited(pattern string, h http.Handler) http.Handler {
	var action string
	switch pattern {
	case patternApprove:
		action = audit.ActionApprove
	case patternReject:
		action = audit.ActionReject
	default:
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Keep a copy of the (bounded) body for the reason; the handler
		// reads the same bytes.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				WriteError(w, http.StatusRequestEntityTooLarge, "too_large", "the body is too large")
				return
			}
			WriteError(w, http.StatusBadRequest, "bad_body", "the body could not be read")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := &codeRecorder{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(rec, r)
		if rec.code/100 != 2 {
			return
		}
		id := r.PathValue("id")
		a.Audit(r, action, func(e *audit.Event) {
			e.Target, e.TargetID = "action", id
			e.Details = map[string]string{}
			var b struct {
				Reason string `json:"reason"`
			}
			if json.Unmarshal(body, &b) == nil && strings.TrimSpace(b.Reason) != "" {
				e.Details["reason"] = truncate(strings.TrimSpace(b.Reason), 1000)
			}
			if look := a.actions.Load(); look != nil {
				if info, ok := (*look)(id); ok {
					e.AlertID, e.IntegrationID = info.AlertID, info.IntegrationID
					e.Details["kind"], e.Details["user_id"], e.Details["user_login"] = info.Kind, info.UserID, info.UserLogin
				}
			}
		})
	})
}

// ActionInfo is what an audit record of an approval names about the action.
type ActionInfo struct {
	AlertID, IntegrationID, Kind, UserID, UserLogin string
}

// ActionLookup finds a response action by id (the console's read model).
type ActionLookup func(id string) (ActionInfo, bool)

// UseActions lets approval and rejection records name the action's alert,
// kind and user. Call it before the server starts.
func (a *API) UseActions(look ActionLookup) {
	if look == nil {
		a.actions.Store(nil)
		return
	}
	a.actions.Store(&look)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

type codeRecorder struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (c *codeRecorder) WriteHeader(code int) {
	if !c.wrote {
		c.code, c.wrote = code, true
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *codeRecorder) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (c *codeRecorder) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// ActorOf is p as an audit record names it.
func ActorOf(p Principal) audit.Actor {
	return audit.Actor{ID: p.ID, Name: p.Name, Email: p.Email, Role: p.Role.String(), Via: p.Via}
}

// Audit records action by r's principal, from r's client, after edit has
// filled in what changed. A failed write is logged: the action itself has
// already happened.
func (a *API) Audit(r *http.Request, action string, edit func(*audit.Event)) {
	p, _ := PrincipalFrom(r.Context())
	if p.ID == "" {
		p = Principal{ID: "anonymous", Name: "anonymous", Via: "none"}
	}
	e := audit.New(action, ActorOf(p), a.cfg.Now())
	e.Remote = ClientKey(r, a.cfg.TrustedProxies)
	if edit != nil {
		edit(e)
	}
	if a.cfg.Audit == nil {
		return
	}
	if err := a.cfg.Audit.Write(context.WithoutCancel(r.Context()), e); err != nil {
		a.cfg.Logger.Error("audit record not written", "action", action, "actor", p.ID, "err", err)
	}
}

// Client names r's client for throttling and audit (see ClientKey).
func (a *API) Client(r *http.Request) string { return ClientKey(r, a.cfg.TrustedProxies) }

// Throttle is the per-client throttle of failed sign-ins and bearer
// tokens; the console's login shares it.
func (a *API) Throttle() *Throttle { return a.throttle }

// Access is the token store (nil without one).
func (a *API) Access() *Access { return a.cfg.Access }

// authenticate returns r's principal: the admin token, an API token, or
// (without an Authorization header) the session. It answers 401, 403 or
// 429 itself and returns false when r may not pass.
func (a *API) authenticate(w http.ResponseWriter, r *http.Request) (Principal, bool) {
	client := a.Client(r)
	if wait := a.throttle.Wait(client); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		WriteError(w, http.StatusTooManyRequests, "too_many_attempts", "too many failed attempts from your address; wait and try again")
		return Principal{}, false
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		if auth := a.session.Load(); auth != nil {
			p, err := (*auth)(r)
			if err == nil {
				return p, true
			}
			if errors.Is(err, ErrCSRF) {
				WriteError(w, http.StatusForbidden, "csrf", "send the session's CSRF token in the X-CSRF-Token header, from the console's own origin")
				return Principal{}, false
			}
		}
	}
	if tok, ok := bearer(h); ok {
		if secrets.EqualTokens(tok, a.cfg.Token) {
			a.throttle.Succeed(client)
			return AdminTokenPrincipal(), true
		}
		if a.cfg.Access != nil {
			if p, ok := a.cfg.Access.Authenticate(tok); ok {
				a.throttle.Succeed(client)
				return p, true
			}
		}
		a.throttle.Fail(client)
		a.cfg.Logger.Warn("api: wrong bearer token", "client", client)
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="clarion"`)
	WriteError(w, http.StatusUnauthorized, "unauthorized", "send a token as Authorization: Bearer <token>, or sign in to the console")
	return Principal{}, false
}
