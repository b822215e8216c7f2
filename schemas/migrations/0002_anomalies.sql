-- One row per anomaly (clarion.anomalies). The id is deterministic
-- (hash of event uuid and detector), so retries collapse under FINAL.
CREATE TABLE IF NOT EXISTS {{.DB}}.anomalies
(
    id             String,
    type           {{lc}},
    integration_id {{lc}},
    user_id        String,
    user_login     String,
    event_uuid     String,
    published      {{dt}}{{codec "Delta, ZSTD(1)"}},
    score          Float64,
    sentence       String,
    evidence       String{{codec "ZSTD(3)"}},
    raw            String{{codec "ZSTD(3)"}},
    recorded_at    {{dt}},
    kafka_partition UInt32,
    kafka_offset   UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(published)
ORDER BY (integration_id, user_id, published, id)
{{ttl "published"}}{{settings}}
