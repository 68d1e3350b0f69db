-- tenantkit 0003 (own tables): end users cannot escalate on tenantkit's own
-- tables, and cannot probe other orgs through them.
--
-- 1. Emails: auto-join and domain restriction trust confirmed emails only; a
--    changed email is unconfirmed again; confirming it (false -> true) is
--    what auto-joins.
-- 2. Memberships come only from invite acceptance, org creation, auto-join
--    and the service role: the app role has no INSERT on memberships.
-- 3. Invites: an end user may only revoke (pending -> revoked); the expiry
--    limit is a project setting (settings.max_invite_expiry).
-- 4. Org API keys made by end users: kind 'org', no user, created_by = the
--    bound user, permissions a subset of the creator's; never un-archived.
-- 5. Audit rows from end users say actor_kind 'user' and the bound user.
-- 6. Deleted org ids are tombstoned and never reused; end users never choose ids.
-- 7. The app role has no privilege on tenantkit's sequences, and never sees
--    audit_id (a project-wide counter).
-- 8. Global-index oracles: the app role reads users, orgs, invites and the
--    audit log through SECURITY DEFINER functions that return the bound
--    org's rows. EXPLAIN shows a Function Scan: the plan inside a PL/pgSQL
--    function stays hidden, and it is the same plan whatever the caller
--    filters on. Column privileges keep the columns of the other indexes not
--    led by org_id out of the app role's reach (a query cannot name them), so
--    no qual or ORDER BY of the app role can drive those indexes. Left
--    readable: random ids only (memberships.user_id, invite and key ids), whose
--    probes are described in the README's threat model.
--
-- New SQLSTATEs (class 'TK', see 0001_triggers.sql and 0002_orgs.sql):
--   TK010 invite expiry beyond the project's max_invite_expiry
--   TK011 org id of a deleted org (never reused), or an org id that would change

-- --- 1. Emails, confirmation and auto-join -------------------------------------

-- A changed email is a new, unproven address: it never inherits the old
-- one's confirmation, whatever the same statement says. Confirming it is a
-- separate UPDATE (which is what auto-joins). Runs after users_normalize
-- (triggers fire in name order), so a change of case alone is no change.
CREATE FUNCTION tenantkit._reconfirm_email() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = ''
AS $$
BEGIN
    IF NEW.email IS DISTINCT FROM OLD.email THEN
        NEW.email_confirmed := false;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER users_reconfirm_email BEFORE UPDATE OF email ON tenantkit.users
    FOR EACH ROW EXECUTE FUNCTION tenantkit._reconfirm_email();

-- Joins a (shared-scope) user with a confirmed email to every org whose
-- autojoin domains match it, with the mapping's last role. An unconfirmed
-- email joins nothing: anyone can sign up with any address. Orgs that are
-- full, that the user may no longer join, or that offer no non-internal role
-- are skipped rather than failing the whole call (it also runs inside the
-- UPDATE that confirms an email, which must not fail because of one org).
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
    IF v_user.isolated_org_id IS NOT NULL OR NOT v_user.email_confirmed THEN
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
        CONTINUE WHEN v_role IS NULL;
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

-- Auto-join happens when an email becomes confirmed. Whoever confirms it (the
-- service or the owner: the app role cannot update users) is recorded as the
-- service. A user inserted already confirmed joins through
-- `Users.create(autojoin=True)` (or autojoin_by_domain), not here, so that
-- the backend may create a confirmed user without auto-joining.
CREATE FUNCTION tenantkit._autojoin_on_confirm() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    PERFORM tenantkit.autojoin_by_domain(NEW.user_id, 'service', NULL,
                                         '{"trigger": "email_confirmed"}');
    RETURN NULL;
END
$$;
CREATE TRIGGER users_autojoin_on_confirm AFTER UPDATE OF email_confirmed ON tenantkit.users
    FOR EACH ROW
    WHEN (NEW.email_confirmed AND NOT OLD.email_confirmed AND NEW.isolated_org_id IS NULL)
    EXECUTE FUNCTION tenantkit._autojoin_on_confirm();

-- Domain restriction: an unconfirmed email proves nothing about its domain.
-- (0001's membership rules, with that one change.)
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
        IF NOT v_user.email_confirmed THEN
            RAISE EXCEPTION 'org only admits users whose email is confirmed'
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

-- The invite-time domain check, with the same rule for an invite that names
-- an existing user: that user's email must be confirmed. (An invite to a bare
-- address proves nothing yet; the membership trigger decides at acceptance.)
CREATE OR REPLACE FUNCTION tenantkit._check_invite_domain() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_org        tenantkit.orgs;
    v_domain     text;
    v_confirmed  boolean;
BEGIN
    SELECT * INTO v_org FROM tenantkit.orgs WHERE org_id = NEW.org_id;
    IF FOUND AND v_org.domain_restrict THEN
        v_domain := pg_catalog.lower(pg_catalog.split_part(NEW.email, '@', 2));
        IF v_domain <> v_org.domain AND NOT v_domain = ANY (v_org.extra_domains) THEN
            RAISE EXCEPTION 'org only admits users whose email domain is one of its domains'
                USING ERRCODE = 'TK002', COLUMN = 'email';
        END IF;
        IF NEW.invitee_user_id IS NOT NULL THEN
            SELECT u.email_confirmed INTO v_confirmed
            FROM tenantkit.users AS u WHERE u.user_id = NEW.invitee_user_id;
            IF FOUND AND NOT v_confirmed THEN  -- not found: the foreign key reports it
                RAISE EXCEPTION 'org only admits users whose email is confirmed'
                    USING ERRCODE = 'TK002', COLUMN = 'email';
            END IF;
        END IF;
    END IF;
    RETURN NEW;
END
$$;

-- --- 2. Memberships: no direct enrolment by end users -------------------------

-- An end user (even an Owner) adds nobody directly: the INSERT privilege is
-- gone, so an unknown user id and another org's user get the same 42501.
REVOKE INSERT ON tenantkit.memberships FROM @app_role@;
DROP POLICY member_insert ON tenantkit.memberships;

-- --- 3. Invites ---------------------------------------------------------------

ALTER TABLE tenantkit.settings
    ADD COLUMN max_invite_expiry interval NOT NULL DEFAULT interval '90 days'
        CONSTRAINT settings_max_invite_expiry_check
        CHECK (max_invite_expiry >= interval '1 minute');

-- For every role: an invite lives at most settings.max_invite_expiry.
CREATE FUNCTION tenantkit._check_invite_expiry() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_max interval;
BEGIN
    SELECT s.max_invite_expiry INTO v_max FROM tenantkit.settings AS s;
    IF NEW.expires_at > NEW.created_at + v_max THEN
        RAISE EXCEPTION 'an invite expires at most % after it is sent (max_invite_expiry)', v_max
            USING ERRCODE = 'TK010', COLUMN = 'expires_at';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER invites_check_expiry BEFORE INSERT OR UPDATE OF created_at, expires_at
    ON tenantkit.invites
    FOR EACH ROW EXECUTE FUNCTION tenantkit._check_invite_expiry();

-- End users: invite by email only (invitee_user_id references users, and
-- "23503 or success" would tell whether a user id exists), revoke, nothing
-- else. created_at stays unreadable: invites_pending_created is not led by
-- org_id (the bound org's invites come from current_org_invites()), and the
-- token hash is nobody's business but the acceptance function's.
REVOKE ALL ON tenantkit.invites FROM @app_role@;
GRANT SELECT (invite_id, org_id, email, invitee_user_id, role, additional_roles,
              inviter_user_id, state, expires_at, accepted_at, accepted_by),
      INSERT (org_id, email, role, additional_roles, inviter_user_id, token_hash, expires_at),
      UPDATE (state)
    ON tenantkit.invites TO @app_role@;
DROP POLICY member_update ON tenantkit.invites;
DROP POLICY member_delete ON tenantkit.invites;
CREATE POLICY member_revoke ON tenantkit.invites FOR UPDATE TO @app_role@
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_invite'))
           AND state = 'pending')
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id())
                AND state = 'revoked');

-- --- 4. Org API keys made by end users -----------------------------------------

-- The app role never reads secret_hash, nor stamps last_used_at (validation
-- is backend work); archived keys are out of its reach, so never un-archived.
REVOKE ALL ON tenantkit.api_keys FROM @app_role@;
GRANT SELECT (api_key_id, kind, org_id, user_id, name, prefix, permissions, metadata,
              created_by, created_at, expires_at, last_used_at, archived_at),
      INSERT (org_id, kind, name, secret_hash, prefix, permissions, metadata, created_by,
              expires_at),
      UPDATE (name, metadata, archived_at)
    ON tenantkit.api_keys TO @app_role@;
DROP POLICY member_all ON tenantkit.api_keys;
CREATE POLICY member_select ON tenantkit.api_keys FOR SELECT TO @app_role@
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_manage_api_keys')));
-- An empty permission list is fine; any permission given must be the creator's own now.
CREATE POLICY member_insert ON tenantkit.api_keys FOR INSERT TO @app_role@
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id())
                AND (SELECT tenantkit.has_permission('tenantkit::can_manage_api_keys'))
                AND kind = 'org'
                AND user_id IS NULL
                AND created_by = (SELECT tenantkit.current_user_id())
                AND (pg_catalog.cardinality(permissions) = 0
                     OR tenantkit.has_all_permissions(permissions)));
CREATE POLICY member_update ON tenantkit.api_keys FOR UPDATE TO @app_role@
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_manage_api_keys'))
           AND archived_at IS NULL)
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id())
                AND (SELECT tenantkit.has_permission('tenantkit::can_manage_api_keys')));

-- --- 5. Audit rows from end users ---------------------------------------------

DROP POLICY member_insert ON tenantkit.audit_log;
CREATE POLICY member_insert ON tenantkit.audit_log FOR INSERT TO @app_role@
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id())
                AND actor_kind = 'user'
                AND actor_user_id = (SELECT tenantkit.current_user_id()));

-- --- 6. Org ids are never reused --------------------------------------------

-- Ids of deleted orgs. Only the owner writes it (through the triggers below);
-- no role reads it.
CREATE TABLE tenantkit.org_tombstones (
    org_id      uuid PRIMARY KEY,
    deleted_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE tenantkit.org_tombstones ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON tenantkit.org_tombstones FROM PUBLIC;
-- Orgs deleted before this migration left an audit trail (it has no foreign key).
INSERT INTO tenantkit.org_tombstones (org_id, deleted_at)
SELECT a.org_id, max(a.occurred_at)
FROM tenantkit.audit_log AS a
WHERE a.org_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM tenantkit.orgs AS o WHERE o.org_id = a.org_id)
GROUP BY a.org_id;

CREATE FUNCTION tenantkit._tombstone_org() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        INSERT INTO tenantkit.org_tombstones (org_id)
        SELECT o.org_id FROM tenantkit.orgs AS o
        ON CONFLICT (org_id) DO NOTHING;
    ELSE
        INSERT INTO tenantkit.org_tombstones (org_id) VALUES (OLD.org_id)
        ON CONFLICT (org_id) DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER orgs_tombstone AFTER DELETE ON tenantkit.orgs
    FOR EACH ROW EXECUTE FUNCTION tenantkit._tombstone_org();
CREATE TRIGGER orgs_tombstone_truncate BEFORE TRUNCATE ON tenantkit.orgs
    FOR EACH STATEMENT EXECUTE FUNCTION tenantkit._tombstone_org();

-- For every role, the owner included. The reuse check runs AFTER INSERT: a
-- create racing the delete of the same id waits on orgs_pkey until the delete
-- commits, and only then looks (READ COMMITTED takes a fresh snapshot per
-- statement, so it sees the new tombstone). An id that changed would leave
-- its trail behind without a tombstone, so ids never change (BEFORE UPDATE,
-- ahead of the foreign keys' own checks).
CREATE FUNCTION tenantkit._refuse_org_id_reuse() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.org_id IS DISTINCT FROM OLD.org_id THEN
            RAISE EXCEPTION 'an org''s id never changes'
                USING ERRCODE = 'TK011', COLUMN = 'org_id';
        END IF;
        RETURN NEW;
    END IF;
    IF EXISTS (SELECT 1 FROM tenantkit.org_tombstones AS t WHERE t.org_id = NEW.org_id) THEN
        RAISE EXCEPTION 'this org id belonged to a deleted org and is never reused'
            USING ERRCODE = 'TK011', COLUMN = 'org_id';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER orgs_refuse_id_reuse AFTER INSERT ON tenantkit.orgs
    FOR EACH ROW EXECUTE FUNCTION tenantkit._refuse_org_id_reuse();
CREATE TRIGGER orgs_refuse_id_change BEFORE UPDATE OF org_id ON tenantkit.orgs
    FOR EACH ROW EXECUTE FUNCTION tenantkit._refuse_org_id_reuse();

-- Self-service org creation without a caller-chosen id, so there is nothing
-- to probe: the database draws the id. Returns the new org (its creator is
-- its first, highest-ranked member).
DROP FUNCTION tenantkit.create_org_as_owner(uuid, text, jsonb);
CREATE FUNCTION tenantkit.create_org_as_owner(p_name text, p_metadata jsonb DEFAULT '{}')
    RETURNS SETOF tenantkit.orgs
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_user     tenantkit.users;
    v_allowed  boolean;
    v_org_id   uuid := pg_catalog.gen_random_uuid();
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
    RETURN QUERY SELECT o.* FROM tenantkit.orgs AS o WHERE o.org_id = v_org_id;
END
$$;

-- --- 7. Sequences and the audit counter ---------------------------------------

-- No nextval/currval/setval/last_value: a counter of every org's activity.
-- (An identity column needs no sequence privilege to insert.)
REVOKE ALL ON ALL SEQUENCES IN SCHEMA tenantkit FROM @app_role@;
-- audit_id is that counter too: gaps between an org's own ids count the
-- other orgs' changes, and audit_log_pkey is not led by org_id. End users read
-- their trail, newest first, through current_org_audit_log().
REVOKE SELECT ON tenantkit.audit_log FROM @app_role@;
GRANT SELECT (org_id, actor_user_id, actor_kind, action, target_type, target_id, metadata,
              occurred_at)
    ON tenantkit.audit_log TO @app_role@;

-- --- 8. Reading users, orgs, invites and the audit log --------------------------

-- Every index on users lacks org_id, and on orgs only the primary key is led by
-- it: the app role keeps no way to name their other columns. orgs.org_id stays
-- (an end user's UPDATE and DELETE need a WHERE on it; orgs_pkey holds the
-- policy's org_id = $InitPlan as an index condition).
REVOKE SELECT ON tenantkit.users FROM @app_role@;
REVOKE SELECT ON tenantkit.orgs FROM @app_role@;
GRANT SELECT (org_id) ON tenantkit.orgs TO @app_role@;

-- The bound org (one row while the bound user is an active member, else none).
CREATE FUNCTION tenantkit.current_org() RETURNS SETOF tenantkit.orgs
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_org uuid := tenantkit.current_org_id();
BEGIN
    RETURN QUERY SELECT o.* FROM tenantkit.orgs AS o WHERE o.org_id = v_org;
END
$$;

-- Users with a membership (active or not) in the bound org; only those among
-- p_user_ids when given. Driven by memberships_pkey (org_id, user_id), so its
-- work never depends on other orgs' rows.
CREATE FUNCTION tenantkit.current_org_users(p_user_ids uuid[] DEFAULT NULL)
    RETURNS SETOF tenantkit.users
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_org uuid := tenantkit.current_org_id();
BEGIN
    IF v_org IS NULL THEN
        RETURN;
    END IF;
    IF p_user_ids IS NULL THEN
        RETURN QUERY
            SELECT u.* FROM tenantkit.memberships AS m
            JOIN tenantkit.users AS u ON u.user_id = m.user_id
            WHERE m.org_id = v_org;
    ELSE
        RETURN QUERY
            SELECT u.* FROM tenantkit.memberships AS m
            JOIN tenantkit.users AS u ON u.user_id = m.user_id
            WHERE m.org_id = v_org AND m.user_id = ANY (p_user_ids);
    END IF;
END
$$;

-- The bound org's pending invites (expired ones too), for a member with
-- can_invite as the invites policy says, with created_at and without the token
-- hash. Driven by invites_org_pending (org_id, created_at, invite_id).
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

-- One page of the bound org's audit trail, newest first, for a member with
-- can_view_audit_log; nothing for any other p_org_id. Rows come in order
-- (read them WITH ORDINALITY). The page is an OFFSET within the org's own
-- index range (audit_log_org), so its cost depends on this org only.
CREATE FUNCTION tenantkit.current_org_audit_log(
    p_org_id uuid, p_action text, p_offset integer, p_limit integer
) RETURNS TABLE (org_id uuid, actor_user_id uuid, actor_kind text, action text,
                 target_type text, target_id text, metadata jsonb, occurred_at timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    IF p_org_id IS NULL OR p_org_id IS DISTINCT FROM tenantkit.current_org_id()
       OR NOT tenantkit.has_permission('tenantkit::can_view_audit_log') THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT a.org_id, a.actor_user_id, a.actor_kind, a.action, a.target_type, a.target_id,
               a.metadata, a.occurred_at
        FROM tenantkit.audit_log AS a
        WHERE a.org_id = p_org_id AND (p_action IS NULL OR a.action = p_action)
        ORDER BY a.audit_id DESC
        OFFSET GREATEST(p_offset, 0) LIMIT GREATEST(p_limit, 0);
END
$$;

-- How many entries current_org_audit_log() pages through.
CREATE FUNCTION tenantkit.current_org_audit_log_total(p_org_id uuid, p_action text)
    RETURNS bigint
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    IF p_org_id IS NULL OR p_org_id IS DISTINCT FROM tenantkit.current_org_id()
       OR NOT tenantkit.has_permission('tenantkit::can_view_audit_log') THEN
        RETURN 0;
    END IF;
    RETURN (SELECT pg_catalog.count(*) FROM tenantkit.audit_log AS a
            WHERE a.org_id = p_org_id AND (p_action IS NULL OR a.action = p_action));
END
$$;

-- --- EXECUTE: nothing for PUBLIC; the end user's doors for the app role --------

REVOKE ALL ON FUNCTION
    tenantkit._reconfirm_email(),
    tenantkit._autojoin_on_confirm(),
    tenantkit._check_invite_expiry(),
    tenantkit._tombstone_org(),
    tenantkit._refuse_org_id_reuse(),
    tenantkit.create_org_as_owner(text, jsonb),
    tenantkit.current_org(),
    tenantkit.current_org_users(uuid[]),
    tenantkit.current_org_invites(),
    tenantkit.current_org_audit_log(uuid, text, integer, integer),
    tenantkit.current_org_audit_log_total(uuid, text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    tenantkit.create_org_as_owner(text, jsonb),
    tenantkit.current_org(),
    tenantkit.current_org_users(uuid[]),
    tenantkit.current_org_invites(),
    tenantkit.current_org_audit_log(uuid, text, integer, integer),
    tenantkit.current_org_audit_log_total(uuid, text)
TO @app_role@;
