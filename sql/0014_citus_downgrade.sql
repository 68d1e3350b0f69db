-- tenantkit 0014 downgrade (plain PostgreSQL; on Citus 0014_citus_reference_downgrade.sql first).
DROP FUNCTION IF EXISTS tenantkit.binding_backend();
