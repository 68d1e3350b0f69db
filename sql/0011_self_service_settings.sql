-- tenantkit 0011: end users edit their org's domain settings and 2FA deadline;
-- one reader of the bound org's invites (issue 13, the remaining points).
--
--   current_org_invites()                 now with the delivery columns, so the
--                                         near-copy current_org_invite_deliveries()
--                                         (0007) goes: one definition of which
--                                         invites an inviter reads;
--   update_current_org_settings(org, c)   domain_autojoin / domain_restrict
--                                         (can_update_org) and require_2fa_by (the
--                                         org's top role), for the bound org only;
--   remove_current_org_domain(org, d)     take a verified domain off the bound org
--                                         (can_update_org); never add one.
--
-- Why doors and not column grants: a policy sees the new row only, so it
-- cannot say "this column needs that permission"; and an UPDATE grant on
-- orgs.domain would let an end user *add* an unverified domain (auto-joining
-- anyone of gmail.com into their org). Each door checks its own rule, changes
-- only its columns of the bound org, and audits the change as the bound user.
-- The app role's column privileges on orgs stay (name, metadata).

-- --- 1. One reader of the bound org's invites ------------------------------------

DROP FUNCTION tenantkit.current_org_invite_deliveries();
DROP FUNCTION tenantkit.current_org_invites();

-- The bound org's pending invites (expired ones too), for a member with
-- can_invite as the invites policy says, with created_at and how sending went,
-- without the token hash. Driven by invites_org_pending (org_id, created_at, invite_id).
CREATE FUNCTION tenantkit.current_org_invites()
    RETURNS TABLE (invite_id uuid, org_id uuid, email text, invitee_user_id uuid, role text,
                   additional_roles text[], inviter_user_id uuid, state text,
                   created_at timestamptz, expires_at timestamptz, accepted_at timestamptz,
                   accepted_by uuid, delivery_state text, delivery_attempts integer,
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
        SELECT i.invite_id, i.org_id, i.email, i.invitee_user_id, i.role, i.additional_roles,
               i.inviter_user_id, i.state, i.created_at, i.expires_at, i.accepted_at,
               i.accepted_by, i.delivery_state, i.delivery_attempts, i.delivery_error,
               i.delivered_at
        FROM tenantkit.invites AS i
        WHERE i.org_id = v_org AND i.state = 'pending';
END
$$;

-- --- 2. Domain settings and the 2FA deadline ---------------------------------------

-- p_changes: a JSON object with any of domain_autojoin (boolean), domain_restrict
-- (boolean), require_2fa_by (an ISO 8601 timestamp, or null to clear). Nothing
-- else: an unknown key is refused, not ignored.
--   domain_autojoin, domain_restrict: tenantkit::can_update_org (like asking for a
--     domain). They act on verified domains only, which the backend vouches for.
--   require_2fa_by: the org's top role only (rank 1 of its mapping; in a
--     multi-role mapping, holding it), as PropelAuth's concepts say: "only org
--     owners (or the top level role)" set it. It binds every member, Admins too.
-- Another org, or no live membership: not found (as every end-user read).
CREATE FUNCTION tenantkit.update_current_org_settings(p_org_id uuid, p_changes jsonb)
    RETURNS uuid
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_org   uuid := tenantkit.current_org_id();
    v_key   text;
    v_top   text;
    v_2fa   timestamptz;
BEGIN
    IF v_org IS NULL OR v_org IS DISTINCT FROM p_org_id THEN
        RAISE EXCEPTION 'org not found' USING ERRCODE = 'P0002';
    END IF;
    IF p_changes IS NULL OR pg_catalog.jsonb_typeof(p_changes) <> 'object' THEN
        RAISE EXCEPTION 'the changes must be a JSON object' USING ERRCODE = '22023';
    END IF;
    FOR v_key IN SELECT k FROM pg_catalog.jsonb_object_keys(p_changes) AS k LOOP
        IF v_key NOT IN ('domain_autojoin', 'domain_restrict', 'require_2fa_by') THEN
            RAISE EXCEPTION 'is not a setting this function changes' USING ERRCODE = '22023',
                COLUMN = v_key;
        END IF;
        IF v_key <> 'require_2fa_by'
           AND pg_catalog.jsonb_typeof(p_changes -> v_key) <> 'boolean' THEN
            RAISE EXCEPTION 'must be true or false' USING ERRCODE = '22023', COLUMN = v_key;
        END IF;
    END LOOP;
    IF p_changes = '{}'::jsonb THEN
        RETURN v_org;
    END IF;

    IF (p_changes ? 'domain_autojoin' OR p_changes ? 'domain_restrict')
       AND NOT tenantkit.has_permission('tenantkit::can_update_org') THEN
        RAISE EXCEPTION 'changing domain_autojoin or domain_restrict needs tenantkit::can_update_org'
            USING ERRCODE = '42501';
    END IF;
    IF p_changes ? 'require_2fa_by' THEN
        SELECT r.name INTO v_top
        FROM tenantkit._bound_member AS b
        JOIN tenantkit.roles AS r ON r.mapping_id = b.mapping_id
        ORDER BY r.rank
        LIMIT 1;
        IF v_top IS NULL OR NOT tenantkit.has_min_role(v_top) THEN
            RAISE EXCEPTION 'only the org''s top role (%) sets require_2fa_by',
                COALESCE(v_top, 'none') USING ERRCODE = '42501';
        END IF;
        IF pg_catalog.jsonb_typeof(p_changes -> 'require_2fa_by') = 'string' THEN
            BEGIN
                v_2fa := (p_changes ->> 'require_2fa_by')::timestamptz;
            EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow THEN
                RAISE EXCEPTION 'must be a timestamp' USING ERRCODE = '22023',
                    COLUMN = 'require_2fa_by';
            END;
        ELSIF pg_catalog.jsonb_typeof(p_changes -> 'require_2fa_by') <> 'null' THEN
            RAISE EXCEPTION 'must be a timestamp or null' USING ERRCODE = '22023',
                COLUMN = 'require_2fa_by';
        END IF;
    END IF;

    UPDATE tenantkit.orgs AS o SET
        domain_autojoin = CASE WHEN p_changes ? 'domain_autojoin'
                               THEN (p_changes ->> 'domain_autojoin')::boolean
                               ELSE o.domain_autojoin END,
        domain_restrict = CASE WHEN p_changes ? 'domain_restrict'
                               THEN (p_changes ->> 'domain_restrict')::boolean
                               ELSE o.domain_restrict END,
        require_2fa_by = CASE WHEN p_changes ? 'require_2fa_by' THEN v_2fa
                              ELSE o.require_2fa_by END
     WHERE o.org_id = v_org;
    PERFORM tenantkit._audit(
        v_org, 'user', tenantkit.current_user_id(), 'org.updated', 'org', v_org::text,
        pg_catalog.jsonb_build_object('changed', (
            SELECT pg_catalog.jsonb_agg(k ORDER BY k)
            FROM pg_catalog.jsonb_object_keys(p_changes) AS k)));
    RETURN v_org;
END
$$;

-- --- 3. Removing a verified domain ---------------------------------------------------

-- Takes p_domain off the bound org (its primary domain or an extra one) and
-- drops its verification record; adding one stays the backend's (or DNS's).
-- The primary domain cannot go while the org restricts members to its domains
-- (the backend's rule too). A pending domain is withdrawn through the table
-- (org_domain_verifications' DELETE policy), not here.
CREATE FUNCTION tenantkit.remove_current_org_domain(p_org_id uuid, p_domain text)
    RETURNS uuid
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_org   tenantkit.orgs;
    v_bound uuid := tenantkit.current_org_id();
BEGIN
    IF v_bound IS NULL OR v_bound IS DISTINCT FROM p_org_id THEN
        RAISE EXCEPTION 'org not found' USING ERRCODE = 'P0002';
    END IF;
    IF NOT tenantkit.has_permission('tenantkit::can_update_org') THEN
        RAISE EXCEPTION 'removing a domain needs tenantkit::can_update_org' USING ERRCODE = '42501';
    END IF;
    SELECT * INTO v_org FROM tenantkit.orgs WHERE org_id = v_bound FOR UPDATE;
    IF p_domain IS NOT DISTINCT FROM v_org.domain THEN
        IF v_org.domain_restrict THEN
            RAISE EXCEPTION 'turn off domain_restrict before removing the primary domain'
                USING ERRCODE = '22023', COLUMN = 'domain';
        END IF;
        UPDATE tenantkit.orgs SET domain = NULL WHERE org_id = v_bound;
    ELSIF p_domain = ANY (v_org.extra_domains) THEN
        UPDATE tenantkit.orgs SET extra_domains = pg_catalog.array_remove(extra_domains, p_domain)
         WHERE org_id = v_bound;
    ELSE
        RAISE EXCEPTION 'domain not found' USING ERRCODE = 'P0002';
    END IF;
    DELETE FROM tenantkit.org_domain_verifications WHERE org_id = v_bound AND domain = p_domain;
    PERFORM tenantkit._audit(v_bound, 'user', tenantkit.current_user_id(), 'org.domain_removed',
                             'org', v_bound::text,
                             pg_catalog.jsonb_build_object('domain', p_domain));
    RETURN v_bound;
END
$$;

-- --- EXECUTE: the app role's doors, nobody else's -------------------------------------

REVOKE ALL ON FUNCTION
    tenantkit.current_org_invites(),
    tenantkit.update_current_org_settings(uuid, jsonb),
    tenantkit.remove_current_org_domain(uuid, text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    tenantkit.current_org_invites(),
    tenantkit.update_current_org_settings(uuid, jsonb),
    tenantkit.remove_current_org_domain(uuid, text)
TO @app_role@;
