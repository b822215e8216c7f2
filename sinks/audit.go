package sinks

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TableAudit holds one row per human action (clarion.audit, internal/audit).
const TableAudit = "audit"

// AuditRow is one audit row: who did what, when and from where
// (internal/audit.Event). Details is the event's details object as JSON
// text (no Map type on old ClickHouse servers).
type AuditRow struct {
	ID             string    `parquet:"id"`
	At             time.Time `parquet:"at,timestamp(millisecond)"`
	Action         string    `parquet:"action,dict"`
	ActorID        string    `parquet:"actor_id"`
	ActorName      string    `parquet:"actor_name"`
	ActorEmail     string    `parquet:"actor_email"`
	ActorRole      string    `parquet:"actor_role,dict"`
	Via            string    `parquet:"via,dict"`
	Remote         string    `parquet:"remote"`
	Target         string    `parquet:"target,dict"`
	TargetID       string    `parquet:"target_id"`
	AlertID        string    `parquet:"alert_id"`
	IntegrationID  string    `parquet:"integration_id,dict"`
	Outcome        string    `parquet:"outcome,dict"`
	Details        string    `parquet:"details"`
	Raw            string    `parquet:"raw"`
	RecordedAt     time.Time `parquet:"recorded_at,timestamp(millisecond)"`
	KafkaPartition int32     `parquet:"kafka_partition"`
	KafkaOffset    int64     `parquet:"kafka_offset"`
}

// DecodeAudit turns a clarion.audit record into a row.
func DecodeAudit(rec *kgo.Record, row *AuditRow) error {
	root, id, err := object(rec)
	if err != nil {
		return err
	}
	a := root.Get("actor")
	*row = AuditRow{
		ID:             id,
		At:             jsonTime(root.Get("at")),
		Action:         root.Get("action").String(),
		ActorID:        a.Get("id").String(),
		ActorName:      a.Get("name").String(),
		ActorEmail:     a.Get("email").String(),
		ActorRole:      a.Get("role").String(),
		Via:            a.Get("via").String(),
		Remote:         root.Get("remote").String(),
		Target:         root.Get("target").String(),
		TargetID:       root.Get("target_id").String(),
		AlertID:        root.Get("alert_id").String(),
		IntegrationID:  root.Get("integration_id").String(),
		Outcome:        root.Get("outcome").String(),
		Details:        rawJSON(root.Get("details")),
		Raw:            string(rec.Value),
		RecordedAt:     ClampTime(rec.Timestamp),
		KafkaPartition: rec.Partition,
		KafkaOffset:    rec.Offset,
	}
	return nil
}
