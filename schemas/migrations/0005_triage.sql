-- Triage and response (issue 6).
--
-- New columns are added one per ALTER: ClickHouse 18.16 has no
-- ADD COLUMN IF NOT EXISTS (the addcol template renders a plain ADD COLUMN there), and
-- Migrate treats "column already exists" (code 44) from an ADD COLUMN as
-- done, so an interrupted migration, or two sinks migrating at once, can
-- simply run it again. Rows stored before this migration read the
-- defaults: '' for strings, 0 for numbers, 1970-01-01 (absent) for times.
--
-- alerts: the processor's own severity (from anomaly scores; `severity` is
-- the effective one, the triage verdict's when there is one), the verdict's
-- confidence (0..1), the analyst's feedback kind and who triaged the alert
-- (llm or deterministic; '' before triage).
ALTER TABLE {{.DB}}.alerts {{addcol}} detection_severity {{lc}} AFTER severity;
ALTER TABLE {{.DB}}.alerts {{addcol}} confidence Float64 AFTER detection_severity;
ALTER TABLE {{.DB}}.alerts {{addcol}} feedback {{lc}} AFTER action_required;
ALTER TABLE {{.DB}}.alerts {{addcol}} triaged_by {{lc}} AFTER feedback;
-- actions: the rest of the responder's record.Action. mode is what the
-- policy gave the action (automatic, approval, off), guard what blocked or
-- downgraded it (protected_user, protected_group, hourly_cap, policy_off).
ALTER TABLE {{.DB}}.actions {{addcol}} alert_version UInt32 AFTER alert_id;
ALTER TABLE {{.DB}}.actions {{addcol}} mode {{lc}} AFTER state;
ALTER TABLE {{.DB}}.actions {{addcol}} guard {{lc}} AFTER mode;
ALTER TABLE {{.DB}}.actions {{addcol}} dry_run UInt8 AFTER guard;
ALTER TABLE {{.DB}}.actions {{addcol}} reason String AFTER dry_run;
ALTER TABLE {{.DB}}.actions {{addcol}} requested_by {{lc}} AFTER reason;
ALTER TABLE {{.DB}}.actions {{addcol}} expires_at {{dt}} AFTER requested_at;
ALTER TABLE {{.DB}}.actions {{addcol}} decided_at {{dt}} AFTER decided_by;
ALTER TABLE {{.DB}}.actions {{addcol}} attempts UInt32 AFTER executed_at;
ALTER TABLE {{.DB}}.actions {{addcol}} error String AFTER result;
-- One row per triage run (clarion.triage, record.TriageRun). The id is
-- hash(alert id, alert version), so a run replayed for the same alert
-- version has the same id: ReplacingMergeTree keeps the row inserted last
-- (the sink inserts in offset order, so the newest record), and
-- `FROM triage_runs FINAL` shows one row per alert version. Partitioned by
-- a bucket of the id, like alerts, because a replayed run has a new
-- started time. disposition, severity, confidence, summary, evidence and
-- recommended_actions are the final output (after the policy gate);
-- agent_disposition is the agent's own when the gate changed it, and
-- deterministic_disposition the deterministic triage's, always computed.
CREATE TABLE IF NOT EXISTS {{.DB}}.triage_runs
(
    id                        String,
    alert_id                  String,
    alert_version             UInt32,
    integration_id            {{lc}},
    user_id                   String,
    user_login                String,
    by                        {{lc}},
    provider                  {{lc}},
    model                     {{lc}},
    fallback                  {{lc}},
    disposition               {{lc}},
    severity                  {{lc}},
    confidence                Float64,
    summary                   String,
    evidence                  Array(String),
    recommended_actions       Array(String),
    deterministic_disposition {{lc}},
    agent_disposition         {{lc}},
    gate                      String,
    steps                     UInt32,
    tool_calls                UInt32,
    prompt_tokens             UInt32,
    completion_tokens         UInt32,
    latency_ms                Float64,
    started                   {{dt}},
    finished                  {{dt}},
    raw                       String{{codec "ZSTD(3)"}},
    recorded_at               {{dt}},
    kafka_partition           UInt32,
    kafka_offset              UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY cityHash64(id) % 16
ORDER BY (integration_id, alert_id, id)
{{ttl "recorded_at"}}{{settings}}
