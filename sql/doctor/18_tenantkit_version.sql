-- The revision tenantkit's schema is at (read only once the table is known to exist).
SELECT version_num FROM tenantkit.alembic_version
