package okta

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tidwall/gjson"
)

// Names of the checks Verify runs, in order.
const (
	CheckToken       = "token"
	CheckLogsRead    = "logs_read"
	CheckUsersManage = "users_manage"
	CheckEventHook   = "event_hook"
)

// Check statuses.
const (
	StatusOK      = "ok"
	StatusFailed  = "failed"
	StatusSkipped = "skipped" // not run because a check it needs failed
	StatusPending = "pending" // nothing wrong yet, but not proven either
)

// HookStatus is what Clarion's gateway has seen of the org's event hook.
// It has the same fields as integration.HookStatus, so a value of that type
// converts directly: okta.HookStatus(store.Hook(id)).
type HookStatus struct {
	VerifiedAt      *time.Time `json:"verified_at,omitempty"`
	LastDeliveryAt  *time.Time `json:"last_delivery_at,omitempty"`
	EventsPerMinute float64    `json:"events_per_minute"`
}

// Check is the outcome of one verification step.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	// Fix tells the admin what to change in Okta when the check failed.
	Fix string `json:"fix,omitempty"`
	// Code is Okta's error code when Okta refused (invalid_client, E0000006, ...).
	Code string `json:"code,omitempty"`
}

// Result is Verify's answer, the body of POST /api/integrations/{id}/verify.
// OK is true when every check passed (a pending event hook counts as passed).
type Result struct {
	OK     bool    `json:"ok"`
	Checks []Check `json:"checks"`
}

// VerifyCheckTimeout bounds each check of Verify, so a rate-limited org
// answers the wizard within a minute rather than waiting for a reset.
const VerifyCheckTimeout = 20 * time.Second

// Verify checks that the integration works, changing nothing in Okta: it
// gets a token (client id, key and DPoP), reads one System Log event
// (okta.logs.read), reads one user (okta.users.manage and an admin role),
// and reports what the gateway has seen of the event hook. Each failed
// check carries the fix for the admin.
func Verify(ctx context.Context, c *Client, hook HookStatus) Result {
	var res Result
	add := func(ch Check) { res.Checks = append(res.Checks, ch) }

	// 1. Token. A scope refusal proves the client authentication worked:
	// Okta checks the assertion (and proof) before the scopes.
	tctx, cancel := context.WithTimeout(ctx, VerifyCheckTimeout)
	info, terr := c.Token(tctx, ScopeLogsRead)
	cancel()
	tokenOK := terr == nil || errors.Is(terr, ErrScope)
	switch {
	case terr == nil:
		add(Check{Name: CheckToken, OK: true, Status: StatusOK,
			Detail: fmt.Sprintf("Okta accepted the client assertion and issued a %s token (expires %s)", info.Type, info.ExpiresAt.UTC().Format(time.RFC3339))})
	case tokenOK:
		add(Check{Name: CheckToken, OK: true, Status: StatusOK,
			Detail: "Okta accepted the client id and key (it refused a scope; see below)"})
	default:
		add(failed(CheckToken, "Okta did not issue a token", terr))
	}

	// 2. Logs.
	if !tokenOK {
		add(skipped(CheckLogsRead))
	} else {
		lctx, cancel := context.WithTimeout(ctx, VerifyCheckTimeout)
		page, err := c.LogsPage(lctx, c.LogsURL(LogQuery{Limit: 1}))
		cancel()
		if err != nil {
			add(failed(CheckLogsRead, "reading the System Log failed", err))
		} else {
			n := 0
			if arr := gjson.ParseBytes(page.Body); arr.IsArray() {
				n = len(arr.Array())
			}
			add(Check{Name: CheckLogsRead, OK: true, Status: StatusOK,
				Detail: fmt.Sprintf("read the System Log (%d event(s) on a one-event page)", n)})
		}
	}

	// 3. Users: a read-only call with the okta.users.manage token.
	if !tokenOK {
		add(skipped(CheckUsersManage))
	} else {
		uctx, cancel := context.WithTimeout(ctx, VerifyCheckTimeout)
		err := c.ListUsersProbe(uctx)
		cancel()
		if err != nil {
			add(failed(CheckUsersManage, "reading users failed", err))
		} else {
			add(Check{Name: CheckUsersManage, OK: true, Status: StatusOK,
				Detail: "read users with scope okta.users.manage; suspending and clearing sessions will be allowed"})
		}
	}

	// 4. Event hook, as the gateway saw it.
	add(hookCheck(hook, c.now()))

	res.OK = true
	for _, ch := range res.Checks {
		if !ch.OK {
			res.OK = false
		}
	}
	return res
}

func hookCheck(h HookStatus, now time.Time) Check {
	ch := Check{Name: CheckEventHook}
	switch {
	case h.VerifiedAt == nil && h.LastDeliveryAt == nil:
		ch.Status = StatusFailed
		ch.Detail = "Okta has not verified the event hook yet"
		ch.Fix = "In Okta go to Workflow > Event Hooks, create the hook with the URL, authentication field and secret " +
			"from Clarion's wizard, subscribe it to \"User sign in attempt\" (user.session.start), then click Verify " +
			"(setup guide Part 2). Clarion must be reachable from the internet at the hook URL."
	case h.LastDeliveryAt == nil:
		ch.OK, ch.Status = true, StatusPending
		ch.Detail = fmt.Sprintf("verified %s; no delivery yet: Okta delivers when someone signs in to Okta", ago(*h.VerifiedAt, now))
	default:
		ch.OK, ch.Status = true, StatusOK
		ch.Detail = fmt.Sprintf("last delivery %s, %.1f events/min", ago(*h.LastDeliveryAt, now), h.EventsPerMinute)
		if h.VerifiedAt != nil {
			ch.Detail = fmt.Sprintf("verified %s; ", ago(*h.VerifiedAt, now)) + ch.Detail
		}
	}
	return ch
}

func ago(t, now time.Time) string {
	d := now.Sub(t)
	if d < time.Second {
		return "just now"
	}
	return d.Round(time.Second).String() + " ago (" + t.UTC().Format(time.RFC3339) + ")"
}

func failed(name, what string, err error) Check {
	ch := Check{Name: name, Status: StatusFailed, Detail: what + ": " + err.Error()}
	var e *Error
	if errors.As(err, &e) {
		ch.Fix, ch.Code = e.Fix, e.Code
		ch.Detail = what + ": " + describe(e)
		if e.Fix == "" && e.Retriable {
			ch.Fix = "Okta did not answer properly; try again in a minute."
		}
	} else if errors.Is(err, context.DeadlineExceeded) {
		ch.Detail = what + ": Okta did not answer in time"
		ch.Fix = "Try again in a minute; if it persists, check that Clarion can reach the org's URL."
	}
	return ch
}

// describe is Error.Error without the fix (the check has its own field).
func describe(e *Error) string {
	c := *e
	c.Fix = ""
	return c.Error()
}

func skipped(name string) Check {
	return Check{Name: name, Status: StatusSkipped, Detail: "not checked: Clarion needs a token first (see the token check)"}
}
