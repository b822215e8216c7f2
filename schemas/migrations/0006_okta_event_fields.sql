-- What real Okta events carry beyond the classic sign-in fields (issue 12).
--
-- One ADD COLUMN per ALTER, as in 0005: 18.16 has no ADD COLUMN IF NOT
-- EXISTS, and Migrate treats "column already exists" from an ADD COLUMN as
-- done, so an interrupted run can simply run again. Rows stored before
-- this migration read '' (absent) in every new column.
--
-- dt_hash: debugContext.debugData.dtHash (Okta's device-token hash, the
-- same across one session's events). risk_level, risk_reasons and
-- security_behaviors: debugData.logOnlySecurityData (a JSON document in a
-- string), behaviours written as "{New City=POSITIVE, ...}" with names
-- sorted. root_session_id: authenticationContext.rootSessionId. device_*:
-- the top-level device object (device_managed is 'true', 'false' or ''
-- when Okta does not say).
ALTER TABLE {{.DB}}.okta_events {{addcol}} dt_hash String AFTER device_fingerprint;
ALTER TABLE {{.DB}}.okta_events {{addcol}} risk_level {{lc}} AFTER risk;
ALTER TABLE {{.DB}}.okta_events {{addcol}} risk_reasons String AFTER risk_level;
ALTER TABLE {{.DB}}.okta_events {{addcol}} security_behaviors String AFTER risk_reasons;
ALTER TABLE {{.DB}}.okta_events {{addcol}} root_session_id String AFTER session_id;
ALTER TABLE {{.DB}}.okta_events {{addcol}} device_id String AFTER root_session_id;
ALTER TABLE {{.DB}}.okta_events {{addcol}} device_name String AFTER device_id;
ALTER TABLE {{.DB}}.okta_events {{addcol}} device_managed {{lc}} AFTER device_name;
ALTER TABLE {{.DB}}.okta_events {{addcol}} device_platform {{lc}} AFTER device_managed;
