package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/clarion-itdr/clarion/internal/audit"
)

// me is GET /api/me: the request's principal (the console shows the name
// and hides what the role may not do).
func (a *API) me(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	WriteJSON(w, http.StatusOK, p)
}

func (a *API) noTokens(w http.ResponseWriter) bool {
	if a.cfg.Access == nil {
		WriteError(w, http.StatusNotImplemented, "not_implemented", "API tokens are not available in this component")
		return true
	}
	return false
}

// listTokens is GET /api/tokens: an admin sees every token, others their own.
func (a *API) listTokens(w http.ResponseWriter, r *http.Request) {
	if a.noTokens(w) {
		return
	}
	p, _ := PrincipalFrom(r.Context())
	WriteJSON(w, http.StatusOK, map[string]any{"tokens": a.cfg.Access.Tokens(p)})
}

type issued struct {
	Token
	// Secret is shown this once; Clarion keeps only its hash.
	Secret string `json:"secret"`
}

// issueToken is POST /api/tokens {"name", "kind", "role", "ttl_seconds"}.
func (a *API) issueToken(w http.ResponseWriter, r *http.Request) {
	if a.noTokens(w) {
		return
	}
	var req TokenRequest
	if !DecodeJSON(w, r, &req) {
		return
	}
	p, _ := PrincipalFrom(r.Context())
	t, secret, err := a.cfg.Access.Issue(r.Context(), req, p)
	if !a.tokenError(w, err) {
		return
	}
	a.Audit(r, audit.ActionTokenIssue, func(e *audit.Event) {
		e.Target, e.TargetID = "token", t.ID
		e.Details = map[string]string{"name": t.Name, "kind": t.Kind, "role": t.Role, "expires_at": t.ExpiresAt.Format(time.RFC3339)}
	})
	WriteJSON(w, http.StatusCreated, issued{Token: t, Secret: secret})
}

// revokeToken is DELETE /api/tokens/{id}.
func (a *API) revokeToken(w http.ResponseWriter, r *http.Request) {
	if a.noTokens(w) {
		return
	}
	p, _ := PrincipalFrom(r.Context())
	t, err := a.cfg.Access.Revoke(r.Context(), r.PathValue("id"), p)
	if !a.tokenError(w, err) {
		return
	}
	a.Audit(r, audit.ActionTokenRevoke, func(e *audit.Event) {
		e.Target, e.TargetID = "token", t.ID
		e.Details = map[string]string{"name": t.Name, "kind": t.Kind, "role": t.Role}
	})
	WriteJSON(w, http.StatusOK, t)
}

// tokenError answers err and reports whether there was none.
func (a *API) tokenError(w http.ResponseWriter, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, ErrForbidden):
		WriteError(w, http.StatusForbidden, "forbidden", strings.TrimPrefix(err.Error(), "api: not allowed: "))
	case errors.Is(err, ErrInvalidToken):
		WriteError(w, http.StatusBadRequest, "invalid", strings.TrimPrefix(err.Error(), "api: invalid token request: "))
	default:
		a.cfg.Logger.Error("token store", "err", err)
		WriteError(w, http.StatusServiceUnavailable, "unavailable", "the token store could not be written; try again")
	}
	return false
}
