-- What an earlier user of this pooled connection could have left behind
-- without tenantkit's cursors noticing: the first round trip after each
-- checkout carries this, as extra columns of the bind statement (no extra
-- round trip, a few microseconds on the server). Statements that create
-- session objects (DECLARE, LISTEN, PREPARE, DO, CREATE, SET ...) are noticed
-- client-side by their command tags, and checkout_probe_objects.sql then looks
-- for the objects; a session-level tenantkit.* value binds nothing anyway (the
-- binding stamp, see bind.sql).
--
-- temp_schema: the session has a temporary schema; from then on every
--   checkout runs the objects probe too, which checks whether it holds anything.
-- settings: who the statements run as, where unqualified names resolve and
--   whether row-level security applies, as set_config(..., false) inside a
--   SELECT could leave them (a SET is seen by its tag, and resets everything);
--   the client compares them with the baseline recorded at first use (after
--   the app's own connect-time SETs).
--   Also any session-level tenantkit.* value (set_config(..., false) in a
--   SELECT): it binds nothing (the stamp), but the next user must not read an
--   earlier user's ids either. Unset and '' (what a transaction-local bind
--   leaves) both count as clean.
-- pg_advisory_unlock_all(): session advisory locks are released before the
--   new user's first statement.
SELECT pg_catalog.pg_my_temp_schema() <> 0 AS temp_schema,
       pg_catalog.concat_ws(
           pg_catalog.chr(31),
           pg_catalog.current_setting('role'),
           pg_catalog.current_setting('search_path'),
           pg_catalog.current_setting('row_security'),
           NULLIF(pg_catalog.current_setting('tenantkit.user_id', true), ''),
           NULLIF(pg_catalog.current_setting('tenantkit.org_id', true), ''),
           NULLIF(pg_catalog.current_setting('tenantkit.bound', true), '')) AS settings,
       pg_catalog.pg_advisory_unlock_all()
