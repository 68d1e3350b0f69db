-- tenantkit 0001: grants and row-level security on tenantkit's own tables.
--
-- The app role serves end users: it sees only the bound, verified org, and
-- changes memberships or invites only with the matching tenantkit:: permission.
-- The service role does cross-tenant backend work through explicit policies,
-- so it needs no BYPASSRLS. The owner (who runs this) is not subject to these
-- policies: RLS is ENABLEd, not FORCEd, because the SECURITY DEFINER functions
-- run as the owner and must read memberships.

REVOKE ALL ON SCHEMA tenantkit FROM PUBLIC;
GRANT USAGE ON SCHEMA tenantkit TO @app_role@, @service_role@;

REVOKE ALL ON ALL TABLES IN SCHEMA tenantkit FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA tenantkit FROM PUBLIC;

-- Functions policies call: the app role only (the owner keeps EXECUTE).
GRANT EXECUTE ON FUNCTION
    tenantkit.current_user_id(),
    tenantkit.current_org_id(),
    tenantkit.current_role(),
    tenantkit.has_min_role(text),
    tenantkit.has_role(text),
    tenantkit.has_permission(text),
    tenantkit.has_all_permissions(text[]),
    tenantkit.is_member(uuid),
    tenantkit.can_assign_roles(text, text[])
TO @app_role@;

-- A trigger function cannot be called directly; PUBLIC may EXECUTE it so that
-- app tables owned by another role can attach it (CREATE TRIGGER checks EXECUTE).
GRANT EXECUTE ON FUNCTION tenantkit.refuse_tenant_change() TO PUBLIC;

-- App role: never TRUNCATE, TRIGGER or REFERENCES; column lists where a plan
-- limit or an isolation flag must stay out of end users' reach.
GRANT SELECT ON tenantkit.orgs, tenantkit.users, tenantkit.memberships, tenantkit.invites,
               tenantkit.api_keys, tenantkit.feature_flags, tenantkit.audit_log,
               tenantkit.role_mappings, tenantkit.roles
    TO @app_role@;
GRANT UPDATE (name, metadata) ON tenantkit.orgs TO @app_role@;
GRANT DELETE ON tenantkit.orgs TO @app_role@;
GRANT INSERT (org_id, user_id, role, additional_roles, status),
      UPDATE (role, additional_roles, status),
      DELETE ON tenantkit.memberships TO @app_role@;
GRANT INSERT (org_id, email, invitee_user_id, role, additional_roles, inviter_user_id,
              token_hash, expires_at),
      UPDATE (state),
      DELETE ON tenantkit.invites TO @app_role@;
GRANT INSERT (org_id, kind, user_id, name, secret_hash, prefix, permissions, metadata,
              created_by, expires_at),
      UPDATE (name, metadata, archived_at, last_used_at) ON tenantkit.api_keys TO @app_role@;
GRANT INSERT, UPDATE (enabled, value, updated_at), DELETE ON tenantkit.feature_flags
    TO @app_role@;
GRANT INSERT (org_id, actor_user_id, actor_kind, action, target_type, target_id, metadata)
    ON tenantkit.audit_log TO @app_role@;

-- Service role: everything but TRUNCATE/TRIGGER/REFERENCES; the audit log stays append-only.
GRANT SELECT, INSERT, UPDATE, DELETE ON tenantkit.settings, tenantkit.role_mappings,
      tenantkit.roles, tenantkit.orgs, tenantkit.users, tenantkit.memberships,
      tenantkit.invites, tenantkit.api_keys, tenantkit.feature_flags
    TO @service_role@;
GRANT SELECT, INSERT ON tenantkit.audit_log TO @service_role@;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['settings', 'role_mappings', 'roles', 'orgs', 'users',
                             'memberships', 'invites', 'api_keys', 'feature_flags', 'audit_log']
    LOOP
        EXECUTE pg_catalog.format('ALTER TABLE tenantkit.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE pg_catalog.format(
            'CREATE POLICY service_all ON tenantkit.%I AS PERMISSIVE FOR ALL TO @service_role@'
            ' USING (true) WITH CHECK (true)', t);
    END LOOP;
END
$$;

-- orgs: a member sees their org; updating needs can_update_org, deleting can_delete_org.
CREATE POLICY member_select ON tenantkit.orgs FOR SELECT TO @app_role@
    USING (org_id = (SELECT tenantkit.current_org_id()));
CREATE POLICY member_update ON tenantkit.orgs FOR UPDATE TO @app_role@
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_update_org')))
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id()));
CREATE POLICY member_delete ON tenantkit.orgs FOR DELETE TO @app_role@
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_delete_org')));

-- users: the members of the bound org.
CREATE POLICY member_select ON tenantkit.users FOR SELECT TO @app_role@
    USING (user_id IN (SELECT m.user_id FROM tenantkit.memberships AS m
                       WHERE m.org_id = (SELECT tenantkit.current_org_id())));

-- memberships: read within the org; add with can_invite, change with
-- can_change_roles, remove with can_remove_users (or leave the org yourself).
-- can_assign_roles() on old and new rows: no one touches or grants a role above their own.
CREATE POLICY member_select ON tenantkit.memberships FOR SELECT TO @app_role@
    USING (org_id = (SELECT tenantkit.current_org_id()));
CREATE POLICY member_insert ON tenantkit.memberships FOR INSERT TO @app_role@
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id())
                AND (SELECT tenantkit.has_permission('tenantkit::can_invite'))
                AND tenantkit.can_assign_roles(role, additional_roles));
CREATE POLICY member_update ON tenantkit.memberships FOR UPDATE TO @app_role@
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_change_roles'))
           AND tenantkit.can_assign_roles(role, additional_roles))
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id())
                AND (SELECT tenantkit.has_permission('tenantkit::can_change_roles'))
                AND tenantkit.can_assign_roles(role, additional_roles));
CREATE POLICY member_delete ON tenantkit.memberships FOR DELETE TO @app_role@
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (user_id = (SELECT tenantkit.current_user_id())
                OR ((SELECT tenantkit.has_permission('tenantkit::can_remove_users'))
                    AND tenantkit.can_assign_roles(role, additional_roles))));

-- invites: only members who may invite see or change the org's invites.
CREATE POLICY member_select ON tenantkit.invites FOR SELECT TO @app_role@
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_invite')));
CREATE POLICY member_insert ON tenantkit.invites FOR INSERT TO @app_role@
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id())
                AND (SELECT tenantkit.has_permission('tenantkit::can_invite'))
                AND tenantkit.can_assign_roles(role, additional_roles)
                AND inviter_user_id = (SELECT tenantkit.current_user_id()));
CREATE POLICY member_update ON tenantkit.invites FOR UPDATE TO @app_role@
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_invite')))
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id()));
CREATE POLICY member_delete ON tenantkit.invites FOR DELETE TO @app_role@
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_invite')));

-- api_keys: org keys of the bound org, with can_manage_api_keys. Integration
-- keys have no org and are never visible to end users.
CREATE POLICY member_all ON tenantkit.api_keys FOR ALL TO @app_role@
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_manage_api_keys')))
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id())
                AND (SELECT tenantkit.has_permission('tenantkit::can_manage_api_keys')));

-- feature_flags: members read; changing them needs can_update_org.
CREATE POLICY member_select ON tenantkit.feature_flags FOR SELECT TO @app_role@
    USING (org_id = (SELECT tenantkit.current_org_id()));
CREATE POLICY member_write ON tenantkit.feature_flags FOR ALL TO @app_role@
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_update_org')))
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id())
                AND (SELECT tenantkit.has_permission('tenantkit::can_update_org')));

-- audit_log: readable with can_view_audit_log; members append rows as themselves.
CREATE POLICY member_select ON tenantkit.audit_log FOR SELECT TO @app_role@
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_view_audit_log')));
CREATE POLICY member_insert ON tenantkit.audit_log FOR INSERT TO @app_role@
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id())
                AND actor_user_id = (SELECT tenantkit.current_user_id()));

-- role mappings: readable by anyone bound to an org (to show role pickers).
CREATE POLICY member_select ON tenantkit.role_mappings FOR SELECT TO @app_role@
    USING ((SELECT tenantkit.current_org_id()) IS NOT NULL);
CREATE POLICY member_select ON tenantkit.roles FOR SELECT TO @app_role@
    USING ((SELECT tenantkit.current_org_id()) IS NOT NULL);

GRANT USAGE ON ALL SEQUENCES IN SCHEMA tenantkit TO @app_role@, @service_role@;
