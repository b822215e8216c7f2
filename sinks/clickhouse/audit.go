package clickhouse

import (
	"time"

	"github.com/clarion-itdr/clarion/sinks"
)

// auditColumns are the audit table's columns (schemas/migrations/0007_audit.sql).
var auditColumns = []column[sinks.AuditRow]{
	strCol("id", func(r *sinks.AuditRow) string { return r.ID }),
	timeCol("at", func(r *sinks.AuditRow) time.Time { return r.At }),
	strCol("action", func(r *sinks.AuditRow) string { return r.Action }),
	strCol("actor_id", func(r *sinks.AuditRow) string { return r.ActorID }),
	strCol("actor_name", func(r *sinks.AuditRow) string { return r.ActorName }),
	strCol("actor_email", func(r *sinks.AuditRow) string { return r.ActorEmail }),
	strCol("actor_role", func(r *sinks.AuditRow) string { return r.ActorRole }),
	strCol("via", func(r *sinks.AuditRow) string { return r.Via }),
	strCol("remote", func(r *sinks.AuditRow) string { return r.Remote }),
	strCol("target", func(r *sinks.AuditRow) string { return r.Target }),
	strCol("target_id", func(r *sinks.AuditRow) string { return r.TargetID }),
	strCol("alert_id", func(r *sinks.AuditRow) string { return r.AlertID }),
	strCol("integration_id", func(r *sinks.AuditRow) string { return r.IntegrationID }),
	strCol("outcome", func(r *sinks.AuditRow) string { return r.Outcome }),
	strCol("details", func(r *sinks.AuditRow) string { return r.Details }),
	strCol("raw", func(r *sinks.AuditRow) string { return r.Raw }),
	timeCol("recorded_at", func(r *sinks.AuditRow) time.Time { return r.RecordedAt }),
	u32Col("kafka_partition", func(r *sinks.AuditRow) uint32 { return uint32(r.KafkaPartition) }),
	u64Col("kafka_offset", func(r *sinks.AuditRow) uint64 { return uint64(r.KafkaOffset) }),
}
