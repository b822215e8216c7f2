package okta

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// User statuses Okta reports (the lifecycle states of the Users API).
const (
	UserStaged          = "STAGED"
	UserProvisioned     = "PROVISIONED"
	UserActive          = "ACTIVE"
	UserRecovery        = "RECOVERY"
	UserPasswordExpired = "PASSWORD_EXPIRED"
	UserLockedOut       = "LOCKED_OUT"
	UserSuspended       = "SUSPENDED"
	UserDeprovisioned   = "DEPROVISIONED"
)

// Actions a Client performs on users.
const (
	ActionGetUser       = "get_user"
	ActionSuspend       = "suspend"
	ActionUnsuspend     = "unsuspend"
	ActionClearSessions = "clear_sessions"
)

// User is the part of an Okta user Clarion uses.
type User struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Login   string `json:"login"`
	Email   string `json:"email,omitempty"`
	Created string `json:"created,omitempty"`
}

// Call records one request made for an action and Okta's answer.
type Call struct {
	Method     string    `json:"method"`
	Path       string    `json:"path"`
	StatusCode int       `json:"status_code"`             // 0: no answer
	ErrorCode  string    `json:"error_code,omitempty"`    // Okta errorCode
	Summary    string    `json:"error_summary,omitempty"` // Okta errorSummary
	ErrorID    string    `json:"error_id,omitempty"`
	Attempts   int       `json:"attempts,omitempty"`
	At         time.Time `json:"at"`
}

// ActionRecord is what an action did: every call with Okta's answer and
// the user's status before and after. It is JSON-ready for the actions
// topic and the console.
type ActionRecord struct {
	Action       string `json:"action"`
	UserID       string `json:"user_id"`
	Tenant       string `json:"tenant"`
	StatusBefore string `json:"status_before,omitempty"`
	StatusAfter  string `json:"status_after,omitempty"`
	// NoOp is true when the user was already in the wanted state, so
	// nothing was changed (a success).
	NoOp bool `json:"no_op"`
	OK   bool `json:"ok"`
	// Error and Fix describe a failure.
	Error    string    `json:"error,omitempty"`
	Fix      string    `json:"fix,omitempty"`
	Calls    []Call    `json:"calls"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
}

// ErrUserStatus means the user's status does not allow the action (for
// example suspending a user who is not ACTIVE). Not retriable.
var ErrUserStatus = errors.New("okta: the user's status does not allow this action")

func (c *Client) userCall(ctx context.Context, rec *ActionRecord, op, method, path string, notFoundOK bool) (*response, error) {
	u := c.resolve(path)
	call := Call{Method: method, Path: u.Path, At: c.now().UTC()}
	if u.RawQuery != "" {
		call.Path += "?" + u.RawQuery
	}
	resp, err := c.do(ctx, request{op: op, method: method, u: u, scope: ScopeUsersManage, notFoundOK: notFoundOK})
	if resp != nil {
		call.StatusCode, call.Attempts = resp.status, resp.attempts
	}
	var oe *Error
	if errors.As(err, &oe) {
		call.StatusCode, call.ErrorCode, call.Summary, call.ErrorID = oe.StatusCode, oe.Code, oe.Summary, oe.ErrorID
	}
	if rec != nil {
		rec.Calls = append(rec.Calls, call)
	}
	return resp, err
}

func userPath(id string) string { return "/api/v1/users/" + url.PathEscape(id) }

// GetUser reads a user by id (or login).
func (c *Client) GetUser(ctx context.Context, id string) (*User, error) {
	return c.getUser(ctx, nil, id)
}

func (c *Client) getUser(ctx context.Context, rec *ActionRecord, id string) (*User, error) {
	resp, err := c.userCall(ctx, rec, "get user", http.MethodGet, userPath(id), false)
	if err != nil {
		return nil, err
	}
	var raw struct {
		ID      string `json:"id"`
		Status  string `json:"status"`
		Created string `json:"created"`
		Profile struct {
			Login string `json:"login"`
			Email string `json:"email"`
		} `json:"profile"`
	}
	if err := decodeJSON("get user", resp, &raw); err != nil {
		return nil, err
	}
	return &User{ID: raw.ID, Status: raw.Status, Login: raw.Profile.Login, Email: raw.Profile.Email, Created: raw.Created}, nil
}

// ListUsersProbe reads one user (GET /api/v1/users?limit=1): a read-only
// check that the token may use the Users API.
func (c *Client) ListUsersProbe(ctx context.Context) error {
	_, err := c.userCall(ctx, nil, "list users", http.MethodGet, "/api/v1/users?limit=1", false)
	return err
}

// LookupUser returns a record of reading the user.
func (c *Client) LookupUser(ctx context.Context, id string) (*ActionRecord, *User, error) {
	rec := c.newRecord(ActionGetUser, id)
	u, err := c.getUser(ctx, rec, id)
	if u != nil {
		rec.StatusBefore, rec.StatusAfter = u.Status, u.Status
	}
	rec.NoOp = true
	return c.finish(rec, err), u, err
}

// SuspendUser suspends an ACTIVE user. A user already SUSPENDED is a
// successful no-op; any other status fails with ErrUserStatus (Okta
// suspends only ACTIVE users). The status is read first, never guessed
// from error text.
func (c *Client) SuspendUser(ctx context.Context, id string) (*ActionRecord, error) {
	return c.lifecycle(ctx, ActionSuspend, id, "suspend", UserActive, UserSuspended)
}

// UnsuspendUser returns a SUSPENDED user to ACTIVE. A user who is not
// SUSPENDED is a successful no-op.
func (c *Client) UnsuspendUser(ctx context.Context, id string) (*ActionRecord, error) {
	return c.lifecycle(ctx, ActionUnsuspend, id, "unsuspend", UserSuspended, "")
}

func (c *Client) lifecycle(ctx context.Context, action, id, verb, from, done string) (*ActionRecord, error) {
	rec := c.newRecord(action, id)
	u, err := c.getUser(ctx, rec, id)
	if err != nil {
		return c.finish(rec, err), err
	}
	rec.StatusBefore = u.Status
	switch {
	case u.Status == from:
	case done != "" && u.Status == done, done == "":
		// Already in the wanted state (suspend), or not in the state the
		// operation undoes (unsuspend): nothing to do.
		rec.NoOp, rec.StatusAfter = true, u.Status
		return c.finish(rec, nil), nil
	default:
		err := &statusError{action: action, status: u.Status}
		return c.finish(rec, err), err
	}
	_, err = c.userCall(ctx, rec, verb+" user", http.MethodPost, userPath(u.ID)+"/lifecycle/"+verb, false)
	// Read the status after, also after a failure: a retried POST whose
	// first attempt succeeded fails, yet the user is where we wanted.
	after, aerr := c.getUser(ctx, rec, u.ID)
	if aerr == nil {
		rec.StatusAfter = after.Status
		if err != nil && ((done != "" && after.Status == done) || (done == "" && after.Status != from)) {
			err = nil
		}
	}
	return c.finish(rec, err), err
}

// ClearSessions ends all of the user's Okta sessions and revokes the
// OAuth tokens issued to them (DELETE /api/v1/users/{id}/sessions?oauthTokens=true).
// It is idempotent by nature: Okta answers 204 whether or not sessions exist.
func (c *Client) ClearSessions(ctx context.Context, id string) (*ActionRecord, error) {
	rec := c.newRecord(ActionClearSessions, id)
	u, err := c.getUser(ctx, rec, id)
	if err != nil {
		return c.finish(rec, err), err
	}
	rec.StatusBefore = u.Status
	_, err = c.userCall(ctx, rec, "clear user sessions", http.MethodDelete, userPath(u.ID)+"/sessions?oauthTokens=true", false)
	rec.StatusAfter = u.Status // clearing sessions does not change the status
	return c.finish(rec, err), err
}

func (c *Client) newRecord(action, id string) *ActionRecord {
	return &ActionRecord{Action: action, UserID: id, Tenant: c.tenant, Started: c.now().UTC(), Calls: []Call{}}
}

func (c *Client) finish(rec *ActionRecord, err error) *ActionRecord {
	rec.Finished = c.now().UTC()
	rec.OK = err == nil
	if err != nil {
		rec.Error = err.Error()
		rec.Fix = FixOf(err)
		rec.NoOp = false
	}
	return rec
}

type statusError struct{ action, status string }

func (e *statusError) Error() string {
	return "okta: cannot " + e.action + " a user in status " + e.status
}

func (e *statusError) Is(target error) bool { return target == ErrUserStatus }
