// Package record defines the JSON records Clarion's components exchange
// after detection, and who writes each one:
//
//   - Update (on clarion.okta.events, header source=clarion): a change to an
//     alert — triage started, a triage verdict, analyst feedback, an action
//     waiting for approval. Written by triage, the responder and the API;
//     applied by the processor, which is the only writer of clarion.alerts.
//     Routing updates through the processor's own input keeps one writer
//     per alert, orders them with the user's sign-ins, and lets feedback
//     teach the baseline inside the processor's exactly-once transaction.
//   - TriageRun (on clarion.triage): one run of the triage agent, with every
//     step and tool call. Written by triage.
//   - Request (on clarion.responder.requests): an action proposal, or an
//     approve/reject decision. Written by triage and the API; read only by
//     the responder.
//   - Action (on clarion.actions): every state of one response action.
//     Written only by the responder.
//
// Every record is keyed by bus.KeyFor(integration, user) so one user's
// records stay in order on every topic.
package record

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
)

// Alert statuses (DESIGN.md alert model).
const (
	StatusNew       = "New"
	StatusAnalyzing = "Analyzing"
	StatusEscalated = "Escalated"
	StatusClosed    = "Closed"
)

// Alert dispositions.
const (
	DispositionUnknown         = "Unknown"
	DispositionBenign          = "Benign"
	DispositionSuspicious      = "Suspicious"
	DispositionConfirmedThreat = "Confirmed Threat"
	DispositionFalsePositive   = "False Positive"
	DispositionDuplicated      = "Duplicated"
)

// Severities, lowest first.
const (
	SeverityLow      = "Low"
	SeverityMedium   = "Medium"
	SeverityHigh     = "High"
	SeverityCritical = "Critical"
)

// Values of an alert's action_required.
const (
	ActionRequiredNone          = "none"
	ActionRequiredApproval      = "approval"
	ActionRequiredClarification = "clarification"
)

// Analyst feedback kinds (POST /api/alerts/{id}/feedback), as Microsoft
// Entra ID Protection names them.
const (
	FeedbackConfirmCompromised = "confirm_compromised"
	FeedbackConfirmSafe        = "confirm_safe"
	FeedbackDismiss            = "dismiss"
)

// Action kinds.
const (
	KindSuspendUser   = "suspend_user"
	KindClearSessions = "clear_sessions"
)

// Dispositions lists every disposition.
func Dispositions() []string {
	return []string{DispositionUnknown, DispositionBenign, DispositionSuspicious,
		DispositionConfirmedThreat, DispositionFalsePositive, DispositionDuplicated}
}

// Severities lists every severity, lowest first.
func Severities() []string {
	return []string{SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}
}

// SeverityRank orders severities: Low 1 ... Critical 4; anything else 0.
func SeverityRank(s string) int {
	switch s {
	case SeverityLow:
		return 1
	case SeverityMedium:
		return 2
	case SeverityHigh:
		return 3
	case SeverityCritical:
		return 4
	}
	return 0
}

// ValidDisposition reports whether d is a known disposition.
func ValidDisposition(d string) bool {
	for _, x := range Dispositions() {
		if x == d {
			return true
		}
	}
	return false
}

// Closing reports whether disposition d closes an alert (Benign, False
// Positive, Duplicated); Suspicious and Confirmed Threat escalate it.
func Closing(d string) bool {
	return d == DispositionBenign || d == DispositionFalsePositive || d == DispositionDuplicated
}

// ActionID is an action's deterministic id: hash(alert id, kind)
// (DESIGN.md), so a replayed proposal names the same action.
func ActionID(alertID, kind string) string { return hashID("action", alertID, kind) }

// TriageRunID is a triage run's deterministic id: hash(alert id, the alert
// version triaged).
func TriageRunID(alertID string, version uint32) string {
	return hashID("triage", alertID, fmt.Sprint(version))
}

func hashID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// UserRef names an alert's user: ID is the user key (actor.id, or
// actor.alternateId for unknown actors), as in the alert's "user".
type UserRef struct {
	ID    string `json:"id"`
	Login string `json:"login,omitempty"`
}

// Update kinds.
const (
	// UpdateAnalyzing: triage has started on the alert (New → Analyzing).
	UpdateAnalyzing = "analyzing"
	// UpdateVerdict: triage finished; Verdict is set.
	UpdateVerdict = "verdict"
	// UpdateFeedback: an analyst's feedback; Feedback is set, and Learn
	// for confirm_safe.
	UpdateFeedback = "feedback"
	// UpdateActionRequired: the responder has (or no longer has) an
	// action waiting for approval; ActionRequired is set.
	UpdateActionRequired = "action_required"
)

// UpdateType is the "type" of every Update, so a reader of
// clarion.okta.events can tell one from an Okta LogEvent by its body too.
const UpdateType = "clarion.alert_update"

// Update is a change to an alert, sent to the processor (see the package
// comment). The processor applies it to the user's open alert and writes
// the new alert version. Updates for an alert that is no longer the user's
// open one are applied to Base, the newest version of the alert the sender
// knows; if Base is empty such an update only teaches the baseline.
type Update struct {
	Type          string    `json:"type"` // UpdateType
	Kind          string    `json:"kind"`
	AlertID       string    `json:"alert_id"`
	IntegrationID string    `json:"integration_id"`
	User          UserRef   `json:"user"`
	AlertVersion  uint32    `json:"alert_version,omitempty"` // the version the sender saw
	At            time.Time `json:"at"`
	By            string    `json:"by"` // "triage", "responder", "analyst"

	Verdict        *Verdict `json:"verdict,omitempty"`
	Feedback       string   `json:"feedback,omitempty"`
	ActionRequired string   `json:"action_required,omitempty"`
	// Learn lists the places and networks confirm_safe makes known for
	// the user (from the alert's anomalies' evidence).
	Learn []Place `json:"learn,omitempty"`
	// Base is the newest version of the alert the sender knows (the alert
	// JSON as written on clarion.alerts).
	Base json.RawMessage `json:"base,omitempty"`
}

// Place is a sign-in place and network confirmed safe.
type Place struct {
	Lat *float64 `json:"lat,omitempty"`
	Lon *float64 `json:"lon,omitempty"`
	ASN uint32   `json:"asn,omitempty"`
}

// Verdict is what triage concluded, as the processor carries it onto the
// alert.
type Verdict struct {
	RunID       string  `json:"run_id"`
	Disposition string  `json:"disposition"`
	Severity    string  `json:"severity"`
	Confidence  float64 `json:"confidence"`
	// By is "llm" or "deterministic".
	By string `json:"by"`
	// ActionRequired is what the alert waits for after the verdict:
	// ActionRequiredApproval when an action awaits a human,
	// ActionRequiredClarification when the policy gate held back the
	// agent's verdict for an analyst, else ActionRequiredNone.
	ActionRequired string `json:"action_required"`
	// Escalate forces status Escalated even for a closing disposition
	// (the policy gate overrode the agent).
	Escalate bool `json:"escalate,omitempty"`
}

// Validate checks an update's required fields.
func (u *Update) Validate() error {
	if u.Type != UpdateType {
		return fmt.Errorf("record: update type %q, want %q", u.Type, UpdateType)
	}
	if u.AlertID == "" || u.IntegrationID == "" || u.User.ID == "" {
		return errors.New("record: update without alert_id, integration_id or user.id")
	}
	switch u.Kind {
	case UpdateAnalyzing:
	case UpdateVerdict:
		if u.Verdict == nil || !ValidDisposition(u.Verdict.Disposition) || (u.Verdict.Severity != "" && SeverityRank(u.Verdict.Severity) == 0) {
			return errors.New("record: verdict update without a valid verdict")
		}
	case UpdateFeedback:
		switch u.Feedback {
		case FeedbackConfirmCompromised, FeedbackConfirmSafe, FeedbackDismiss:
		default:
			return fmt.Errorf("record: unknown feedback %q", u.Feedback)
		}
	case UpdateActionRequired:
		switch u.ActionRequired {
		case ActionRequiredNone, ActionRequiredApproval, ActionRequiredClarification:
		default:
			return fmt.Errorf("record: unknown action_required %q", u.ActionRequired)
		}
	default:
		return fmt.Errorf("record: unknown update kind %q", u.Kind)
	}
	return nil
}

// UpdateRecord returns the Kafka record carrying u to the processor: on
// clarion.okta.events, keyed by the alert's integration and user, with
// headers integration_id, source=clarion and received_at.
func UpdateRecord(u *Update) (*kgo.Record, error) {
	u.Type = UpdateType
	if u.At.IsZero() {
		u.At = time.Now().UTC()
	}
	if err := u.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(u)
	if err != nil {
		return nil, err
	}
	return &kgo.Record{
		Topic: bus.TopicEvents,
		Key:   bus.KeyFor(u.IntegrationID, u.User.ID),
		Value: b,
		Headers: []kgo.RecordHeader{
			{Key: bus.HeaderIntegrationID, Value: []byte(u.IntegrationID)},
			{Key: bus.HeaderSource, Value: []byte(bus.SourceClarion)},
			{Key: bus.HeaderReceivedAt, Value: []byte(bus.FormatTime(time.Now()))},
		},
	}, nil
}

// IsUpdate reports whether r (from clarion.okta.events) is an Update
// rather than an Okta event.
func IsUpdate(r *kgo.Record) bool { return bus.Header(r, bus.HeaderSource) == bus.SourceClarion }

// Request kinds (on clarion.responder.requests).
const (
	// RequestPropose asks for an action (from triage or an analyst).
	RequestPropose = "propose"
	// RequestApprove and RequestReject decide a pending action.
	RequestApprove = "approve"
	RequestReject  = "reject"
)

// Request is the responder's input.
type Request struct {
	// ID is unique per request (a replayed request has the same ID).
	ID       string    `json:"id"`
	Type     string    `json:"type"` // RequestPropose, RequestApprove, RequestReject
	ActionID string    `json:"action_id"`
	At       time.Time `json:"at"`
	// By: "triage", or the name of the person who asked (Principal.Name).
	By     string `json:"by"`
	Reason string `json:"reason,omitempty"`
	// Principal is the person (or token) that asked, for requests written
	// by the API. The responder honours an approve or reject only when it
	// is signed by the API (SignerAPI) and names a principal holding the
	// approver role.
	Principal *Identity `json:"principal,omitempty"`

	// Proposal fields (RequestPropose).
	Kind          string  `json:"kind,omitempty"`
	AlertID       string  `json:"alert_id,omitempty"`
	AlertVersion  uint32  `json:"alert_version,omitempty"`
	IntegrationID string  `json:"integration_id"`
	User          UserRef `json:"user"`
	Basis         *Basis  `json:"basis,omitempty"`
}

// Identity is who made a request through the API: the principal the API
// authenticated (internal/api.Principal), as recorded on Kafka.
type Identity struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
	Role  string `json:"role"`
	Via   string `json:"via"`
}

// Basis is what the policy gate decides an action's mode on. Only
// DetectionSeverity and Deterministic come from numbers Clarion computed;
// the agent's verdict can never make an action automatic (see the
// responder's package comment).
type Basis struct {
	// DetectionSeverity is the processor's severity, computed from anomaly
	// scores (never from event text).
	DetectionSeverity string `json:"detection_severity"`
	// Deterministic is the deterministic triage's disposition.
	Deterministic string `json:"deterministic_disposition"`
	// Verdict is the final disposition (the agent's, after the gate).
	Verdict string `json:"verdict_disposition"`
	// VerdictBy is "llm", "deterministic" or "analyst".
	VerdictBy string `json:"verdict_by"`
	// Analyst: an analyst asked (confirm_compromised): the action is
	// offered for approval, never run automatically.
	Analyst bool `json:"analyst,omitempty"`
}

// RequestRecord returns the Kafka record carrying q to the responder.
func RequestRecord(q *Request) (*kgo.Record, error) {
	if q.ID == "" || q.ActionID == "" || q.IntegrationID == "" || q.User.ID == "" {
		return nil, errors.New("record: request without id, action_id, integration_id or user.id")
	}
	switch q.Type {
	case RequestPropose:
		if q.Kind != KindSuspendUser && q.Kind != KindClearSessions {
			return nil, fmt.Errorf("record: unknown action kind %q", q.Kind)
		}
		if q.AlertID == "" || q.Basis == nil {
			return nil, errors.New("record: proposal without alert_id or basis")
		}
	case RequestApprove, RequestReject:
	default:
		return nil, fmt.Errorf("record: unknown request type %q", q.Type)
	}
	if q.At.IsZero() {
		q.At = time.Now().UTC()
	}
	b, err := json.Marshal(q)
	if err != nil {
		return nil, err
	}
	return &kgo.Record{Topic: bus.TopicResponderRequests, Key: bus.KeyFor(q.IntegrationID, q.User.ID), Value: b}, nil
}

// Action states on clarion.actions.
const (
	ActionPending   = "pending_approval" // waits for approve/reject until ExpiresAt
	ActionApproved  = "approved"         // approved, about to execute
	ActionExecuting = "executing"        // calls to Okta under way
	ActionSucceeded = "succeeded"        // Okta confirmed (or the user already was in the state)
	ActionFailed    = "failed"           // Okta refused or retries ran out; Result says why
	ActionRejected  = "rejected"         // an analyst rejected it
	ActionExpired   = "expired"          // no decision before ExpiresAt: aborted
	ActionBlocked   = "blocked"          // a guard stopped it (protected user, hourly cap, policy off)
	ActionDryRun    = "dry_run"          // the policy allowed it; dry-run mode did not call Okta
)

// Action modes the policy gives an action.
const (
	ModeAutomatic = "automatic"
	ModeApproval  = "approval"
	ModeOff       = "off"
)

// Action is one version of a response action on clarion.actions (written
// only by the responder). Its ID is ActionID(alert, kind); Version grows
// with every state so sinks keep the latest (ReplacingMergeTree(version)).
type Action struct {
	ID            string    `json:"id"`
	AlertID       string    `json:"alert_id"`
	AlertVersion  uint32    `json:"alert_version,omitempty"`
	IntegrationID string    `json:"integration_id"`
	User          UserRef   `json:"user"`
	Kind          string    `json:"kind"`
	State         string    `json:"state"`
	Mode          string    `json:"mode"`             // ModeAutomatic, ModeApproval or ModeOff
	Reason        string    `json:"reason,omitempty"` // why it was proposed
	Basis         *Basis    `json:"basis,omitempty"`
	RequestedBy   string    `json:"requested_by"`
	RequestedAt   time.Time `json:"requested_at"`
	ExpiresAt     time.Time `json:"expires_at,omitzero"` // pending approvals only
	DecidedBy     string    `json:"decided_by,omitempty"`
	// Decider is who approved or rejected the action (from the API's
	// signed request); nil for the policy and for expiry.
	Decider    *Identity `json:"decider,omitempty"`
	DecidedAt  time.Time `json:"decided_at,omitzero"`
	ExecutedAt time.Time `json:"executed_at,omitzero"`
	// Guard names what blocked the action (ActionBlocked), e.g.
	// "protected_user", "protected_group", "hourly_cap", "policy_off".
	Guard  string `json:"guard,omitempty"`
	DryRun bool   `json:"dry_run,omitempty"`
	// Attempts counts executions tried (retries after Okta 5xx).
	Attempts int `json:"attempts,omitempty"`
	// Result is what Okta answered: every call, the user's status before
	// and after (okta.ActionRecord as JSON).
	Result  json.RawMessage `json:"result,omitempty"`
	Error   string          `json:"error,omitempty"`
	Version uint64          `json:"version"`
}

// Final reports whether state s is an end state.
func Final(s string) bool {
	switch s {
	case ActionSucceeded, ActionFailed, ActionRejected, ActionExpired, ActionBlocked, ActionDryRun:
		return true
	}
	return false
}

// Triage output, validated against this shape before it is used.
type Output struct {
	Disposition string  `json:"disposition"`
	Severity    string  `json:"severity"`
	Confidence  float64 `json:"confidence"` // 0..1
	Summary     string  `json:"summary"`
	// Evidence cites the events the conclusion rests on, by LogEvent uuid.
	Evidence []string `json:"evidence"`
	// RecommendedActions are action kinds (KindSuspendUser, KindClearSessions).
	RecommendedActions []string `json:"recommended_actions"`
}

// TriageRun is one triage of one alert version, on clarion.triage.
type TriageRun struct {
	ID            string    `json:"id"` // TriageRunID(alert, version)
	AlertID       string    `json:"alert_id"`
	AlertVersion  uint32    `json:"alert_version"`
	IntegrationID string    `json:"integration_id"`
	User          UserRef   `json:"user"`
	Started       time.Time `json:"started"`
	Finished      time.Time `json:"finished"`
	LatencyMs     float64   `json:"latency_ms"`
	// By is "llm" or "deterministic" (what produced Output).
	By       string `json:"by"`
	Provider string `json:"provider,omitempty"` // "openai", "anthropic"
	Model    string `json:"model,omitempty"`
	// Fallback says why the deterministic triage ran although an LLM is
	// configured (error, timeout, invalid output), "" otherwise.
	Fallback string `json:"fallback,omitempty"`
	// Output is the verdict after the policy gate; Agent is the agent's
	// own output when the gate changed it; Deterministic is the
	// deterministic triage's output, always computed.
	Output        Output  `json:"output"`
	Agent         *Output `json:"agent_output,omitempty"`
	Deterministic Output  `json:"deterministic"`
	// Gate explains any change the policy gate made to the agent's verdict.
	Gate   string `json:"gate,omitempty"`
	Steps  []Step `json:"steps"`
	Tokens Tokens `json:"tokens"`
}

// Step is one step of a triage run: a model turn and the tool calls it made.
type Step struct {
	N         int        `json:"n"`
	Text      string     `json:"text,omitempty"` // the model's text, if any
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	LatencyMs float64    `json:"latency_ms"`
	Error     string     `json:"error,omitempty"`
}

// ToolCall is one tool call with its input and output.
type ToolCall struct {
	Name      string  `json:"name"`
	Input     string  `json:"input"`
	Output    string  `json:"output"`
	Error     string  `json:"error,omitempty"`
	LatencyMs float64 `json:"latency_ms"`
}

// Tokens counts a run's model tokens.
type Tokens struct {
	Prompt     int `json:"prompt"`
	Completion int `json:"completion"`
	Total      int `json:"total"`
}
