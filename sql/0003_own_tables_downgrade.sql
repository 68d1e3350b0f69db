-- tenantkit 0003 (own tables) downgrade: back to exactly what 0001 and 0002 made.
-- The function bodies below are copies of the 0001/0002 originals.

-- --- 8. Reading users, orgs, invites and the audit log --------------------------
DROP FUNCTION
    tenantkit.current_org_audit_log_total(uuid, text),
    tenantkit.current_org_audit_log(uuid, text, integer, integer),
    tenantkit.current_org_invites(),
    tenantkit.current_org_users(uuid[]),
    tenantkit.current_org();
REVOKE SELECT ON tenantkit.orgs FROM @app_role@;
GRANT SELECT ON tenantkit.orgs, tenantkit.users TO @app_role@;

-- --- 7. Sequences and the audit counter ---------------------------------------
REVOKE SELECT ON tenantkit.audit_log FROM @app_role@;
GRANT SELECT ON tenantkit.audit_log TO @app_role@;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA tenantkit TO @app_role@;

-- --- 6. Org ids are never reused --------------------------------------------
DROP FUNCTION tenantkit.create_org_as_owner(text, jsonb);
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

REVOKE ALL ON FUNCTION tenantkit.create_org_as_owner(uuid, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenantkit.create_org_as_owner(uuid, text, jsonb) TO @app_role@;

DROP TRIGGER orgs_refuse_id_change ON tenantkit.orgs;
DROP TRIGGER orgs_refuse_id_reuse ON tenantkit.orgs;
DROP TRIGGER orgs_tombstone_truncate ON tenantkit.orgs;
DROP TRIGGER orgs_tombstone ON tenantkit.orgs;
DROP FUNCTION tenantkit._refuse_org_id_reuse(), tenantkit._tombstone_org();
DROP TABLE tenantkit.org_tombstones;

-- --- 5. Audit rows from end users ---------------------------------------------
DROP POLICY member_insert ON tenantkit.audit_log;
CREATE POLICY member_insert ON tenantkit.audit_log FOR INSERT TO @app_role@
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id())
                AND actor_user_id = (SELECT tenantkit.current_user_id()));

-- --- 4. Org API keys made by end users -----------------------------------------
DROP POLICY member_update ON tenantkit.api_keys;
DROP POLICY member_insert ON tenantkit.api_keys;
DROP POLICY member_select ON tenantkit.api_keys;
CREATE POLICY member_all ON tenantkit.api_keys FOR ALL TO @app_role@
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_manage_api_keys')))
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id())
                AND (SELECT tenantkit.has_permission('tenantkit::can_manage_api_keys')));
REVOKE ALL ON tenantkit.api_keys FROM @app_role@;
GRANT SELECT ON tenantkit.api_keys TO @app_role@;
GRANT INSERT (org_id, kind, user_id, name, secret_hash, prefix, permissions, metadata,
              created_by, expires_at),
      UPDATE (name, metadata, archived_at, last_used_at) ON tenantkit.api_keys TO @app_role@;

-- --- 3. Invites ---------------------------------------------------------------
DROP POLICY member_revoke ON tenantkit.invites;
CREATE POLICY member_update ON tenantkit.invites FOR UPDATE TO @app_role@
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_invite')))
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id()));
CREATE POLICY member_delete ON tenantkit.invites FOR DELETE TO @app_role@
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_invite')));
REVOKE ALL ON tenantkit.invites FROM @app_role@;
GRANT SELECT ON tenantkit.invites TO @app_role@;
GRANT INSERT (org_id, email, invitee_user_id, role, additional_roles, inviter_user_id,
              token_hash, expires_at),
      UPDATE (state),
      DELETE ON tenantkit.invites TO @app_role@;

DROP TRIGGER invites_check_expiry ON tenantkit.invites;
DROP FUNCTION tenantkit._check_invite_expiry();
ALTER TABLE tenantkit.settings DROP COLUMN max_invite_expiry;

-- --- 2. Memberships -----------------------------------------------------------
CREATE POLICY member_insert ON tenantkit.memberships FOR INSERT TO @app_role@
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id())
                AND (SELECT tenantkit.has_permission('tenantkit::can_invite'))
                AND tenantkit.can_assign_roles(role, additional_roles));
GRANT INSERT (org_id, user_id, role, additional_roles, status) ON tenantkit.memberships
    TO @app_role@;

-- --- 1. Emails, confirmation and auto-join -------------------------------------
CREATE OR REPLACE FUNCTION tenantkit._check_invite_domain() RETURNS trigger
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

CREATE OR REPLACE FUNCTION tenantkit._check_membership() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_org       tenantkit.orgs;
    v_user      tenantkit.users;
    v_count     bigint;
    v_max_orgs  integer;
    v_domain    text;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        NEW.updated_at := pg_catalog.now();
    END IF;
    IF TG_OP = 'INSERT' OR NEW.role IS DISTINCT FROM OLD.role
       OR NEW.additional_roles IS DISTINCT FROM OLD.additional_roles THEN
        PERFORM tenantkit._check_roles(NEW.org_id, NEW.role, NEW.additional_roles);
    END IF;

    -- Only a membership becoming active can break a limit.
    IF NEW.status <> 'active' OR (TG_OP = 'UPDATE' AND OLD.status = 'active'
                                  AND OLD.org_id = NEW.org_id AND OLD.user_id = NEW.user_id) THEN
        RETURN NEW;
    END IF;

    SELECT * INTO v_org FROM tenantkit.orgs WHERE org_id = NEW.org_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN NEW;  -- the foreign key reports the missing org
    END IF;
    SELECT * INTO v_user FROM tenantkit.users WHERE user_id = NEW.user_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN NEW;
    END IF;

    IF v_org.max_users IS NOT NULL THEN
        SELECT pg_catalog.count(*) INTO v_count
        FROM tenantkit.memberships
        WHERE org_id = NEW.org_id AND status = 'active' AND user_id <> NEW.user_id;
        IF v_count >= v_org.max_users THEN
            RAISE EXCEPTION 'org has reached its max_users limit of %', v_org.max_users
                USING ERRCODE = 'TK001', COLUMN = 'max_users';
        END IF;
    END IF;

    IF v_org.domain_restrict THEN
        v_domain := pg_catalog.split_part(v_user.email, '@', 2);
        IF v_domain <> v_org.domain AND NOT v_domain = ANY (v_org.extra_domains) THEN
            RAISE EXCEPTION 'org only admits users whose email domain is one of its domains'
                USING ERRCODE = 'TK002', COLUMN = 'email';
        END IF;
    END IF;

    IF v_user.isolated_org_id IS DISTINCT FROM
       (CASE WHEN v_org.isolated THEN v_org.org_id END) THEN
        RAISE EXCEPTION '%', CASE WHEN v_org.isolated
                THEN 'isolated org only admits users created inside it'
                ELSE 'a user of an isolated org cannot join another org' END
            USING ERRCODE = 'TK003', COLUMN = 'user_id';
    END IF;

    SELECT max_orgs_per_user INTO v_max_orgs FROM tenantkit.settings;
    IF v_max_orgs IS NOT NULL THEN
        SELECT pg_catalog.count(*) INTO v_count
        FROM tenantkit.memberships
        WHERE user_id = NEW.user_id AND status = 'active' AND org_id <> NEW.org_id;
        IF v_count >= v_max_orgs THEN
            RAISE EXCEPTION 'user has reached the maximum of % orgs per user', v_max_orgs
                USING ERRCODE = 'TK004', COLUMN = 'user_id';
        END IF;
    END IF;
    RETURN NEW;
END
$$;

DROP TRIGGER users_autojoin_on_confirm ON tenantkit.users;
DROP FUNCTION tenantkit._autojoin_on_confirm();
CREATE OR REPLACE FUNCTION tenantkit.autojoin_by_domain(
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

DROP TRIGGER users_reconfirm_email ON tenantkit.users;
DROP FUNCTION tenantkit._reconfirm_email();
