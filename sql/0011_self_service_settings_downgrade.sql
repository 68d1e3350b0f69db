-- tenantkit 0011 downgrade: the doors go; the invite readers are 0003's and 0007's again.

DROP FUNCTION IF EXISTS
    tenantkit.remove_current_org_domain(uuid, text),
    tenantkit.update_current_org_settings(uuid, jsonb);
DROP FUNCTION IF EXISTS tenantkit.current_org_invites();

CREATE FUNCTION tenantkit.current_org_invites()
    RETURNS TABLE (invite_id uuid, org_id uuid, email text, invitee_user_id uuid, role text,
                   additional_roles text[], inviter_user_id uuid, state text,
                   created_at timestamptz, expires_at timestamptz, accepted_at timestamptz,
                   accepted_by uuid)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_org uuid := tenantkit.current_org_id();
BEGIN
    IF v_org IS NULL OR NOT tenantkit.has_permission('tenantkit::can_invite') THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT i.invite_id, i.org_id, i.email, i.invitee_user_id, i.role, i.additional_roles,
               i.inviter_user_id, i.state, i.created_at, i.expires_at, i.accepted_at,
               i.accepted_by
        FROM tenantkit.invites AS i
        WHERE i.org_id = v_org AND i.state = 'pending';
END
$$;

CREATE FUNCTION tenantkit.current_org_invite_deliveries()
    RETURNS TABLE (invite_id uuid, delivery_state text, delivery_attempts integer,
                   delivery_error text, delivered_at timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_org uuid := tenantkit.current_org_id();
BEGIN
    IF v_org IS NULL OR NOT tenantkit.has_permission('tenantkit::can_invite') THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT i.invite_id, i.delivery_state, i.delivery_attempts, i.delivery_error,
               i.delivered_at
        FROM tenantkit.invites AS i
        WHERE i.org_id = v_org AND i.state = 'pending';
END
$$;

REVOKE ALL ON FUNCTION
    tenantkit.current_org_invites(),
    tenantkit.current_org_invite_deliveries()
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    tenantkit.current_org_invites(),
    tenantkit.current_org_invite_deliveries()
TO @app_role@;
