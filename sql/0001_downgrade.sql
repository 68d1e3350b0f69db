-- tenantkit 0001 downgrade: drops every object 0001 created. The schema itself
-- stays, because it holds Alembic's version table for tenantkit.

DROP TABLE IF EXISTS
    tenantkit.audit_log,
    tenantkit.feature_flags,
    tenantkit.api_keys,
    tenantkit.invites,
    tenantkit.memberships,
    tenantkit.users,
    tenantkit.orgs,
    tenantkit.roles,
    tenantkit.role_mappings,
    tenantkit.settings
CASCADE;

DROP FUNCTION IF EXISTS
    tenantkit.refuse_tenant_change(),
    tenantkit.can_assign_roles(text, text[]),
    tenantkit.is_member(uuid),
    tenantkit.has_all_permissions(text[]),
    tenantkit.has_permission(text),
    tenantkit.has_role(text),
    tenantkit.has_min_role(text),
    tenantkit.current_role(),
    tenantkit.current_org_id(),
    tenantkit.current_user_id(),
    tenantkit._refuse_change(),
    tenantkit._prepare_invite(),
    tenantkit._check_membership(),
    tenantkit._check_roles(uuid, text, text[]),
    tenantkit._normalize_user(),
    tenantkit._normalize_org();

DROP VIEW IF EXISTS tenantkit._bound_permissions, tenantkit._bound_member,
    tenantkit._bound_membership;

REVOKE ALL ON SCHEMA tenantkit FROM @app_role@, @service_role@;
