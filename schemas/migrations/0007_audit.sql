-- One row per human action (clarion.audit, internal/audit.Event): sign-ins
-- and their failures, sign-outs, verdicts, approvals and rejections,
-- integration changes, tokens issued and revoked. Who (actor_*: the
-- principal, its role and how it authenticated), when (at, the server's
-- clock at the action), from where (remote: the client address, an IPv6
-- client by its /64, so a String on every server) and what changed
-- (details, the event's details object as JSON text: ClickHouse 18.16 has
-- no Map type). Every column derives from the event, and the id is unique,
-- so ReplacingMergeTree collapses the copies a retried insert or a replayed
-- offset writes; `FROM audit FINAL` shows each action once. Old servers
-- get DateTime and String for {{dt}} and {{lc}}, and no TTL.
CREATE TABLE IF NOT EXISTS {{.DB}}.audit
(
    id              String,
    at              {{dt}},
    action          {{lc}},
    actor_id        String,
    actor_name      String,
    actor_email     String,
    actor_role      {{lc}},
    via             {{lc}},
    remote          String,
    target          {{lc}},
    target_id       String,
    alert_id        String,
    integration_id  {{lc}},
    outcome         {{lc}},
    details         String,
    raw             String{{codec "ZSTD(3)"}},
    recorded_at     {{dt}},
    kafka_partition UInt32,
    kafka_offset    UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (action, actor_id, at, id)
{{ttl "at"}}{{settings}}
