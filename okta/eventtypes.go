package okta

// HookEventType is an event type Clarion reads, with the name Okta's Admin
// Console shows for it in an event hook's subscription list (Workflow >
// Event Hooks > Subscribe to events; the list also finds a type by its id).
type HookEventType struct {
	Type string // the System Log eventType
	Name string // as listed in the Admin Console
	// Required: the event hook must be subscribed to it (the sign-ins the
	// detectors judge). The others are optional: the System Log poller
	// reads every type here with okta.logs.read whether the hook sends it
	// or not, so subscribing only makes them arrive sooner.
	Required bool
}

// SignInEventTypes returns the event types of sign-in security, the
// required one first: what the wizard and `clarion integration create`
// list, and what the poller reads.
func SignInEventTypes() []HookEventType {
	return []HookEventType{
		{Type: "user.session.start", Name: "User sign in attempt", Required: true},
		{Type: "user.authentication.auth_via_mfa", Name: "Authentication of user via MFA"},
		{Type: "system.push.send_factor_verify_push", Name: "Push sent to user for verification"},
		{Type: "user.mfa.okta_verify.deny_push", Name: "User rejected Okta push verify"},
		{Type: "user.account.lock", Name: "User account locked"},
		{Type: "user.authentication.sso", Name: "User single sign on to app"},
		{Type: "policy.evaluate_sign_on", Name: "Evaluation of sign-on policy"},
		{Type: "user.session.end", Name: "User logout from Okta"},
		{Type: "user.mfa.factor.activate", Name: "Activate factor for user"},
		{Type: "user.mfa.factor.deactivate", Name: "Deactivate factor for user"},
		{Type: "user.mfa.factor.reset_all", Name: "Reset all factors for user"},
		{Type: "security.threat.detected", Name: "Threat detected"},
		{Type: "user.risk.detect", Name: "User risk detected"},
	}
}
