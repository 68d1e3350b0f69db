-- The session objects an earlier user left behind, when its statements'
-- command tags said it might have (or the connection has a temporary schema):
-- holdable cursors, LISTEN registrations, SQL-level prepared statements,
-- temporary objects, session-level tenantkit.* values. Tens of microseconds on
-- the server, so only when needed; it rides the same statement as
-- checkout_probe.sql.
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_cursors WHERE is_holdable)
           OR EXISTS (SELECT 1 FROM pg_catalog.pg_listening_channels())
           OR EXISTS (SELECT 1 FROM pg_catalog.pg_prepared_statements WHERE from_sql)
           OR EXISTS (SELECT 1 FROM pg_catalog.pg_class
                      WHERE relnamespace = pg_catalog.pg_my_temp_schema())
           OR COALESCE(pg_catalog.current_setting('tenantkit.user_id', true), '') <> ''
           OR COALESCE(pg_catalog.current_setting('tenantkit.org_id', true), '') <> ''
           OR COALESCE(pg_catalog.current_setting('tenantkit.bound', true), '') <> ''
           AS leftovers
