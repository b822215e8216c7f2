-- Alert versions (clarion.alerts). ReplacingMergeTree(version) keeps the
-- highest version of each id, so `FROM alerts FINAL` shows the latest state.
-- Versions only collapse inside one partition, and an update can move
-- first_seen earlier (a late anomaly joins the alert), so alerts are not
-- partitioned by month of first_seen but by a stable bucket of the id.
CREATE TABLE IF NOT EXISTS {{.DB}}.alerts
(
    id              String,
    dedup_key       String,
    integration_id  {{lc}},
    user_id         String,
    user_login      String,
    status          {{lc}},
    disposition     {{lc}},
    severity        {{lc}},
    action_required {{lc}},
    anomaly_ids     Array(String),
    anomaly_types   Array(String),
    first_seen      {{dt}},
    last_seen       {{dt}},
    version         UInt64,
    summary         String,
    raw             String{{codec "ZSTD(3)"}},
    recorded_at     {{dt}},
    kafka_partition UInt32,
    kafka_offset    UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY cityHash64(id) % 16
ORDER BY (integration_id, id)
{{ttl "last_seen"}}{{settings}}
