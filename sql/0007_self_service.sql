-- tenantkit 0007: the end user's self-service doors (issue 13).
--
-- The end-user HTTP API (tenantkit.selfservice) holds no authorization logic of
-- its own: every operation runs on an app-role session bound to the end user,
-- and these functions are the few extra doors it needs, each deciding for the
-- bound user only:
--   current_user_orgs()              the bound user's own memberships, every org;
--   decline_invite(token)            the invitee declines (state 'declined');
--   record_invite_delivery(...)      the outcome of sending an invite, after commit;
--   current_org_invite_deliveries()  those outcomes, for the bound org's inviters.

-- --- 0. The nil UUID names no org ------------------------------------------------

-- The end-user API binds org-less operations (my orgs, create an org, accept an
-- invite) to the nil UUID: no org may ever have that id, whoever creates it.
ALTER TABLE tenantkit.orgs ADD CONSTRAINT orgs_org_id_check
    CHECK (org_id <> '00000000-0000-0000-0000-000000000000'::uuid);

-- --- 1. Invites: declined, and delivery state ----------------------------------

ALTER TABLE tenantkit.invites DROP CONSTRAINT invites_state_check;
ALTER TABLE tenantkit.invites ADD CONSTRAINT invites_state_check
    CHECK (state IN ('pending', 'accepted', 'revoked', 'expired', 'declined'));

-- Sending happens after the invite commits, so the invite exists whatever the
-- mail server says; these columns make a failed send visible (and retryable).
ALTER TABLE tenantkit.invites
    ADD COLUMN delivery_state text NOT NULL DEFAULT 'pending'
        CONSTRAINT invites_delivery_state_check
        CHECK (delivery_state IN ('pending', 'sent', 'failed')),
    ADD COLUMN delivery_attempts integer NOT NULL DEFAULT 0
        CONSTRAINT invites_delivery_attempts_check CHECK (delivery_attempts >= 0),
    ADD COLUMN delivery_error text,
    ADD COLUMN delivered_at timestamptz;

-- --- 2. The bound user's own orgs -------------------------------------------------

-- Every membership of the bound user (active or not), with the org's name: an
-- end user may read no other org than the bound one through the tables, but
-- which orgs they belong to is theirs to know. Nothing for a disabled or
-- locked user, nor without a binding.
CREATE FUNCTION tenantkit.current_user_orgs()
    RETURNS TABLE (org_id uuid, org_name text, url_safe_org_name text, role text,
                   additional_roles text[], status text, joined_at timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_user uuid := tenantkit.current_user_id();
BEGIN
    IF v_user IS NULL OR NOT EXISTS (
        SELECT 1 FROM tenantkit.users AS u
        WHERE u.user_id = v_user AND u.enabled AND NOT u.locked) THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT m.org_id, o.name, o.url_safe_org_name, m.role, m.additional_roles, m.status,
               m.created_at
        FROM tenantkit.memberships AS m
        JOIN tenantkit.orgs AS o ON o.org_id = m.org_id
        WHERE m.user_id = v_user
        ORDER BY o.name, m.org_id;
END
$$;

-- --- 3. Declining an invite ------------------------------------------------------

-- Only the invitee declines: the token, and the bound user being the invited
-- user or owning the invited email. Wrong user and unknown token answer alike
-- (P0002), so a token tells nothing about whose it is.
CREATE FUNCTION tenantkit.decline_invite(p_token text) RETURNS uuid
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_user   tenantkit.users;
    v_invite tenantkit.invites;
BEGIN
    SELECT * INTO v_user FROM tenantkit.users WHERE user_id = tenantkit.current_user_id();
    IF NOT FOUND OR NOT v_user.enabled OR v_user.locked THEN
        RAISE EXCEPTION 'no enabled user is bound to this transaction' USING ERRCODE = '42501';
    END IF;
    SELECT * INTO v_invite FROM tenantkit.invites AS i
    WHERE i.token_hash = pg_catalog.sha256(pg_catalog.convert_to(p_token, 'UTF8'))
    FOR UPDATE;
    IF NOT FOUND OR (v_invite.invitee_user_id IS DISTINCT FROM v_user.user_id
                     AND v_invite.email <> v_user.email) THEN
        RAISE EXCEPTION 'invite not found' USING ERRCODE = 'P0002';
    END IF;
    IF v_invite.state <> 'pending' THEN
        RAISE EXCEPTION 'invite is % and can no longer be declined', v_invite.state
            USING ERRCODE = 'TK007';
    END IF;
    UPDATE tenantkit.invites SET state = 'declined' WHERE invite_id = v_invite.invite_id;
    PERFORM tenantkit._audit(v_invite.org_id, 'user', v_user.user_id, 'invite.declined',
                             'invite', v_invite.invite_id::text,
                             pg_catalog.jsonb_build_object('email', v_invite.email));
    RETURN v_invite.org_id;
END
$$;

-- --- 4. Invite delivery, recorded and read by the bound org's inviters ---------

-- After the invite's transaction commits, the sender records each attempt in a
-- transaction of its own, bound to the same user: only for an invite of the
-- bound org, and only by a member who may invite. It changes delivery columns
-- alone, never the invite's state or token.
CREATE FUNCTION tenantkit.record_invite_delivery(
    p_invite_id uuid, p_sent boolean, p_error text DEFAULT NULL
) RETURNS boolean
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_org uuid := tenantkit.current_org_id();
BEGIN
    IF v_org IS NULL OR NOT tenantkit.has_permission('tenantkit::can_invite') THEN
        RAISE EXCEPTION 'the database refused to record this delivery for the current user'
            USING ERRCODE = '42501';
    END IF;
    UPDATE tenantkit.invites AS i
       SET delivery_state = CASE WHEN p_sent THEN 'sent' ELSE 'failed' END,
           delivery_attempts = i.delivery_attempts + 1,
           delivery_error = CASE WHEN p_sent THEN NULL ELSE left(p_error, 500) END,
           delivered_at = CASE WHEN p_sent THEN pg_catalog.now() END
     WHERE i.invite_id = p_invite_id AND i.org_id = v_org;
    RETURN FOUND;
END
$$;

-- The bound org's invites' delivery outcomes, for a member with can_invite.
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

-- --- 5. Isolated orgs: no invites, and converting an existing org ---------------

-- PropelAuth's concepts: an isolated org takes no invites (its members are
-- provisioned by the backend, or its IdP); for every role.
CREATE FUNCTION tenantkit._refuse_isolated_invite() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM tenantkit.orgs AS o WHERE o.org_id = NEW.org_id AND o.isolated) THEN
        RAISE EXCEPTION 'an isolated org takes no invites: its members are provisioned by the backend'
            USING ERRCODE = 'TK003', COLUMN = 'org_id';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER invites_refuse_isolated BEFORE INSERT ON tenantkit.invites
    FOR EACH ROW EXECUTE FUNCTION tenantkit._refuse_isolated_invite();

-- Backend work: make an existing org isolated. Refused while any member also
-- belongs to another org (the message names them, to resolve first). The
-- members' accounts move into the org's own user scope, and its pending
-- invites are revoked. The org row is locked first, so no member joins
-- another org half-way through (the membership trigger locks it too).
CREATE FUNCTION tenantkit.convert_org_to_isolated(
    p_org_id uuid, p_actor_kind text, p_actor_meta jsonb
) RETURNS SETOF tenantkit.orgs
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_org      tenantkit.orgs;
    v_blocking text;
BEGIN
    SELECT * INTO v_org FROM tenantkit.orgs WHERE org_id = p_org_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'org not found' USING ERRCODE = 'P0002';
    END IF;
    IF v_org.isolated THEN
        RAISE EXCEPTION 'the org is isolated already' USING ERRCODE = 'TK003';
    END IF;
    SELECT pg_catalog.string_agg(DISTINCT m.user_id::text, ', ') INTO v_blocking
    FROM tenantkit.memberships AS m
    WHERE m.org_id = p_org_id
      AND EXISTS (SELECT 1 FROM tenantkit.memberships AS o
                  WHERE o.user_id = m.user_id AND o.org_id <> p_org_id);
    IF v_blocking IS NOT NULL THEN
        RAISE EXCEPTION 'members in other orgs block the conversion: %', v_blocking
            USING ERRCODE = 'TK003';
    END IF;
    UPDATE tenantkit.orgs SET isolated = true WHERE org_id = p_org_id;
    UPDATE tenantkit.users AS u SET isolated_org_id = p_org_id
     WHERE u.user_id IN (SELECT m.user_id FROM tenantkit.memberships AS m
                         WHERE m.org_id = p_org_id);
    UPDATE tenantkit.invites SET state = 'revoked'
     WHERE org_id = p_org_id AND state = 'pending';
    PERFORM tenantkit._audit(p_org_id, p_actor_kind, NULL, 'org.converted_to_isolated', 'org',
                             p_org_id::text, COALESCE(p_actor_meta, '{}'));
    RETURN QUERY SELECT o.* FROM tenantkit.orgs AS o WHERE o.org_id = p_org_id;
END
$$;

-- --- 6. Domain verification (WorkOS's model: pending, then verified by DNS) -----

-- The domains auto-join and domain restriction use are orgs.domain and
-- orgs.extra_domains: set by the backend (which vouches for them) or moved
-- there when a DNS TXT check succeeds. A domain asked for here is *pending*
-- until then and counts for nothing. Only the service role marks a domain
-- verified: the DNS lookup happens outside the database, and an app role that
-- could claim "verified" could auto-join every new user of any domain
-- (gmail.com) into its org.
CREATE TABLE tenantkit.org_domain_verifications (
    org_id       uuid NOT NULL REFERENCES tenantkit.orgs ON DELETE CASCADE,
    domain       text NOT NULL CHECK (domain ~ '^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$'),
    -- The TXT value to publish; random, per domain and org.
    token        text NOT NULL
                 DEFAULT 'tenantkit-domain-verification='
                         || replace(pg_catalog.gen_random_uuid()::text, '-', '')
                         || replace(pg_catalog.gen_random_uuid()::text, '-', ''),
    state        text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'verified')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    verified_at  timestamptz,
    PRIMARY KEY (org_id, domain)
);
ALTER TABLE tenantkit.org_domain_verifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY service_all ON tenantkit.org_domain_verifications AS PERMISSIVE FOR ALL
    TO @service_role@ USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON tenantkit.org_domain_verifications TO @service_role@;
-- End users who may update the org: ask for a domain (pending), read, withdraw a
-- pending one. Never a chosen token, never the state.
GRANT SELECT, INSERT (org_id, domain), DELETE ON tenantkit.org_domain_verifications
    TO @app_role@;
CREATE POLICY member_select ON tenantkit.org_domain_verifications FOR SELECT TO @app_role@
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_update_org')));
CREATE POLICY member_insert ON tenantkit.org_domain_verifications FOR INSERT TO @app_role@
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id())
                AND (SELECT tenantkit.has_permission('tenantkit::can_update_org'))
                AND state = 'pending');
CREATE POLICY member_delete ON tenantkit.org_domain_verifications FOR DELETE TO @app_role@
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_update_org'))
           AND state = 'pending');

-- --- 7. Idempotency keys of the backend API ------------------------------------

-- A POST with an Idempotency-Key header is answered once; a retry with the same
-- key (from the same integration key) gets the stored answer, and no duplicate.
-- Scoped per integration key, so one credential never reads another's answers.
-- Service role only; rows older than a day are ignored and replaced.
CREATE TABLE tenantkit.idempotency_keys (
    api_key_id       uuid NOT NULL REFERENCES tenantkit.api_keys ON DELETE CASCADE,
    idempotency_key  text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    request_hash     bytea NOT NULL,
    -- NULL while the first request is still running.
    status           integer,
    response         bytea,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (api_key_id, idempotency_key)
);
ALTER TABLE tenantkit.idempotency_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY service_all ON tenantkit.idempotency_keys AS PERMISSIVE FOR ALL
    TO @service_role@ USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON tenantkit.idempotency_keys TO @service_role@;

-- --- 8. Role descriptions (role mappings are edited at runtime by the backend) ---

ALTER TABLE tenantkit.roles ADD COLUMN description text
    CONSTRAINT roles_description_check CHECK (length(description) <= 1000);

-- --- 9. last_active_at from real activity ---------------------------------------

-- The bound user was active: stamp users.last_active_at (at most once a minute,
-- so a busy user costs no write per request). Only the bound user, and the
-- outbox ignores this column, so it sends no user.updated event.
CREATE FUNCTION tenantkit.touch_current_user() RETURNS void
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    UPDATE tenantkit.users AS u SET last_active_at = pg_catalog.now()
     WHERE u.user_id = tenantkit.current_user_id()
       AND (u.last_active_at IS NULL
            OR u.last_active_at < pg_catalog.now() - interval '1 minute');
END
$$;

-- --- EXECUTE: nothing for PUBLIC; the end user's doors for the app role --------

REVOKE ALL ON FUNCTION
    tenantkit.current_user_orgs(),
    tenantkit.decline_invite(text),
    tenantkit.record_invite_delivery(uuid, boolean, text),
    tenantkit.current_org_invite_deliveries(),
    tenantkit._refuse_isolated_invite(),
    tenantkit.convert_org_to_isolated(uuid, text, jsonb),
    tenantkit.touch_current_user()
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenantkit.convert_org_to_isolated(uuid, text, jsonb)
TO @service_role@;
GRANT EXECUTE ON FUNCTION
    tenantkit.current_user_orgs(),
    tenantkit.decline_invite(text),
    tenantkit.record_invite_delivery(uuid, boolean, text),
    tenantkit.current_org_invite_deliveries(),
    tenantkit.touch_current_user()
TO @app_role@;
