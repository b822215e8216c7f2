package okta

import (
	"errors"
	"fmt"
	"strings"
)

// Kind classifies an Error by what must happen next: an admin fixes
// something in Okta, Clarion retries later, or a caller fixes its request.
type Kind string

// Kinds of Error. Match them with errors.Is(err, okta.ErrInvalidClient) and
// friends, or read Error.Kind after errors.As.
const (
	// KindInvalidClient: Okta did not accept the client assertion: the
	// public key is not added to the app, or the client id is wrong.
	KindInvalidClient Kind = "invalid_client"
	// KindUnauthorizedClient: the app may not use the client credentials
	// grant (it is not an API Services app).
	KindUnauthorizedClient Kind = "unauthorized_client"
	// KindScope: a scope Clarion needs is not granted to the app.
	KindScope Kind = "scope_not_granted"
	// KindDPoP: Okta rejected the DPoP proof.
	KindDPoP Kind = "invalid_dpop_proof"
	// KindAdminRole: the token is fine but the app has no admin role
	// allowing the call.
	KindAdminRole Kind = "admin_role_missing"
	// KindInvalidToken: Okta refused an access token even after a refresh.
	KindInvalidToken Kind = "invalid_token"
	// KindRateLimited: Okta answered 429 and waiting was not possible
	// within the caller's limits.
	KindRateLimited Kind = "rate_limited"
	// KindServer: Okta answered 5xx on every attempt.
	KindServer Kind = "server_error"
	// KindTransport: the request did not get an HTTP answer (DNS, TCP, TLS,
	// timeout).
	KindTransport Kind = "transport"
	// KindNotFound: the resource (user) does not exist.
	KindNotFound Kind = "not_found"
	// KindBadRequest: Okta refused the request as invalid (a bug in
	// Clarion or a user in a status the operation does not allow).
	KindBadRequest Kind = "bad_request"
	// KindTenantURL: the tenant URL or a link was refused before any request.
	KindTenantURL Kind = "invalid_tenant_url"
	// KindResponse: Okta's answer could not be understood.
	KindResponse Kind = "bad_response"
)

// Sentinels for errors.Is: every *Error matches the sentinel of its Kind.
var (
	ErrInvalidClient      = &Error{Kind: KindInvalidClient}
	ErrUnauthorizedClient = &Error{Kind: KindUnauthorizedClient}
	ErrScope              = &Error{Kind: KindScope}
	ErrDPoP               = &Error{Kind: KindDPoP}
	ErrAdminRole          = &Error{Kind: KindAdminRole}
	ErrInvalidToken       = &Error{Kind: KindInvalidToken}
	ErrRateLimited        = &Error{Kind: KindRateLimited}
	ErrServer             = &Error{Kind: KindServer}
	ErrTransport          = &Error{Kind: KindTransport}
	ErrNotFound           = &Error{Kind: KindNotFound}
	ErrBadRequest         = &Error{Kind: KindBadRequest}
	ErrResponse           = &Error{Kind: KindResponse}
)

// Error is what every Client method returns when Okta (or the way to it)
// fails. Fix, when set, tells the Okta admin what to change; it is safe to
// show in the console (it never contains a secret).
type Error struct {
	Kind Kind
	// Op names the operation ("token", "list logs", "suspend user").
	Op string
	// Method and Path of the request (no query: it may hold filters).
	Method, Path string
	// StatusCode is the HTTP status, 0 when there was no answer.
	StatusCode int
	// Code is Okta's code: the OAuth "error" on the token endpoint
	// (invalid_client, ...) or the API's errorCode (E0000047, ...).
	Code string
	// Summary is Okta's error_description or errorSummary.
	Summary string
	// ErrorID is Okta's errorId, to quote to Okta support.
	ErrorID string
	// Fix says what the Okta admin must change, when that is the remedy.
	Fix string
	// Retriable reports whether the same call may succeed later unchanged.
	Retriable bool
	// Err is the underlying error (transport failures), if any.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("okta")
	if e.Op != "" {
		b.WriteString(": ")
		b.WriteString(e.Op)
	}
	if e.Method != "" {
		fmt.Fprintf(&b, " (%s %s", e.Method, e.Path)
		if e.StatusCode != 0 {
			fmt.Fprintf(&b, " → %d", e.StatusCode)
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, ": %s", e.Kind)
	if e.Code != "" && e.Code != string(e.Kind) {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Summary != "" {
		fmt.Fprintf(&b, ": %s", e.Summary)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	out := strings.TrimRight(b.String(), ". ")
	if e.Fix != "" {
		out += ". Fix: " + e.Fix
	}
	return out
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, okta.ErrScope) true for every *Error of that Kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind && t.Op == "" && t.StatusCode == 0 && t.Code == ""
}

// IsRetriable reports whether err may go away by retrying the same call
// later. Errors that need an admin's fix are not retriable. A context
// cancellation is not retriable.
func IsRetriable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Retriable
	}
	return false
}

// FixOf returns the admin fix carried by err, or "".
func FixOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Fix
	}
	return ""
}

// Fix texts. They name the setup guide's steps so the admin finds the screen.
const (
	fixInvalidClientFmt = "In the Okta Admin Console open Applications > Applications > your Clarion API Services app. " +
		"Check that the Client ID on the General tab is %q (setup guide Part 1, Step 2), and that Client authentication is " +
		"\"Public key / Private key\" with the public key from Clarion's wizard (kid %q) added, saving both the Public Keys " +
		"and the Client Credentials panels (Part 1, Step 3)."
	fixUnauthorizedClient = "The app must be an API Services app that allows the Client Credentials grant: create it with " +
		"Applications > Create App Integration > API Services (setup guide Part 1, Step 1)."
	fixScopeFmt = "On the app's Okta API Scopes tab, grant %s (setup guide Part 1, Step 4)."
	fixDPoP     = "Okta rejected the DPoP proof. Check that this machine's clock is correct (NTP): proofs carry the " +
		"time they were made. If it is, the app's setting \"Require Demonstrating Proof of Possession (DPoP) header in " +
		"token requests\" can stay on; Clarion supports it. Report the error to Clarion's maintainers with its errorId."
	fixAdminRole = "The app has no admin role allowing this call. On the app's Admin Roles tab click Edit assignments, " +
		"select Super Administrator and save (setup guide Part 1, Step 5)."
	fixTenantURL = "Use your org's address only, like https://example.okta.com (https, a host name, no path)."
)

func fixInvalidClient(clientID, keyID string) string {
	return fmt.Sprintf(fixInvalidClientFmt, clientID, keyID)
}

func fixScope(scopes string) string {
	parts := strings.Fields(scopes)
	switch len(parts) {
	case 0:
		return fmt.Sprintf(fixScopeFmt, "okta.logs.read and okta.users.manage")
	case 1:
		return fmt.Sprintf(fixScopeFmt, parts[0])
	}
	return fmt.Sprintf(fixScopeFmt, strings.Join(parts[:len(parts)-1], ", ")+" and "+parts[len(parts)-1])
}
