-- Response actions (clarion.actions), versioned like alerts: the id is
-- alert + kind and never changes its requested_at, so partitions by month
-- keep every version of one action together.
CREATE TABLE IF NOT EXISTS {{.DB}}.actions
(
    id              String,
    alert_id        String,
    integration_id  {{lc}},
    user_id         String,
    user_login      String,
    kind            {{lc}},
    state           {{lc}},
    requested_at    {{dt}},
    decided_by      String,
    executed_at     {{dt}},
    result          String{{codec "ZSTD(3)"}},
    version         UInt64,
    raw             String{{codec "ZSTD(3)"}},
    recorded_at     {{dt}},
    kafka_partition UInt32,
    kafka_offset    UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(requested_at)
ORDER BY (integration_id, alert_id, id)
{{ttl "requested_at"}}{{settings}}
