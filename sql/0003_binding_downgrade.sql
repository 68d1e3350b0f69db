-- tenantkit 0003 downgrade: the 0001 definitions, without the binding stamp.

CREATE OR REPLACE VIEW tenantkit._bound_membership AS
    SELECT m.org_id, m.user_id, m.role, m.additional_roles
    FROM tenantkit.memberships AS m
    JOIN tenantkit.users AS u ON u.user_id = m.user_id
    WHERE m.org_id = nullif(pg_catalog.current_setting('tenantkit.org_id', true), '')::uuid
      AND m.user_id = nullif(pg_catalog.current_setting('tenantkit.user_id', true), '')::uuid
      AND m.status = 'active'
      AND u.enabled
      AND NOT u.locked;

CREATE OR REPLACE FUNCTION tenantkit.current_user_id() RETURNS uuid
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = ''
AS $$
BEGIN
    RETURN nullif(pg_catalog.current_setting('tenantkit.user_id', true), '')::uuid;
END
$$;
