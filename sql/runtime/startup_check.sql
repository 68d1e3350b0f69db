-- The startup check's questions besides the safety gate: who the app connects as,
-- whether tenantkit's schema is there, and whether its version can be read
-- (migration 0008 grants SELECT on it to the app and service roles).
SELECT current_user::text AS role,
       pg_catalog.to_regnamespace('tenantkit') IS NOT NULL AS has_schema,
       COALESCE(pg_catalog.has_table_privilege(
           pg_catalog.to_regclass('tenantkit.alembic_version')::oid, 'SELECT'), false)
           AS can_read_version
