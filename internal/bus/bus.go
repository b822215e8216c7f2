// Package bus names Clarion's Kafka topics and record headers and builds the
// franz-go clients every component uses. It is the only place that knows how
// Clarion talks to Kafka; components receive a configured *kgo.Client.
//
// Components talk to each other only through these topics, never through
// in-process shortcuts, so the all-in-one binary exercises exactly what a
// scaled deployment runs.
package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Topic names. They are part of the product contract (DESIGN.md): keep them.
const (
	// TopicEvents holds one raw Okta LogEvent per record, byte for byte as
	// Okta sent it, keyed by KeyFor(integration, user).
	TopicEvents = "clarion.okta.events"
	// TopicAnomalies, TopicAlerts and TopicActions hold JSON objects with a
	// deterministic "id", keyed by integration + user.
	TopicAnomalies = "clarion.anomalies"
	TopicAlerts    = "clarion.alerts"
	TopicActions   = "clarion.actions"
	// TopicChangelog is the processor's compacted state changelog, keyed by user.
	TopicChangelog = "clarion.processor.changelog"
	// TopicIntegrations is the compacted registry of Okta integrations.
	TopicIntegrations = "clarion.integrations"
	// TopicPollerCursors is the System Log poller's compacted cursor per integration.
	TopicPollerCursors = "clarion.poller.cursors"
	// TopicDeadLetter receives records a sink could not decode, with the reason.
	TopicDeadLetter = "clarion.deadletter"
	// TopicTriage holds one record per triage run (internal/record.TriageRun),
	// keyed like the alert it triaged.
	TopicTriage = "clarion.triage"
	// TopicResponderRequests is the responder's input: action proposals
	// from triage and analysts, and approve/reject decisions
	// (internal/record.Request), keyed like the alert. The responder is the
	// only writer of TopicActions.
	TopicResponderRequests = "clarion.responder.requests"
	// TopicAudit holds one audit record per human action (internal/audit).
	TopicAudit = "clarion.audit"
	// TopicAccess is the compacted store of API tokens (hashed) and revoked
	// console sessions (internal/api.Access).
	TopicAccess = "clarion.access"
)

// Record header names on TopicEvents.
const (
	HeaderIntegrationID = "integration_id"
	HeaderSource        = "source"      // SourceHook or SourcePoll
	HeaderReceivedAt    = "received_at" // RFC 3339 with milliseconds, UTC
	HeaderUUID          = "uuid"        // the LogEvent's uuid
	HeaderDeliveryID    = "event_id"    // the hook delivery's eventId (hook only)
)

// Values of HeaderSource.
const (
	SourceHook = "hook"
	SourcePoll = "poll"
	// SourceClarion marks a record that is not an Okta event but an alert
	// update (internal/record.Update) for the processor: triage verdicts
	// and analyst feedback travel through the processor's own input so the
	// alert and the user's baseline change exactly once, in order with the
	// user's events. Sinks skip these records.
	SourceClarion = "clarion"
)

// KeyFor returns the record key for a user's events: integration id, a
// slash, and the user key (actor.id, or actor.alternateId when the id is
// "unknown"). One user's records therefore share a partition and stay in order.
func KeyFor(integrationID, userKey string) []byte {
	b := make([]byte, 0, len(integrationID)+1+len(userKey))
	b = append(b, integrationID...)
	b = append(b, '/')
	b = append(b, userKey...)
	return b
}

// AppendKey is KeyFor appending into dst, for hot paths that reuse buffers.
func AppendKey(dst []byte, integrationID, userKey string) []byte {
	dst = append(dst, integrationID...)
	dst = append(dst, '/')
	return append(dst, userKey...)
}

// FormatTime formats t as Clarion writes times in headers and JSON: RFC 3339,
// millisecond precision, UTC.
func FormatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// Header returns the value of the first header named key, or "".
func Header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// TopicSpec describes a topic Clarion creates when it is missing.
type TopicSpec struct {
	Name       string
	Partitions int32
	Configs    map[string]*string
}

func strp(s string) *string { return &s }

// Topics returns the specs of every Clarion topic, with partitions as the
// partition count of the data topics (the unit of processor parallelism).
func Topics(partitions int32) []TopicSpec {
	if partitions <= 0 {
		partitions = 12
	}
	compact := map[string]*string{"cleanup.policy": strp("compact")}
	return []TopicSpec{
		{Name: TopicEvents, Partitions: partitions},
		{Name: TopicAnomalies, Partitions: partitions},
		{Name: TopicAlerts, Partitions: partitions},
		{Name: TopicActions, Partitions: partitions},
		{Name: TopicChangelog, Partitions: partitions, Configs: compact},
		{Name: TopicIntegrations, Partitions: 1, Configs: compact},
		{Name: TopicPollerCursors, Partitions: 1, Configs: compact},
		{Name: TopicDeadLetter, Partitions: 1},
		{Name: TopicTriage, Partitions: partitions},
		{Name: TopicResponderRequests, Partitions: partitions},
		{Name: TopicAudit, Partitions: min(partitions, 3)},
		{Name: TopicAccess, Partitions: 1, Configs: compact},
	}
}

// EnsureTopics creates the topics in specs that do not exist yet. Existing
// topics are left as they are (their partition count is never changed).
// Replication factor -1 lets the cluster use its default.
func EnsureTopics(ctx context.Context, cl *kgo.Client, specs []TopicSpec) error {
	adm := kadm.NewClient(cl)
	for _, s := range specs {
		resp, err := adm.CreateTopic(ctx, s.Partitions, -1, s.Configs, s.Name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("bus: create topic %s: %w", s.Name, err)
		}
	}
	return nil
}

// Ping reports whether the cluster answers a metadata request within ctx.
func Ping(ctx context.Context, cl *kgo.Client) error {
	return cl.Ping(ctx)
}
