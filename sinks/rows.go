// Package sinks holds what Clarion's sinks share: the typed rows each topic
// becomes (one struct per table, used by the ClickHouse sink for its columns
// and by the Parquet sink as its file schema), decoding with dead-letter
// reasons, and the consumer loop that batches records by size or time, hands
// each batch to a Writer, and commits offsets only once the Writer says the
// batch is durable.
//
// The sinks are generic over topics: every record on clarion.okta.events is
// a raw Okta LogEvent, every record on clarion.anomalies, clarion.alerts,
// clarion.actions and clarion.triage is a JSON object with an "id". Missing
// fields become zero values; a record that is not valid JSON, or lacks its
// id (uuid for events), goes to the dead-letter topic with the reason in
// its headers. The alert updates that share clarion.okta.events with Okta's
// events (header source=clarion, internal/record.IsUpdate) are input for
// the processor, not events: the consumer skips them and counts them in
// clarion_sink_records_ignored_total.
package sinks

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"time"
	"unsafe"

	"github.com/tidwall/gjson"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/geo"
	"github.com/clarion-itdr/clarion/okta/logevent"
)

// Table names, in ClickHouse database clarion and under <data-dir>/lake/.
const (
	TableEvents    = "okta_events"
	TableAnomalies = "anomalies"
	TableAlerts    = "alerts"
	TableActions   = "actions"
	// TableTriageRuns holds one row per triage run (clarion.triage).
	TableTriageRuns = "triage_runs"
)

// TableFor returns the table a topic's records go to.
func TableFor(topic string) (string, bool) {
	switch topic {
	case bus.TopicEvents:
		return TableEvents, true
	case bus.TopicAnomalies:
		return TableAnomalies, true
	case bus.TopicAlerts:
		return TableAlerts, true
	case bus.TopicActions:
		return TableActions, true
	case bus.TopicTriage:
		return TableTriageRuns, true
	case bus.TopicAudit:
		return TableAudit, true
	}
	return "", false
}

// DefaultTopics are the topics a sink consumes when its Config names none.
var DefaultTopics = []string{bus.TopicEvents, bus.TopicAnomalies, bus.TopicAlerts, bus.TopicActions, bus.TopicTriage, bus.TopicAudit}

// Decode errors. Each is a dead-letter reason: retrying cannot fix it.
var (
	ErrInvalidJSON  = errors.New("record value is not valid JSON")
	ErrNotObject    = errors.New("record value is not a JSON object")
	ErrNoID         = errors.New("record has no id")
	ErrNoUUID       = errors.New("event has no uuid")
	ErrUnknownTopic = errors.New("no table for topic")
)

// Time bounds every stored time is clamped to: DateTime (UInt32 seconds)
// ends in 2106, and attacker-controlled timestamps must not fail an insert.
// The zero time (absent) is stored as 1970-01-01 00:00:00 UTC.
var (
	minTime = time.Unix(0, 0).UTC()
	maxTime = time.Date(2105, 12, 31, 0, 0, 0, 0, time.UTC)
)

// ClampTime returns t in UTC, truncated to milliseconds and clamped to the
// range every ClickHouse version can store; zero becomes the epoch.
func ClampTime(t time.Time) time.Time {
	if t.IsZero() || t.Before(minTime) {
		return minTime
	}
	if t.After(maxTime) {
		return maxTime
	}
	return t.UTC().Truncate(time.Millisecond)
}

// Meta is where a row came from in Kafka.
type Meta struct {
	Topic     string
	Partition int32
	Offset    int64
}

// EventRow is one okta_events row. Parquet tags give the lake schema.
type EventRow struct {
	UUID              string    `parquet:"uuid"`
	Published         time.Time `parquet:"published,timestamp(millisecond)"`
	ReceivedAt        time.Time `parquet:"received_at,timestamp(millisecond)"`
	EventType         string    `parquet:"event_type,dict"`
	Severity          string    `parquet:"severity,dict"`
	DisplayMessage    string    `parquet:"display_message,dict"`
	Outcome           string    `parquet:"outcome,dict"`
	OutcomeReason     string    `parquet:"outcome_reason"`
	ActorID           string    `parquet:"actor_id"`
	ActorLogin        string    `parquet:"actor_login"`
	ActorName         string    `parquet:"actor_name"`
	UserKey           string    `parquet:"user_key"`
	IP                string    `parquet:"ip"`
	City              string    `parquet:"city,dict"`
	State             string    `parquet:"state,dict"`
	Country           string    `parquet:"country,dict"`
	PostalCode        string    `parquet:"postal_code"`
	Lat               float64   `parquet:"lat"`
	Lon               float64   `parquet:"lon"`
	H3                int64     `parquet:"h3"` // H3 res-7 cell (fits in 63 bits), 0 = no location
	ASN               int64     `parquet:"asn"`
	ASOrg             string    `parquet:"as_org,dict"`
	ISP               string    `parquet:"isp,dict"`
	Domain            string    `parquet:"domain,dict"`
	IsProxy           bool      `parquet:"is_proxy"`
	UserAgent         string    `parquet:"user_agent"`
	Browser           string    `parquet:"browser,dict"`
	OS                string    `parquet:"os,dict"`
	Device            string    `parquet:"device,dict"`
	DeviceFingerprint string    `parquet:"device_fingerprint"`
	ThreatSuspected   bool      `parquet:"threat_suspected"`
	Behaviors         string    `parquet:"behaviors"`
	Risk              string    `parquet:"risk"`
	SessionID         string    `parquet:"session_id"`
	IntegrationID     string    `parquet:"integration_id,dict"`
	Source            string    `parquet:"source,dict"`
	Raw               string    `parquet:"raw"`
	KafkaPartition    int32     `parquet:"kafka_partition"`
	KafkaOffset       int64     `parquet:"kafka_offset"`
}

// IPAddr returns the row's IP as an IPv6 (IPv4-mapped) address, or the
// unspecified address when the text is not an IP.
func (r *EventRow) IPAddr() netip.Addr {
	a, err := netip.ParseAddr(r.IP)
	if err != nil {
		return netip.IPv6Unspecified()
	}
	return netip.AddrFrom16(a.As16())
}

// DecodeEvent turns a clarion.okta.events record into a row. ev is scratch
// space reused between calls.
//
// Hazard: row.Raw shares memory with rec.Value (no copy of the largest
// field); rec.Value must not be modified while the row is in use.
func DecodeEvent(rec *kgo.Record, ev *logevent.Event, row *EventRow) error {
	// logevent.Parse validates the whole document in the same pass that
	// reads it (no separate validation pass: it is the hot path).
	if err := logevent.Parse(rec.Value, ev); err != nil {
		switch {
		case errors.Is(err, logevent.ErrNoUUID):
			return ErrNoUUID
		case errors.Is(err, logevent.ErrNotObject) && len(bytes.TrimSpace(rec.Value)) > 0 && gjson.ValidBytes(rec.Value):
			return ErrNotObject
		}
		return fmt.Errorf("%w (%v)", ErrInvalidJSON, err)
	}
	received := rec.Timestamp
	if h := bus.Header(rec, bus.HeaderReceivedAt); h != "" {
		if t, err := time.Parse(time.RFC3339Nano, h); err == nil {
			received = t
		}
	}
	var cell geo.Cell
	lat, lon := 0.0, 0.0
	if ev.HasGeo && geo.ValidLatLon(ev.Lat, ev.Lon) {
		lat, lon = ev.Lat, ev.Lon
		cell = geo.CellAt(lat, lon, geo.ResCity)
	}
	*row = EventRow{
		UUID:              ev.UUID,
		Published:         ClampTime(ev.Published),
		ReceivedAt:        ClampTime(received),
		EventType:         ev.EventType,
		Severity:          ev.Severity,
		DisplayMessage:    ev.DisplayMessage,
		Outcome:           ev.Outcome,
		OutcomeReason:     ev.OutcomeReason,
		ActorID:           ev.ActorID,
		ActorLogin:        ev.ActorLogin,
		ActorName:         ev.ActorName,
		UserKey:           ev.UserKey(),
		IP:                ev.IP,
		City:              ev.City,
		State:             ev.State,
		Country:           ev.Country,
		PostalCode:        ev.PostalCode,
		Lat:               lat,
		Lon:               lon,
		H3:                int64(cell),
		ASN:               clampASN(ev.ASN),
		ASOrg:             ev.ASOrg,
		ISP:               ev.ISP,
		Domain:            ev.Domain,
		IsProxy:           ev.IsProxy,
		UserAgent:         ev.UserAgent,
		Browser:           ev.Browser,
		OS:                ev.OS,
		Device:            ev.DeviceType,
		DeviceFingerprint: ev.DeviceFingerprint,
		ThreatSuspected:   ev.ThreatSuspected,
		Behaviors:         ev.Behaviors,
		Risk:              ev.Risk,
		SessionID:         ev.SessionID,
		IntegrationID:     bus.Header(rec, bus.HeaderIntegrationID),
		Source:            bus.Header(rec, bus.HeaderSource),
		Raw:               unsafe.String(unsafe.SliceData(rec.Value), len(rec.Value)),
		KafkaPartition:    rec.Partition,
		KafkaOffset:       rec.Offset,
	}
	return nil
}

func clampASN(n int64) int64 {
	if n < 0 || n > 1<<32-1 {
		return 0
	}
	return n
}

// AnomalyRow is one anomalies row.
type AnomalyRow struct {
	ID             string    `parquet:"id"`
	Type           string    `parquet:"type,dict"`
	IntegrationID  string    `parquet:"integration_id,dict"`
	UserID         string    `parquet:"user_id"`
	UserLogin      string    `parquet:"user_login"`
	EventUUID      string    `parquet:"event_uuid"`
	Published      time.Time `parquet:"published,timestamp(millisecond)"`
	Score          float64   `parquet:"score"`
	Sentence       string    `parquet:"sentence"`
	Evidence       string    `parquet:"evidence"` // the evidence object as JSON text
	Raw            string    `parquet:"raw"`
	RecordedAt     time.Time `parquet:"recorded_at,timestamp(millisecond)"` // Kafka record time
	KafkaPartition int32     `parquet:"kafka_partition"`
	KafkaOffset    int64     `parquet:"kafka_offset"`
}

// AlertRow is one alerts row: one version of an alert.
type AlertRow struct {
	ID            string `parquet:"id"`
	DedupKey      string `parquet:"dedup_key"`
	IntegrationID string `parquet:"integration_id,dict"`
	UserID        string `parquet:"user_id"`
	UserLogin     string `parquet:"user_login"`
	Status        string `parquet:"status,dict"`
	Disposition   string `parquet:"disposition,dict"`
	// Severity is the effective severity: the triage verdict's when there
	// is one, else DetectionSeverity.
	Severity string `parquet:"severity,dict"`
	// DetectionSeverity is the processor's, from anomaly scores.
	DetectionSeverity string `parquet:"detection_severity,dict"`
	// Confidence is the verdict's, 0..1 (0 before triage).
	Confidence     float64 `parquet:"confidence"`
	ActionRequired string  `parquet:"action_required,dict"`
	// Feedback is the analyst's feedback kind, "" if none.
	Feedback string `parquet:"feedback,dict"`
	// TriagedBy is "llm" or "deterministic", "" before triage.
	TriagedBy      string    `parquet:"triaged_by,dict"`
	AnomalyIDs     []string  `parquet:"anomaly_ids,list"`
	AnomalyTypes   []string  `parquet:"anomaly_types,list"`
	FirstSeen      time.Time `parquet:"first_seen,timestamp(millisecond)"`
	LastSeen       time.Time `parquet:"last_seen,timestamp(millisecond)"`
	Version        int64     `parquet:"version"`
	Summary        string    `parquet:"summary"`
	Raw            string    `parquet:"raw"`
	RecordedAt     time.Time `parquet:"recorded_at,timestamp(millisecond)"`
	KafkaPartition int32     `parquet:"kafka_partition"`
	KafkaOffset    int64     `parquet:"kafka_offset"`
}

// ActionRow is one actions row: one version of a response action
// (internal/record.Action).
type ActionRow struct {
	ID            string `parquet:"id"`
	AlertID       string `parquet:"alert_id"`
	AlertVersion  int64  `parquet:"alert_version"`
	IntegrationID string `parquet:"integration_id,dict"`
	UserID        string `parquet:"user_id"`
	UserLogin     string `parquet:"user_login"`
	Kind          string `parquet:"kind,dict"`
	State         string `parquet:"state,dict"`
	// Mode is what the policy gave the action: automatic, approval, off.
	Mode string `parquet:"mode,dict"`
	// Guard names what blocked or downgraded it (protected_user, hourly_cap, ...).
	Guard          string    `parquet:"guard,dict"`
	DryRun         bool      `parquet:"dry_run"`
	Reason         string    `parquet:"reason"`
	RequestedBy    string    `parquet:"requested_by,dict"`
	RequestedAt    time.Time `parquet:"requested_at,timestamp(millisecond)"`
	ExpiresAt      time.Time `parquet:"expires_at,timestamp(millisecond)"` // pending approvals only
	DecidedBy      string    `parquet:"decided_by"`
	DecidedAt      time.Time `parquet:"decided_at,timestamp(millisecond)"`
	ExecutedAt     time.Time `parquet:"executed_at,timestamp(millisecond)"`
	Attempts       int64     `parquet:"attempts"`
	Result         string    `parquet:"result"` // Okta's answers (okta.ActionRecord) as JSON text
	Error          string    `parquet:"error"`
	Version        int64     `parquet:"version"`
	Raw            string    `parquet:"raw"`
	RecordedAt     time.Time `parquet:"recorded_at,timestamp(millisecond)"`
	KafkaPartition int32     `parquet:"kafka_partition"`
	KafkaOffset    int64     `parquet:"kafka_offset"`
}

// object validates rec's value and returns it parsed, with its id.
func object(rec *kgo.Record) (gjson.Result, string, error) {
	if !gjson.ValidBytes(rec.Value) {
		return gjson.Result{}, "", ErrInvalidJSON
	}
	root := gjson.ParseBytes(rec.Value)
	if !root.IsObject() {
		return root, "", ErrNotObject
	}
	id := root.Get("id")
	if id.Type != gjson.String && id.Type != gjson.Number || id.String() == "" {
		return root, "", ErrNoID
	}
	return root, id.String(), nil
}

// user reads a "user" field that is either {id, login} or a plain string.
func user(v gjson.Result) (id, login string) {
	switch {
	case v.IsObject():
		id = v.Get("id").String()
		login = v.Get("login").String()
		if login == "" {
			login = v.Get("alternateId").String()
		}
	case v.Type == gjson.String:
		id = v.Str
	}
	return id, login
}

func jsonTime(v gjson.Result) time.Time {
	switch v.Type {
	case gjson.String:
		t, _ := logevent.ParseTime(v.Str)
		return ClampTime(t)
	case gjson.Number:
		// Milliseconds since the epoch, as some producers write.
		return ClampTime(time.UnixMilli(v.Int()))
	}
	return minTime
}

// rawJSON returns a field's JSON text, "" when absent or null.
func rawJSON(v gjson.Result) string {
	if !v.Exists() || v.Type == gjson.Null {
		return ""
	}
	return v.Raw
}

func version(v gjson.Result) int64 {
	if n := v.Int(); n > 0 {
		return n
	}
	return 0
}

// DecodeAnomaly turns a clarion.anomalies record into a row.
func DecodeAnomaly(rec *kgo.Record, row *AnomalyRow) error {
	root, id, err := object(rec)
	if err != nil {
		return err
	}
	uid, login := user(root.Get("user"))
	*row = AnomalyRow{
		ID:             id,
		Type:           root.Get("type").String(),
		IntegrationID:  root.Get("integration_id").String(),
		UserID:         uid,
		UserLogin:      login,
		EventUUID:      root.Get("event_uuid").String(),
		Published:      jsonTime(root.Get("published")),
		Score:          root.Get("score").Float(),
		Sentence:       root.Get("sentence").String(),
		Evidence:       rawJSON(root.Get("evidence")),
		Raw:            string(rec.Value),
		RecordedAt:     ClampTime(rec.Timestamp),
		KafkaPartition: rec.Partition,
		KafkaOffset:    rec.Offset,
	}
	return nil
}

// DecodeAlert turns a clarion.alerts record into a row. "anomalies" may list
// ids or anomaly objects (their id and type are kept).
func DecodeAlert(rec *kgo.Record, row *AlertRow) error {
	root, id, err := object(rec)
	if err != nil {
		return err
	}
	uid, login := user(root.Get("user"))
	ids, types := []string{}, []string{}
	root.Get("anomalies").ForEach(func(_, v gjson.Result) bool {
		if v.IsObject() {
			if s := v.Get("id").String(); s != "" {
				ids = append(ids, s)
			}
			if s := v.Get("type").String(); s != "" {
				types = append(types, s)
			}
		} else if s := v.String(); s != "" {
			ids = append(ids, s)
		}
		return true
	})
	*row = AlertRow{
		ID:                id,
		DedupKey:          root.Get("dedup_key").String(),
		IntegrationID:     root.Get("integration_id").String(),
		UserID:            uid,
		UserLogin:         login,
		Status:            root.Get("status").String(),
		Disposition:       root.Get("disposition").String(),
		Severity:          root.Get("severity").String(),
		DetectionSeverity: root.Get("detection_severity").String(),
		Confidence:        root.Get("confidence").Float(),
		ActionRequired:    root.Get("action_required").String(),
		Feedback:          root.Get("feedback").String(),
		TriagedBy:         root.Get("triaged_by").String(),
		AnomalyIDs:        ids,
		AnomalyTypes:      types,
		FirstSeen:         jsonTime(root.Get("first_seen")),
		LastSeen:          jsonTime(root.Get("last_seen")),
		Version:           version(root.Get("version")),
		Summary:           root.Get("summary").String(),
		Raw:               string(rec.Value),
		RecordedAt:        ClampTime(rec.Timestamp),
		KafkaPartition:    rec.Partition,
		KafkaOffset:       rec.Offset,
	}
	return nil
}

// DecodeAction turns a clarion.actions record into a row.
func DecodeAction(rec *kgo.Record, row *ActionRow) error {
	root, id, err := object(rec)
	if err != nil {
		return err
	}
	uid, login := user(root.Get("user"))
	*row = ActionRow{
		ID:             id,
		AlertID:        root.Get("alert_id").String(),
		AlertVersion:   count32(root.Get("alert_version")),
		IntegrationID:  root.Get("integration_id").String(),
		UserID:         uid,
		UserLogin:      login,
		Kind:           root.Get("kind").String(),
		State:          root.Get("state").String(),
		Mode:           root.Get("mode").String(),
		Guard:          root.Get("guard").String(),
		DryRun:         root.Get("dry_run").Bool(),
		Reason:         root.Get("reason").String(),
		RequestedBy:    root.Get("requested_by").String(),
		RequestedAt:    jsonTime(root.Get("requested_at")),
		ExpiresAt:      jsonTime(root.Get("expires_at")),
		DecidedBy:      root.Get("decided_by").String(),
		DecidedAt:      jsonTime(root.Get("decided_at")),
		ExecutedAt:     jsonTime(root.Get("executed_at")),
		Attempts:       count32(root.Get("attempts")),
		Result:         rawJSON(root.Get("result")),
		Error:          root.Get("error").String(),
		Version:        version(root.Get("version")),
		Raw:            string(rec.Value),
		RecordedAt:     ClampTime(rec.Timestamp),
		KafkaPartition: rec.Partition,
		KafkaOffset:    rec.Offset,
	}
	return nil
}

// TriageRunRow is one triage_runs row: one run of triage on one alert
// version (internal/record.TriageRun). Disposition through
// RecommendedActions are the final output, after the policy gate.
type TriageRunRow struct {
	ID            string `parquet:"id"`
	AlertID       string `parquet:"alert_id"`
	AlertVersion  int64  `parquet:"alert_version"`
	IntegrationID string `parquet:"integration_id,dict"`
	UserID        string `parquet:"user_id"`
	UserLogin     string `parquet:"user_login"`
	// By is "llm" or "deterministic": what produced the output.
	By       string `parquet:"by,dict"`
	Provider string `parquet:"provider,dict"`
	Model    string `parquet:"model,dict"`
	// Fallback says why the deterministic triage ran although an LLM is
	// configured, "" otherwise.
	Fallback           string   `parquet:"fallback,dict"`
	Disposition        string   `parquet:"disposition,dict"`
	Severity           string   `parquet:"severity,dict"`
	Confidence         float64  `parquet:"confidence"`
	Summary            string   `parquet:"summary"`
	Evidence           []string `parquet:"evidence,list"` // LogEvent uuids
	RecommendedActions []string `parquet:"recommended_actions,list"`
	// DeterministicDisposition is the deterministic triage's verdict
	// (always computed); AgentDisposition the agent's own when the policy
	// gate changed it, "" otherwise.
	DeterministicDisposition string `parquet:"deterministic_disposition,dict"`
	AgentDisposition         string `parquet:"agent_disposition,dict"`
	// Gate explains any change the policy gate made.
	Gate             string    `parquet:"gate"`
	Steps            int64     `parquet:"steps"`      // model turns
	ToolCalls        int64     `parquet:"tool_calls"` // over all steps
	PromptTokens     int64     `parquet:"prompt_tokens"`
	CompletionTokens int64     `parquet:"completion_tokens"`
	LatencyMs        float64   `parquet:"latency_ms"`
	Started          time.Time `parquet:"started,timestamp(millisecond)"`
	Finished         time.Time `parquet:"finished,timestamp(millisecond)"`
	Raw              string    `parquet:"raw"` // every step and tool call
	RecordedAt       time.Time `parquet:"recorded_at,timestamp(millisecond)"`
	KafkaPartition   int32     `parquet:"kafka_partition"`
	KafkaOffset      int64     `parquet:"kafka_offset"`
}

// DecodeTriageRun turns a clarion.triage record into a row.
func DecodeTriageRun(rec *kgo.Record, row *TriageRunRow) error {
	root, id, err := object(rec)
	if err != nil {
		return err
	}
	uid, login := user(root.Get("user"))
	out := root.Get("output")
	steps, calls := int64(0), int64(0)
	root.Get("steps").ForEach(func(_, s gjson.Result) bool {
		steps++
		s.Get("tool_calls").ForEach(func(_, _ gjson.Result) bool {
			calls++
			return true
		})
		return true
	})
	*row = TriageRunRow{
		ID:                       id,
		AlertID:                  root.Get("alert_id").String(),
		AlertVersion:             count32(root.Get("alert_version")),
		IntegrationID:            root.Get("integration_id").String(),
		UserID:                   uid,
		UserLogin:                login,
		By:                       root.Get("by").String(),
		Provider:                 root.Get("provider").String(),
		Model:                    root.Get("model").String(),
		Fallback:                 root.Get("fallback").String(),
		Disposition:              out.Get("disposition").String(),
		Severity:                 out.Get("severity").String(),
		Confidence:               out.Get("confidence").Float(),
		Summary:                  out.Get("summary").String(),
		Evidence:                 stringList(out.Get("evidence")),
		RecommendedActions:       stringList(out.Get("recommended_actions")),
		DeterministicDisposition: root.Get("deterministic.disposition").String(),
		AgentDisposition:         root.Get("agent_output.disposition").String(),
		Gate:                     root.Get("gate").String(),
		Steps:                    min(steps, 1<<32-1),
		ToolCalls:                min(calls, 1<<32-1),
		PromptTokens:             count32(root.Get("tokens.prompt")),
		CompletionTokens:         count32(root.Get("tokens.completion")),
		LatencyMs:                root.Get("latency_ms").Float(),
		Started:                  jsonTime(root.Get("started")),
		Finished:                 jsonTime(root.Get("finished")),
		Raw:                      string(rec.Value),
		RecordedAt:               ClampTime(rec.Timestamp),
		KafkaPartition:           rec.Partition,
		KafkaOffset:              rec.Offset,
	}
	return nil
}

// stringList returns the scalar elements of a JSON array as text (never nil).
func stringList(v gjson.Result) []string {
	out := []string{}
	v.ForEach(func(_, e gjson.Result) bool {
		if e.Type != gjson.Null && !e.IsObject() && !e.IsArray() {
			out = append(out, e.String())
		}
		return true
	})
	return out
}

// count32 reads a count stored as UInt32: negative or non-numeric values
// become 0, values above 2^32-1 are capped.
func count32(v gjson.Result) int64 {
	n := v.Int()
	switch {
	case n < 0:
		return 0
	case n > 1<<32-1:
		return 1<<32 - 1
	}
	return n
}

// Batch is what one flush hands to a Writer: the decoded rows of every
// record polled since the last flush, in offset order per partition.
type Batch struct {
	Events     []EventRow
	Anomalies  []AnomalyRow
	Alerts     []AlertRow
	Actions    []ActionRow
	TriageRuns []TriageRunRow
	Audit      []AuditRow
	// Ranges is the offset range of every partition in the batch,
	// dead-lettered records included.
	Ranges map[TopicPartition]OffsetRange
}

// Rows returns the number of rows in b.
func (b *Batch) Rows() int {
	return len(b.Events) + len(b.Anomalies) + len(b.Alerts) + len(b.Actions) + len(b.TriageRuns) + len(b.Audit)
}

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s/%d", tp.Topic, tp.Partition) }

// OffsetRange is an inclusive range of offsets.
type OffsetRange struct{ First, Last int64 }
