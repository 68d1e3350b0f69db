REVOKE SELECT ON tenantkit.alembic_version FROM @app_role@, @service_role@;
