-- Whether tenantkit's schema and its own version table exist, and whether the
-- doctor's role may read the version and the role mappings (the owner may).
SELECT pg_catalog.to_regnamespace('tenantkit') IS NOT NULL AS has_schema,
       pg_catalog.to_regclass('tenantkit.alembic_version') IS NOT NULL AS has_version_table,
       COALESCE(pg_catalog.has_table_privilege(
           pg_catalog.to_regclass('tenantkit.alembic_version')::oid, 'SELECT'), false)
           AS can_read_version,
       COALESCE(pg_catalog.has_table_privilege(
           pg_catalog.to_regclass('tenantkit.roles')::oid, 'SELECT'), false) AS can_read_roles
