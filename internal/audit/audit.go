// Package audit records every human action in Clarion: who (the principal),
// when (the server's clock at the action), from where (the client address)
// and what changed. Each Event is one JSON record on the clarion.audit
// topic, keyed by its subject (the alert, the action, the integration or the
// token), so one subject's events stay in order; the ClickHouse sink copies
// them into the audit table and the console shows an alert's events in its
// detail.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/secrets"
)

// Topic holds one Event per record.
const Topic = bus.TopicAudit

// Actions recorded.
const (
	ActionSignIn            = "sign_in"
	ActionSignInFailed      = "sign_in_failed"
	ActionSignOut           = "sign_out"
	ActionVerdict           = "verdict"
	ActionApprove           = "approve"
	ActionReject            = "reject"
	ActionIntegrationCreate = "integration_create"
	ActionIntegrationVerify = "integration_verify"
	ActionTokenIssue        = "token_issue"
	ActionTokenRevoke       = "token_revoke"
	ActionPolicyChange      = "policy_change"
)

// Actor is who acted: the principal of the request (internal/api.Principal).
type Actor struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
	Role  string `json:"role"`
	Via   string `json:"via"`
}

// Event is one audit record.
type Event struct {
	// ID is random and unique.
	ID string `json:"id"`
	// At is when the server handled the action (UTC).
	At time.Time `json:"at"`
	// Action is one of the Action constants.
	Action string `json:"action"`
	Actor  Actor  `json:"actor"`
	// Remote is the client address the request came from.
	Remote string `json:"remote,omitempty"`
	// Target names what the action was on: "alert", "action",
	// "integration", "token", "session".
	Target   string `json:"target,omitempty"`
	TargetID string `json:"target_id,omitempty"`
	// AlertID and IntegrationID, when the action concerns them.
	AlertID       string `json:"alert_id,omitempty"`
	IntegrationID string `json:"integration_id,omitempty"`
	// Outcome: "ok" or a short reason it did not happen.
	Outcome string `json:"outcome"`
	// Details is what changed (the verdict, the role issued …). Never secrets.
	Details map[string]string `json:"details,omitempty"`
}

// New returns an event with a fresh id, the time and outcome "ok".
func New(action string, actor Actor, at time.Time) *Event {
	return &Event{ID: "aud-" + secrets.RandomToken(12), At: at.UTC(), Action: action, Actor: actor, Outcome: "ok"}
}

// Key is the record key: the subject the event is about.
func (e *Event) Key() string {
	switch {
	case e.AlertID != "":
		return "alert/" + e.AlertID
	case e.TargetID != "":
		return e.Target + "/" + e.TargetID
	default:
		return "actor/" + e.Actor.ID
	}
}

// Validate reports what a stored event lacks.
func (e *Event) Validate() error {
	switch {
	case e.ID == "":
		return errors.New("audit: event without id")
	case e.Action == "":
		return errors.New("audit: event without action")
	case e.Actor.ID == "":
		return errors.New("audit: event without actor")
	case e.At.IsZero():
		return errors.New("audit: event without time")
	}
	return nil
}

// Record returns e as a record for Topic.
func Record(e *Event) (*kgo.Record, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	return &kgo.Record{Topic: Topic, Key: []byte(e.Key()), Value: b, Timestamp: e.At}, nil
}

// Parse reads an event from a record's value.
func Parse(v []byte) (*Event, error) {
	var e Event
	if err := json.Unmarshal(v, &e); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return &e, nil
}

// Writer writes events to Kafka with a producer that waits for all
// in-sync replicas (bus.ProducerOpts).
type Writer struct {
	cl      *kgo.Client
	timeout time.Duration
}

// NewWriter returns a writer on cl; timeout bounds one write (default 10 s).
func NewWriter(cl *kgo.Client, timeout time.Duration) *Writer {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &Writer{cl: cl, timeout: timeout}
}

// Write stores e and returns once Kafka has acknowledged it.
func (w *Writer) Write(ctx context.Context, e *Event) error {
	if w == nil || w.cl == nil {
		return errors.New("audit: no writer")
	}
	r, err := Record(e)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	return w.cl.ProduceSync(ctx, r).FirstErr()
}
