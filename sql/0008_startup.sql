-- The startup check (tenantkit.startup) runs as the app role and compares
-- tenantkit's revision with head: the version table is readable, nothing else.
GRANT SELECT ON tenantkit.alembic_version TO @app_role@, @service_role@;
