-- tenantkit 0015 downgrade: 0001's grants on the settings row again.
GRANT INSERT, DELETE ON tenantkit.settings TO @service_role@;
