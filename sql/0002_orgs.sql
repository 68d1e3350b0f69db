-- tenantkit 0002: what organization management needs beyond the core schema.
--
-- Functions here do what row-level security cannot express for the caller:
-- accepting an invite (the invitee is not a member yet), creating an org as its
-- first Owner (there is no org to be a member of yet) and joining orgs by email
-- domain. Each writes its own audit row, in the same transaction as the change.
-- New SQLSTATEs (class 'TK', see 0001_triggers.sql for TK001..TK005, TK009):
--   TK006 invite expired       TK007 invite no longer pending
--   TK008 end users may not create orgs in this project

-- Paging and lookups the management API and its benchmark rely on.
CREATE INDEX users_email_order ON tenantkit.users (email, user_id);
CREATE INDEX invites_org_pending ON tenantkit.invites (org_id, created_at, invite_id)
    WHERE state = 'pending';
CREATE INDEX memberships_org_created ON tenantkit.memberships (org_id, created_at, user_id);

-- The role a mapping puts first (p_highest) or last, for the org's mapping.
-- Internal roles are never handed out implicitly.
CREATE FUNCTION tenantkit._mapping_role(p_org_id uuid, p_highest boolean) RETURNS text
    LANGUAGE sql STABLE
    SET search_path = ''
AS $$
    SELECT r.name
    FROM tenantkit.orgs AS o
    JOIN tenantkit.role_mappings AS rm
      ON rm.name = o.custom_role_mapping_name
      OR (o.custom_role_mapping_name IS NULL AND rm.is_default)
    JOIN tenantkit.roles AS r ON r.mapping_id = rm.mapping_id AND NOT r.is_internal
    WHERE o.org_id = p_org_id
    ORDER BY CASE WHEN p_highest THEN r.rank ELSE -r.rank END
    LIMIT 1
$$;

CREATE FUNCTION tenantkit._audit(
    p_org_id uuid, p_actor_kind text, p_actor_user_id uuid, p_action text,
    p_target_type text, p_target_id text, p_metadata jsonb
) RETURNS void
    LANGUAGE sql
    SET search_path = ''
AS $$
    INSERT INTO tenantkit.audit_log
        (org_id, actor_kind, actor_user_id, action, target_type, target_id, metadata)
    VALUES (p_org_id, p_actor_kind, p_actor_user_id, p_action, p_target_type, p_target_id,
            COALESCE(p_metadata, '{}'))
$$;

-- Invites must respect the org's domain restriction when they are sent, not
-- only when they are accepted (the membership trigger checks that again).
CREATE FUNCTION tenantkit._check_invite_domain() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_org     tenantkit.orgs;
    v_domain  text;
BEGIN
    SELECT * INTO v_org FROM tenantkit.orgs WHERE org_id = NEW.org_id;
    IF FOUND AND v_org.domain_restrict THEN
        v_domain := pg_catalog.lower(pg_catalog.split_part(NEW.email, '@', 2));
        IF v_domain <> v_org.domain AND NOT v_domain = ANY (v_org.extra_domains) THEN
            RAISE EXCEPTION 'org only admits users whose email domain is one of its domains'
                USING ERRCODE = 'TK002', COLUMN = 'email';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER invites_check_domain BEFORE INSERT ON tenantkit.invites
    FOR EACH ROW EXECUTE FUNCTION tenantkit._check_invite_domain();

-- Accepting an invite: the one place a non-member becomes a member without
-- someone else's permission, so it runs as the owner and checks everything
-- itself. The invite row is locked first: of two concurrent accepts one wins,
-- the other then sees state 'accepted' and gets TK007.
-- p_user_id NULL: the user with the invite's email in the org's isolation
-- scope, created (email confirmed) when there is none.
CREATE FUNCTION tenantkit.accept_invite_for(
    p_token text, p_user_id uuid, p_actor_kind text, p_actor_user_id uuid, p_actor_meta jsonb
) RETURNS TABLE (accepted_org_id uuid, accepted_user_id uuid)
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_invite  tenantkit.invites;
    v_org     tenantkit.orgs;
    v_user    tenantkit.users;
    v_scope   uuid;
BEGIN
    SELECT * INTO v_invite FROM tenantkit.invites AS i
    WHERE i.token_hash = pg_catalog.sha256(pg_catalog.convert_to(p_token, 'UTF8'))
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'invite not found' USING ERRCODE = 'P0002';
    END IF;
    IF v_invite.state <> 'pending' THEN
        RAISE EXCEPTION 'invite is % and can no longer be accepted', v_invite.state
            USING ERRCODE = 'TK007';
    END IF;
    IF v_invite.expires_at <= pg_catalog.now() THEN
        RAISE EXCEPTION 'invite expired at %', v_invite.expires_at USING ERRCODE = 'TK006';
    END IF;

    SELECT * INTO v_org FROM tenantkit.orgs WHERE org_id = v_invite.org_id;
    v_scope := CASE WHEN v_org.isolated THEN v_org.org_id END;
    IF p_user_id IS NOT NULL THEN
        SELECT * INTO v_user FROM tenantkit.users WHERE user_id = p_user_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'user not found' USING ERRCODE = 'P0002';
        END IF;
        IF v_user.user_id IS DISTINCT FROM v_invite.invitee_user_id
           AND v_user.email <> v_invite.email THEN
            RAISE EXCEPTION 'this invite was sent to another user' USING ERRCODE = '42501';
        END IF;
    ELSE
        SELECT * INTO v_user FROM tenantkit.users AS u
        WHERE u.email = v_invite.email AND u.isolated_org_id IS NOT DISTINCT FROM v_scope;
        IF NOT FOUND THEN
            INSERT INTO tenantkit.users (email, email_confirmed, isolated_org_id)
            VALUES (v_invite.email, true, v_scope)
            RETURNING * INTO v_user;
            PERFORM tenantkit._audit(v_org.org_id, p_actor_kind, p_actor_user_id, 'user.created',
                                     'user', v_user.user_id::text,
                                     COALESCE(p_actor_meta, '{}') || '{"via": "invite"}');
        END IF;
    END IF;
    IF NOT v_user.enabled OR v_user.locked THEN
        RAISE EXCEPTION 'the user is disabled or locked' USING ERRCODE = '42501';
    END IF;

    INSERT INTO tenantkit.memberships (org_id, user_id, role, additional_roles)
    VALUES (v_org.org_id, v_user.user_id, v_invite.role, v_invite.additional_roles);
    UPDATE tenantkit.invites
       SET state = 'accepted', accepted_at = pg_catalog.now(), accepted_by = v_user.user_id
     WHERE invite_id = v_invite.invite_id;
    PERFORM tenantkit._audit(
        v_org.org_id, p_actor_kind, p_actor_user_id, 'invite.accepted', 'invite',
        v_invite.invite_id::text,
        COALESCE(p_actor_meta, '{}') || pg_catalog.jsonb_build_object(
            'user_id', v_user.user_id, 'email', v_invite.email, 'role', v_invite.role,
            'additional_roles', v_invite.additional_roles));
    RETURN QUERY SELECT v_org.org_id, v_user.user_id;
END
$$;

-- The end user's door: the bound user accepts for themselves.
CREATE FUNCTION tenantkit.accept_invite(p_token text)
    RETURNS TABLE (accepted_org_id uuid, accepted_user_id uuid)
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_user uuid := tenantkit.current_user_id();
BEGIN
    IF v_user IS NULL THEN
        RAISE EXCEPTION 'no user is bound to this transaction' USING ERRCODE = '42501';
    END IF;
    RETURN QUERY SELECT * FROM tenantkit.accept_invite_for(p_token, v_user, 'user', v_user, NULL);
END
$$;

-- Self-service org creation: the bound user creates an org and becomes its
-- first (highest-ranked) role. Project settings and the user's own
-- can_create_orgs decide; the membership trigger enforces max orgs per user.
CREATE FUNCTION tenantkit.create_org_as_owner(p_org_id uuid, p_name text, p_metadata jsonb)
    RETURNS uuid
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_user     tenantkit.users;
    v_allowed  boolean;
    v_org_id   uuid := COALESCE(p_org_id, pg_catalog.gen_random_uuid());
BEGIN
    SELECT * INTO v_user FROM tenantkit.users WHERE user_id = tenantkit.current_user_id();
    IF NOT FOUND OR NOT v_user.enabled OR v_user.locked THEN
        RAISE EXCEPTION 'no enabled user is bound to this transaction' USING ERRCODE = '42501';
    END IF;
    SELECT users_can_create_orgs INTO v_allowed FROM tenantkit.settings;
    IF NOT v_allowed THEN
        RAISE EXCEPTION 'end users may not create orgs in this project' USING ERRCODE = 'TK008';
    END IF;
    IF NOT v_user.can_create_orgs THEN
        RAISE EXCEPTION 'this user may not create orgs' USING ERRCODE = '42501';
    END IF;
    IF v_user.isolated_org_id IS NOT NULL THEN
        RAISE EXCEPTION 'a user of an isolated org cannot join another org'
            USING ERRCODE = 'TK003', COLUMN = 'user_id';
    END IF;
    INSERT INTO tenantkit.orgs (org_id, name, url_safe_org_name, metadata)
    VALUES (v_org_id, p_name, '', COALESCE(p_metadata, '{}'));
    INSERT INTO tenantkit.memberships (org_id, user_id, role)
    VALUES (v_org_id, v_user.user_id, tenantkit._mapping_role(v_org_id, true));
    PERFORM tenantkit._audit(v_org_id, 'user', v_user.user_id, 'org.created', 'org',
                             v_org_id::text,
                             pg_catalog.jsonb_build_object('name', p_name, 'self_service', true));
    RETURN v_org_id;
END
$$;

-- Joins a (shared-scope) user to every org whose autojoin domains match their
-- email, with the mapping's last role. Orgs that are full, or that the user
-- may no longer join, are skipped rather than failing the whole call.
CREATE FUNCTION tenantkit.autojoin_by_domain(
    p_user_id uuid, p_actor_kind text, p_actor_user_id uuid, p_actor_meta jsonb
) RETURNS SETOF uuid
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_user    tenantkit.users;
    v_domain  text;
    v_org_id  uuid;
    v_role    text;
BEGIN
    SELECT * INTO v_user FROM tenantkit.users WHERE user_id = p_user_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user not found' USING ERRCODE = 'P0002';
    END IF;
    IF v_user.isolated_org_id IS NOT NULL THEN
        RETURN;
    END IF;
    v_domain := pg_catalog.split_part(v_user.email, '@', 2);
    FOR v_org_id IN
        SELECT o.org_id
        FROM tenantkit.orgs AS o
        WHERE o.domain_autojoin
          AND NOT o.isolated
          AND (o.domain = v_domain OR v_domain = ANY (o.extra_domains))
          AND NOT EXISTS (SELECT 1 FROM tenantkit.memberships AS m
                          WHERE m.org_id = o.org_id AND m.user_id = p_user_id)
        ORDER BY o.created_at, o.org_id
    LOOP
        v_role := tenantkit._mapping_role(v_org_id, false);
        BEGIN
            INSERT INTO tenantkit.memberships (org_id, user_id, role)
            VALUES (v_org_id, p_user_id, v_role);
        EXCEPTION
            WHEN SQLSTATE 'TK001' OR SQLSTATE 'TK004' OR unique_violation THEN
                CONTINUE;
        END;
        PERFORM tenantkit._audit(v_org_id, p_actor_kind, p_actor_user_id, 'member.added',
                                 'user', p_user_id::text,
                                 COALESCE(p_actor_meta, '{}') || pg_catalog.jsonb_build_object(
                                     'role', v_role, 'via', 'domain_autojoin'));
        RETURN NEXT v_org_id;
    END LOOP;
END
$$;

REVOKE ALL ON FUNCTION
    tenantkit._mapping_role(uuid, boolean),
    tenantkit._audit(uuid, text, uuid, text, text, text, jsonb),
    tenantkit._check_invite_domain(),
    tenantkit.accept_invite_for(text, uuid, text, uuid, jsonb),
    tenantkit.accept_invite(text),
    tenantkit.create_org_as_owner(uuid, text, jsonb),
    tenantkit.autojoin_by_domain(uuid, text, uuid, jsonb)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenantkit.accept_invite(text), tenantkit.create_org_as_owner(uuid, text, jsonb)
    TO @app_role@;
GRANT EXECUTE ON FUNCTION
    tenantkit.accept_invite_for(text, uuid, text, uuid, jsonb),
    tenantkit.autojoin_by_domain(uuid, text, uuid, jsonb)
TO @service_role@;
