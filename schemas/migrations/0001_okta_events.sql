-- One row per Okta LogEvent (clarion.okta.events). The raw JSON is the
-- source of truth; the other columns are what analysts filter on.
-- ReplacingMergeTree collapses the copies of one uuid that hook and poll (or
-- a retried insert) deliver: every copy has the same sorting key because all
-- of it is derived from the event itself. Per-user queries use the sorting
-- key; per-IP queries read the 16-byte ip column of the months they cover (no
-- bloom filter on IPv6: ClickHouse issue 58885, wrong results after upgrades).
CREATE TABLE IF NOT EXISTS {{.DB}}.okta_events
(
    uuid               String,
    published          {{dt}}{{codec "Delta, ZSTD(1)"}},
    received_at        {{dt}}{{codec "Delta, ZSTD(1)"}},
    event_type         {{lc}},
    severity           {{lc}},
    display_message    {{lc}},
    outcome            {{lc}},
    outcome_reason     String,
    actor_id           String,
    actor_login        String,
    actor_name         String,
    user_key           String,
    ip                 {{ip}},
    city               {{lc}},
    state              {{lc}},
    country            {{lc}},
    postal_code        String,
    lat                Float64,
    lon                Float64,
    h3                 UInt64,
    asn                UInt32,
    as_org             {{lc}},
    isp                {{lc}},
    domain             {{lc}},
    is_proxy           UInt8,
    user_agent         String{{codec "ZSTD(1)"}},
    browser            {{lc}},
    os                 {{lc}},
    device             {{lc}},
    device_fingerprint String,
    threat_suspected   UInt8,
    behaviors          String,
    risk               String,
    session_id         String,
    integration_id     {{lc}},
    source             {{lc}},
    raw                String{{codec "ZSTD(3)"}},
    kafka_partition    UInt32,
    kafka_offset       UInt64{{if .Modern}},
    INDEX idx_actor_login actor_login TYPE bloom_filter GRANULARITY 4{{end}}
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(published)
ORDER BY (integration_id, user_key, published, uuid)
{{ttl "published"}}{{settings}}
