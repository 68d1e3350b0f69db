-- tenantkit 0006 downgrade: unsigned binding (0005's functions and views).

DROP FUNCTION tenantkit.binding_key_check(text, text);
DROP FUNCTION tenantkit.bound_user_id();

CREATE OR REPLACE FUNCTION tenantkit.current_user_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN CASE
        WHEN pg_catalog.current_setting('tenantkit.bound', true)
             = EXTRACT(epoch FROM pg_catalog.now())::pg_catalog.numeric::pg_catalog.text
        THEN nullif(pg_catalog.current_setting('tenantkit.user_id', true), '')::pg_catalog.uuid
    END;
ALTER FUNCTION tenantkit.current_user_id() SECURITY INVOKER RESET ALL;

CREATE OR REPLACE VIEW tenantkit._bound_membership AS
    SELECT m.org_id, m.user_id, m.role, m.additional_roles
    FROM tenantkit.memberships AS m
    JOIN tenantkit.users AS u ON u.user_id = m.user_id
    WHERE m.org_id = nullif(pg_catalog.current_setting('tenantkit.org_id', true), '')::uuid
      AND m.user_id = nullif(pg_catalog.current_setting('tenantkit.user_id', true), '')::uuid
      AND pg_catalog.current_setting('tenantkit.bound', true)
          = EXTRACT(epoch FROM pg_catalog.now())::pg_catalog.numeric::pg_catalog.text
      AND m.status = 'active'
      AND u.enabled
      AND NOT u.locked;

DROP VIEW tenantkit._verified_binding;
DROP TABLE tenantkit.binding_keys;
ALTER TABLE tenantkit.settings DROP COLUMN signed_binding;
REVOKE UPDATE (users_can_create_orgs, all_users_must_be_in_org, max_orgs_per_user, org_word,
               updated_at, max_invite_expiry)
    ON tenantkit.settings FROM @service_role@;
GRANT UPDATE ON tenantkit.settings TO @service_role@;
