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
	"strconv"
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

// Retention defaults of the topics Clarion creates (see TopicsWith).
const (
	// DefaultEventsRetention keeps raw events two days: long enough to
	// reprocess after an outage of a day, short enough for the embedded
	// broker, which holds every record in memory (at Okta's cap, 400,000
	// events a day of about 2.5 KB, an org's raw events are about 1 GB a
	// day before compression). Their history lives in the lake and
	// ClickHouse.
	DefaultEventsRetention = 48 * time.Hour
	// DefaultOutputRetention keeps anomalies, alerts, triage runs, the
	// dead-letter topic and responder requests 30 days (a small volume).
	DefaultOutputRetention = 30 * 24 * time.Hour
	// DefaultAuditRetention keeps the audit trail (who signed in, decided,
	// approved, changed what) a year on Kafka; ClickHouse and the lake keep
	// it without limit. It is a few records per human action.
	DefaultAuditRetention = 365 * 24 * time.Hour
)

// TopicOptions tune the topics Clarion creates. Zero fields take the
// defaults named on them.
type TopicOptions struct {
	// Partitions of the data topics. Default 12.
	Partitions int32
	// EventsRetention of clarion.okta.events. Default DefaultEventsRetention.
	EventsRetention time.Duration
}

// Topics returns the specs of every Clarion topic, with partitions as the
// partition count of the data topics (the unit of processor parallelism)
// and the default retentions.
func Topics(partitions int32) []TopicSpec {
	return TopicsWith(TopicOptions{Partitions: partitions})
}

// TopicsWith returns the specs of every Clarion topic. Every topic is
// bounded: raw events and outputs by time (retention.ms), state topics
// (changelog, integrations, poller cursors) by compaction, which keeps
// the latest record of each key. clarion.actions is the exception, kept
// whole: it is keyed by user, not by action, so neither compaction nor a
// retention could drop old versions without dropping a live action (and
// with it the record that an action already ran).
func TopicsWith(o TopicOptions) []TopicSpec {
	partitions := o.Partitions
	if partitions <= 0 {
		partitions = 12
	}
	if o.EventsRetention <= 0 {
		o.EventsRetention = DefaultEventsRetention
	}
	compact := map[string]*string{"cleanup.policy": strp("compact")}
	retain := func(d time.Duration) map[string]*string {
		return map[string]*string{"cleanup.policy": strp("delete"), "retention.ms": strp(strconv.FormatInt(d.Milliseconds(), 10))}
	}
	out := retain(DefaultOutputRetention)
	return []TopicSpec{
		{Name: TopicEvents, Partitions: partitions, Configs: retain(o.EventsRetention)},
		{Name: TopicAnomalies, Partitions: partitions, Configs: out},
		{Name: TopicAlerts, Partitions: partitions, Configs: out},
		{Name: TopicActions, Partitions: partitions},
		{Name: TopicChangelog, Partitions: partitions, Configs: compact},
		{Name: TopicIntegrations, Partitions: 1, Configs: compact},
		{Name: TopicPollerCursors, Partitions: 1, Configs: compact},
		{Name: TopicDeadLetter, Partitions: 1, Configs: out},
		{Name: TopicTriage, Partitions: partitions, Configs: out},
		{Name: TopicResponderRequests, Partitions: partitions, Configs: out},
		// The audit trail outlives the outputs on Kafka (ClickHouse keeps it
		// for good); access (tokens, revoked sessions) is state: compacted.
		{Name: TopicAudit, Partitions: min(partitions, 3), Configs: retain(DefaultAuditRetention)},
		{Name: TopicAccess, Partitions: 1, Configs: compact},
	}
}

// EnsureTopics creates the topics in specs that do not exist yet. Existing
// topics are left as they are (their partition count is never changed).
// Replication factor -1 lets the cluster use its default.
//
// Topics that exist are not created again, so a component whose principal
// may only describe them (least privilege: an operator or `make kafka-up`
// created them) starts without the CREATE permission.
func EnsureTopics(ctx context.Context, cl *kgo.Client, specs []TopicSpec) error {
	adm := kadm.NewClient(cl)
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	have, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return Explain(fmt.Errorf("bus: list topics: %w", err), "")
	}
	for _, s := range specs {
		if d, ok := have[s.Name]; ok && d.Err == nil {
			continue
		}
		resp, err := adm.CreateTopic(ctx, s.Partitions, -1, s.Configs, s.Name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return Explain(fmt.Errorf("bus: create topic %s: %w", s.Name, err), s.Name)
		}
	}
	return nil
}

// Ping reports whether the cluster answers a metadata request within ctx.
func Ping(ctx context.Context, cl *kgo.Client) error {
	return cl.Ping(ctx)
}
