-- tenantkit 0014 downgrade on Citus, step 2 (after 0006's and 0010's files ran
-- again): nothing reads the mirrors any more.
DROP FUNCTION IF EXISTS tenantkit._binding_stamped();
DROP FUNCTION IF EXISTS tenantkit._citus_mirror();
DROP FUNCTION IF EXISTS tenantkit._citus_mirror_truncate();
DROP FUNCTION IF EXISTS tenantkit._citus_mirrored();
DROP TABLE IF EXISTS tenantkit._citus_settings, tenantkit._citus_binding_keys,
    tenantkit._citus_orgs, tenantkit._citus_users, tenantkit._citus_memberships,
    tenantkit._citus_role_mappings, tenantkit._citus_roles, tenantkit._citus_api_keys;
