-- tenantkit install.sql: rendered from the migrations by `tenantkit migrate --sql`
-- (offline Alembic). Do not edit; a test fails when it is stale.
-- Roles: app = tenantkit_app, service = tenantkit_service. For other names run
--   tenantkit migrate --sql --app-role NAME --service-role NAME > install.sql
BEGIN;

CREATE SCHEMA IF NOT EXISTS tenantkit;

CREATE TABLE tenantkit.alembic_version (
    version_num VARCHAR(32) NOT NULL, 
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

-- Running upgrade  -> 0001

-- tenantkit 0001: tables of tenantkit's own schema.
--
-- Placeholders "tenantkit_app" and "tenantkit_service" are replaced by quoted role names
-- when the migration runs (see tenantkit/sqlfiles.py). Field names follow
-- PropelAuth where PropelAuth has one. Integrity lives here, not in Python.

CREATE SCHEMA IF NOT EXISTS tenantkit;

-- Project-wide settings: exactly one row.
CREATE TABLE tenantkit.settings (
    singleton                 boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    users_can_create_orgs     boolean NOT NULL DEFAULT true,
    all_users_must_be_in_org  boolean NOT NULL DEFAULT false,
    max_orgs_per_user         integer CHECK (max_orgs_per_user > 0),
    org_word                  text    NOT NULL DEFAULT 'Organization',
    updated_at                timestamptz NOT NULL DEFAULT now()
);
INSERT INTO tenantkit.settings DEFAULT VALUES;

-- Role mappings: an ordered list of roles with permissions. Orgs subscribe to
-- one by name; NULL means the mapping flagged is_default.
CREATE TABLE tenantkit.role_mappings (
    mapping_id  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL UNIQUE CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    -- PropelAuth's org_role_structure: single_role_in_hierarchy or multi_role.
    multi_role  boolean NOT NULL DEFAULT false,
    is_default  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX role_mappings_one_default ON tenantkit.role_mappings (is_default) WHERE is_default;

CREATE TABLE tenantkit.roles (
    mapping_id              uuid NOT NULL REFERENCES tenantkit.role_mappings ON DELETE CASCADE,
    name                    text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    -- 1 is the most privileged role; a single-role hierarchy compares ranks.
    rank                    integer NOT NULL CHECK (rank > 0),
    permissions             text[] NOT NULL DEFAULT '{}',
    is_internal             boolean NOT NULL DEFAULT false,
    is_visible_to_end_user  boolean NOT NULL DEFAULT true,
    PRIMARY KEY (mapping_id, name),
    UNIQUE (mapping_id, rank)
);

CREATE TABLE tenantkit.orgs (
    org_id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                      text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    url_safe_org_name         text NOT NULL,
    metadata                  jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    max_users                 integer CHECK (max_users > 0),
    domain                    text,
    extra_domains             text[] NOT NULL DEFAULT '{}',
    domain_autojoin           boolean NOT NULL DEFAULT false,
    domain_restrict           boolean NOT NULL DEFAULT false,
    custom_role_mapping_name  text REFERENCES tenantkit.role_mappings (name) ON UPDATE CASCADE,
    legacy_org_id             text UNIQUE,
    external_id               text UNIQUE,
    can_setup_saml            boolean NOT NULL DEFAULT false,
    is_saml_configured        boolean NOT NULL DEFAULT false,
    is_saml_in_test_mode      boolean NOT NULL DEFAULT false,
    require_2fa_by            timestamptz,
    -- Users of an isolated org exist only inside it (their users.isolated_org_id).
    isolated                  boolean NOT NULL DEFAULT false,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    CHECK (NOT domain_restrict OR domain IS NOT NULL)
);
-- Keyset-friendly orderings for org queries.
CREATE INDEX orgs_created_at ON tenantkit.orgs (created_at, org_id);
CREATE INDEX orgs_name ON tenantkit.orgs (name, org_id);
CREATE INDEX orgs_domain ON tenantkit.orgs (domain) WHERE domain IS NOT NULL;

CREATE TABLE tenantkit.users (
    user_id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email            text NOT NULL CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    email_confirmed  boolean NOT NULL DEFAULT false,
    username         text CHECK (length(btrim(username)) BETWEEN 1 AND 100),
    first_name       text,
    last_name        text,
    picture_url      text,
    properties       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(properties) = 'object'),
    metadata         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    locked           boolean NOT NULL DEFAULT false,
    enabled          boolean NOT NULL DEFAULT true,
    mfa_enabled      boolean NOT NULL DEFAULT false,
    can_create_orgs  boolean NOT NULL DEFAULT true,
    legacy_user_id   text UNIQUE,
    isolated_org_id  uuid REFERENCES tenantkit.orgs ON DELETE CASCADE,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_active_at   timestamptz
);
-- Emails and usernames are unique per isolation scope: the shared scope (NULL)
-- or one isolated org. COALESCE keeps this working on PostgreSQL < 15 servers too.
CREATE UNIQUE INDEX users_email_per_scope ON tenantkit.users
    (COALESCE(isolated_org_id, '00000000-0000-0000-0000-000000000000'::uuid), email);
CREATE UNIQUE INDEX users_username_per_scope ON tenantkit.users
    (COALESCE(isolated_org_id, '00000000-0000-0000-0000-000000000000'::uuid), lower(username))
    WHERE username IS NOT NULL;
CREATE INDEX users_email_pattern ON tenantkit.users (email text_pattern_ops);
CREATE INDEX users_created_at ON tenantkit.users (created_at, user_id);

CREATE TABLE tenantkit.memberships (
    org_id            uuid NOT NULL REFERENCES tenantkit.orgs ON DELETE CASCADE,
    user_id           uuid NOT NULL REFERENCES tenantkit.users ON DELETE CASCADE,
    role              text NOT NULL,
    additional_roles  text[] NOT NULL DEFAULT '{}',
    status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user_org ON tenantkit.memberships (user_id, org_id);

CREATE TABLE tenantkit.invites (
    invite_id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id            uuid NOT NULL REFERENCES tenantkit.orgs ON DELETE CASCADE,
    email             text NOT NULL CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    invitee_user_id   uuid REFERENCES tenantkit.users ON DELETE CASCADE,
    role              text NOT NULL,
    additional_roles  text[] NOT NULL DEFAULT '{}',
    inviter_user_id   uuid REFERENCES tenantkit.users ON DELETE SET NULL,
    -- sha256 of the invite secret; the secret itself is never stored.
    token_hash        bytea NOT NULL UNIQUE,
    state             text NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'accepted', 'revoked', 'expired')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL,
    accepted_at       timestamptz,
    accepted_by       uuid REFERENCES tenantkit.users ON DELETE SET NULL,
    CHECK (expires_at > created_at)
);
-- At most one pending invite per (org, email).
CREATE UNIQUE INDEX invites_one_pending ON tenantkit.invites (org_id, email) WHERE state = 'pending';
CREATE INDEX invites_pending_created ON tenantkit.invites (created_at, invite_id) WHERE state = 'pending';

-- Integration keys (backend API), org keys and user keys. Only a hash is stored.
CREATE TABLE tenantkit.api_keys (
    api_key_id    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind          text NOT NULL CHECK (kind IN ('integration', 'org', 'user')),
    org_id        uuid REFERENCES tenantkit.orgs ON DELETE CASCADE,
    user_id       uuid REFERENCES tenantkit.users ON DELETE CASCADE,
    name          text NOT NULL DEFAULT '',
    secret_hash   bytea NOT NULL UNIQUE,
    -- The first characters of the secret, for display ("tk_live_3f9a…").
    prefix        text NOT NULL,
    permissions   text[] NOT NULL DEFAULT '{}',
    metadata      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_by    uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    last_used_at  timestamptz,
    archived_at   timestamptz,
    CHECK (CASE kind
               WHEN 'integration' THEN org_id IS NULL AND user_id IS NULL
               WHEN 'org' THEN org_id IS NOT NULL AND user_id IS NULL
               ELSE user_id IS NOT NULL
           END)
);
CREATE INDEX api_keys_org ON tenantkit.api_keys (org_id) WHERE org_id IS NOT NULL;

CREATE TABLE tenantkit.feature_flags (
    org_id      uuid NOT NULL REFERENCES tenantkit.orgs ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    enabled     boolean NOT NULL DEFAULT true,
    value       jsonb,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, name)
);

-- Append-only (triggers refuse UPDATE, DELETE and TRUNCATE). No FK to orgs, so
-- an org's trail outlives the org.
CREATE TABLE tenantkit.audit_log (
    audit_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id         uuid,
    actor_user_id  uuid,
    actor_kind     text NOT NULL DEFAULT 'user' CHECK (actor_kind IN ('user', 'service', 'api_key')),
    action         text NOT NULL CHECK (length(action) BETWEEN 1 AND 100),
    target_type    text,
    target_id      text,
    metadata       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    occurred_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_org ON tenantkit.audit_log (org_id, audit_id DESC);

-- The default mapping: Owner > Admin > Member.
WITH m AS (
    INSERT INTO tenantkit.role_mappings (name, is_default) VALUES ('Default', true)
    RETURNING mapping_id
)
INSERT INTO tenantkit.roles (mapping_id, name, rank, permissions)
SELECT m.mapping_id, r.name, r.rank, r.permissions
FROM m, (VALUES
    ('Owner', 1, ARRAY['tenantkit::can_invite', 'tenantkit::can_change_roles',
                       'tenantkit::can_remove_users', 'tenantkit::can_update_org',
                       'tenantkit::can_manage_api_keys', 'tenantkit::can_delete_org',
                       'tenantkit::can_view_audit_log']),
    ('Admin', 2, ARRAY['tenantkit::can_invite', 'tenantkit::can_change_roles',
                       'tenantkit::can_remove_users', 'tenantkit::can_update_org',
                       'tenantkit::can_manage_api_keys', 'tenantkit::can_view_audit_log']),
    ('Member', 3, ARRAY[]::text[])
) AS r (name, rank, permissions);


-- tenantkit 0001: the functions policies call.
--
-- Every function is STABLE, pins `search_path = ''` and names every relation
-- with its schema, so a caller's temp table (pg_temp is searched first for
-- relations) cannot change an answer. Functions that read tenantkit's tables
-- are SECURITY DEFINER: the app role cannot read memberships directly, and the
-- definer (the owner) is not subject to the tables' RLS (ENABLE without FORCE).
--
-- They are PL/pgSQL, not SQL, on purpose: PL/pgSQL keeps each query's plan for
-- the session, while a non-inlined SQL function is re-planned on every call
-- before PostgreSQL 18 (measured on 15: current_org_id() +110 us per statement
-- as SQL, +23 us as PL/pgSQL; has_min_role() +400 us as SQL).
--
-- Settings are read as nullif(current_setting(name, true), ''): once a custom
-- setting has been used in a session it reads '' rather than NULL, forever.
-- Policies wrap each call in (SELECT ...) so it runs once per statement.

-- The bound user's membership in the bound org, if it is active and the user
-- is enabled and unlocked right now. Views are expanded into the functions'
-- queries, so this one definition costs no extra call.
CREATE VIEW tenantkit._bound_membership AS
    SELECT m.org_id, m.user_id, m.role, m.additional_roles
    FROM tenantkit.memberships AS m
    JOIN tenantkit.users AS u ON u.user_id = m.user_id
    WHERE m.org_id = nullif(pg_catalog.current_setting('tenantkit.org_id', true), '')::uuid
      AND m.user_id = nullif(pg_catalog.current_setting('tenantkit.user_id', true), '')::uuid
      AND m.status = 'active'
      AND u.enabled
      AND NOT u.locked;

-- ... with the org's role mapping (its own, or the default one).
CREATE VIEW tenantkit._bound_member AS
    SELECT b.org_id, b.role, b.additional_roles, rm.mapping_id, rm.multi_role
    FROM tenantkit._bound_membership AS b
    JOIN tenantkit.orgs AS o ON o.org_id = b.org_id
    JOIN tenantkit.role_mappings AS rm
      ON rm.name = o.custom_role_mapping_name
      OR (o.custom_role_mapping_name IS NULL AND rm.is_default);

-- ... and the permissions its roles carry (additional roles count in multi-role mappings).
CREATE VIEW tenantkit._bound_permissions AS
    SELECT DISTINCT p.permission
    FROM tenantkit._bound_member AS b
    JOIN tenantkit.roles AS r
      ON r.mapping_id = b.mapping_id
     AND (r.name = b.role OR (b.multi_role AND r.name = ANY (b.additional_roles)))
    CROSS JOIN LATERAL pg_catalog.unnest(r.permissions) AS p (permission);

-- The bound user: only what the transaction carries, unverified.
CREATE FUNCTION tenantkit.current_user_id() RETURNS uuid
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = ''
AS $$
BEGIN
    RETURN nullif(pg_catalog.current_setting('tenantkit.user_id', true), '')::uuid;
END
$$;

-- The bound org, but only if the bound user is an active, enabled, unlocked
-- member of it right now. Membership is re-read on every statement: a removal
-- or a disabled user takes effect on the next transaction, whatever the token says.
CREATE FUNCTION tenantkit.current_org_id() RETURNS uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
BEGIN
    RETURN (SELECT b.org_id FROM tenantkit._bound_membership AS b);
END
$$;

CREATE FUNCTION tenantkit.current_role() RETURNS text
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
BEGIN
    RETURN (SELECT b.role FROM tenantkit._bound_membership AS b);
END
$$;

-- PropelAuth's "minimum role": in a single-role hierarchy the bound role ranks
-- at or above p_role; in a multi-role mapping it equals the exact-role check.
-- An unknown role is never satisfied.
CREATE FUNCTION tenantkit.has_min_role(p_role text) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
BEGIN
    RETURN COALESCE((
        SELECT CASE
                   WHEN b.multi_role THEN p_role = b.role OR p_role = ANY (b.additional_roles)
                   ELSE cur.rank <= req.rank
               END
        FROM tenantkit._bound_member AS b
        JOIN tenantkit.roles AS cur ON cur.mapping_id = b.mapping_id AND cur.name = b.role
        LEFT JOIN tenantkit.roles AS req ON req.mapping_id = b.mapping_id AND req.name = p_role
    ), false);
END
$$;

-- PropelAuth's "exact role": the assigned role, or an additional role in a multi-role mapping.
CREATE FUNCTION tenantkit.has_role(p_role text) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
BEGIN
    RETURN COALESCE((
        SELECT p_role = b.role OR (b.multi_role AND p_role = ANY (b.additional_roles))
        FROM tenantkit._bound_member AS b
    ), false);
END
$$;

CREATE FUNCTION tenantkit.has_permission(p_permission text) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
BEGIN
    RETURN EXISTS (
        SELECT 1 FROM tenantkit._bound_permissions AS bp WHERE bp.permission = p_permission);
END
$$;

-- Unlike PropelAuth's client helper, an empty list is never satisfied: a policy
-- asking for "all of nothing" is a mistake, and failing closed surfaces it.
CREATE FUNCTION tenantkit.has_all_permissions(p_permissions text[]) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
BEGIN
    RETURN COALESCE(pg_catalog.cardinality(p_permissions) > 0, false)
       AND NOT EXISTS (
           SELECT 1
           FROM pg_catalog.unnest(p_permissions) AS want (permission)
           WHERE want.permission IS NULL
              OR NOT EXISTS (SELECT 1 FROM tenantkit._bound_permissions AS bp
                             WHERE bp.permission = want.permission));
END
$$;

-- Is p_user_id an active member of the bound (verified) org?
CREATE FUNCTION tenantkit.is_member(p_user_id uuid) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
BEGIN
    RETURN EXISTS (
        SELECT 1
        FROM tenantkit._bound_membership AS b
        JOIN tenantkit.memberships AS m ON m.org_id = b.org_id
        WHERE m.user_id = p_user_id
          AND m.status = 'active');
END
$$;

-- No one grants a role above their own: every role given must satisfy has_min_role.
CREATE FUNCTION tenantkit.can_assign_roles(p_role text, p_additional_roles text[]) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
BEGIN
    RETURN tenantkit.has_min_role(p_role)
       AND NOT EXISTS (
           SELECT 1
           FROM pg_catalog.unnest(COALESCE(p_additional_roles, '{}')) AS a (role)
           WHERE NOT tenantkit.has_min_role(a.role));
END
$$;

-- Trigger for tenant tables: the tenant column, named by the trigger's first
-- argument, never changes after insert (a row cannot move to another org,
-- whatever the policies say). Tenant tables attach it with
--   CREATE TRIGGER ... BEFORE UPDATE ON t FOR EACH ROW
--   EXECUTE FUNCTION tenantkit.refuse_tenant_change('org_id');
CREATE FUNCTION tenantkit.refuse_tenant_change() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = ''
AS $$
BEGIN
    IF pg_catalog.to_jsonb(NEW) -> TG_ARGV[0] IS DISTINCT FROM pg_catalog.to_jsonb(OLD) -> TG_ARGV[0] THEN
        RAISE EXCEPTION 'the tenant column %.% cannot be changed', TG_TABLE_NAME, TG_ARGV[0]
            USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END
$$;


-- tenantkit 0001: integrity rules that must hold whoever writes, enforced in
-- the database. Errors use SQLSTATE class 'TK' so callers can map them:
--   TK001 org max_users reached          TK004 user's max orgs reached
--   TK002 email domain not allowed       TK005 role unknown in the org's mapping
--   TK003 isolated org rule              TK009 append-only table

CREATE FUNCTION tenantkit._normalize_org() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = ''
AS $$
BEGIN
    NEW.name := pg_catalog.btrim(NEW.name);
    -- "Acme, Inc." -> "acme-inc"
    NEW.url_safe_org_name := pg_catalog.lower(pg_catalog.btrim(
        pg_catalog.regexp_replace(NEW.name, '[^[:alnum:]]+', '-', 'g'), '-'));
    NEW.domain := nullif(pg_catalog.lower(pg_catalog.btrim(NEW.domain)), '');
    NEW.extra_domains := ARRAY(
        SELECT DISTINCT pg_catalog.lower(pg_catalog.btrim(d))
        FROM pg_catalog.unnest(NEW.extra_domains) AS d
        WHERE pg_catalog.btrim(d) <> ''
        ORDER BY 1);
    IF TG_OP = 'UPDATE' THEN
        NEW.updated_at := pg_catalog.now();
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER orgs_normalize BEFORE INSERT OR UPDATE ON tenantkit.orgs
    FOR EACH ROW EXECUTE FUNCTION tenantkit._normalize_org();

-- Emails are stored lower-cased, so uniqueness per isolation scope is case-blind.
CREATE FUNCTION tenantkit._normalize_user() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = ''
AS $$
BEGIN
    NEW.email := pg_catalog.lower(pg_catalog.btrim(NEW.email));
    NEW.username := nullif(pg_catalog.btrim(NEW.username), '');
    RETURN NEW;
END
$$;
CREATE TRIGGER users_normalize BEFORE INSERT OR UPDATE OF email, username ON tenantkit.users
    FOR EACH ROW EXECUTE FUNCTION tenantkit._normalize_user();

-- Every role given must exist in the org's role mapping.
CREATE FUNCTION tenantkit._check_roles(p_org_id uuid, p_role text, p_additional_roles text[])
    RETURNS void
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_unknown text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM tenantkit.orgs WHERE org_id = p_org_id) THEN
        RETURN;  -- the foreign key reports the missing org (not an unknown role)
    END IF;
    SELECT want.role INTO v_unknown
    FROM pg_catalog.unnest(pg_catalog.array_prepend(p_role, COALESCE(p_additional_roles, '{}')))
         AS want (role)
    WHERE NOT EXISTS (
        SELECT 1
        FROM tenantkit.orgs AS o
        JOIN tenantkit.role_mappings AS rm
          ON rm.name = o.custom_role_mapping_name
          OR (o.custom_role_mapping_name IS NULL AND rm.is_default)
        JOIN tenantkit.roles AS r ON r.mapping_id = rm.mapping_id AND r.name = want.role
        WHERE o.org_id = p_org_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'role % does not exist in this org''s role mapping',
            COALESCE(pg_catalog.quote_literal(v_unknown), 'NULL')
            USING ERRCODE = 'TK005', COLUMN = 'role';
    END IF;
END
$$;

-- Membership rules that must hold under concurrency. The org row is locked
-- (NO KEY UPDATE, so foreign-key checks of app tables are not blocked) before
-- counting, which serialises concurrent adds to one org: with max_users = 10,
-- 50 concurrent adds give exactly 10 members.
CREATE FUNCTION tenantkit._check_membership() RETURNS trigger
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
CREATE TRIGGER memberships_check BEFORE INSERT OR UPDATE ON tenantkit.memberships
    FOR EACH ROW EXECUTE FUNCTION tenantkit._check_membership();

-- Lower-cases the email, checks roles, and retires an expired pending invite
-- for the same (org, email) so it does not block a fresh one.
CREATE FUNCTION tenantkit._prepare_invite() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    NEW.email := pg_catalog.lower(pg_catalog.btrim(NEW.email));
    PERFORM tenantkit._check_roles(NEW.org_id, NEW.role, NEW.additional_roles);
    UPDATE tenantkit.invites
       SET state = 'expired'
     WHERE org_id = NEW.org_id
       AND email = NEW.email
       AND state = 'pending'
       AND expires_at <= pg_catalog.now();
    RETURN NEW;
END
$$;
CREATE TRIGGER invites_prepare BEFORE INSERT ON tenantkit.invites
    FOR EACH ROW EXECUTE FUNCTION tenantkit._prepare_invite();

CREATE FUNCTION tenantkit._refuse_change() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = ''
AS $$
BEGIN
    RAISE EXCEPTION '%.% is append-only: % is not allowed', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'TK009';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON tenantkit.audit_log
    FOR EACH ROW EXECUTE FUNCTION tenantkit._refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON tenantkit.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION tenantkit._refuse_change();


-- tenantkit 0001: grants and row-level security on tenantkit's own tables.
--
-- The app role serves end users: it sees only the bound, verified org, and
-- changes memberships or invites only with the matching tenantkit:: permission.
-- The service role does cross-tenant backend work through explicit policies,
-- so it needs no BYPASSRLS. The owner (who runs this) is not subject to these
-- policies: RLS is ENABLEd, not FORCEd, because the SECURITY DEFINER functions
-- run as the owner and must read memberships.

REVOKE ALL ON SCHEMA tenantkit FROM PUBLIC;
GRANT USAGE ON SCHEMA tenantkit TO "tenantkit_app", "tenantkit_service";

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
TO "tenantkit_app";

-- A trigger function cannot be called directly; PUBLIC may EXECUTE it so that
-- app tables owned by another role can attach it (CREATE TRIGGER checks EXECUTE).
GRANT EXECUTE ON FUNCTION tenantkit.refuse_tenant_change() TO PUBLIC;

-- App role: never TRUNCATE, TRIGGER or REFERENCES; column lists where a plan
-- limit or an isolation flag must stay out of end users' reach.
GRANT SELECT ON tenantkit.orgs, tenantkit.users, tenantkit.memberships, tenantkit.invites,
               tenantkit.api_keys, tenantkit.feature_flags, tenantkit.audit_log,
               tenantkit.role_mappings, tenantkit.roles
    TO "tenantkit_app";
GRANT UPDATE (name, metadata) ON tenantkit.orgs TO "tenantkit_app";
GRANT DELETE ON tenantkit.orgs TO "tenantkit_app";
GRANT INSERT (org_id, user_id, role, additional_roles, status),
      UPDATE (role, additional_roles, status),
      DELETE ON tenantkit.memberships TO "tenantkit_app";
GRANT INSERT (org_id, email, invitee_user_id, role, additional_roles, inviter_user_id,
              token_hash, expires_at),
      UPDATE (state),
      DELETE ON tenantkit.invites TO "tenantkit_app";
GRANT INSERT (org_id, kind, user_id, name, secret_hash, prefix, permissions, metadata,
              created_by, expires_at),
      UPDATE (name, metadata, archived_at, last_used_at) ON tenantkit.api_keys TO "tenantkit_app";
GRANT INSERT, UPDATE (enabled, value, updated_at), DELETE ON tenantkit.feature_flags
    TO "tenantkit_app";
GRANT INSERT (org_id, actor_user_id, actor_kind, action, target_type, target_id, metadata)
    ON tenantkit.audit_log TO "tenantkit_app";

-- Service role: everything but TRUNCATE/TRIGGER/REFERENCES; the audit log stays append-only.
GRANT SELECT, INSERT, UPDATE, DELETE ON tenantkit.settings, tenantkit.role_mappings,
      tenantkit.roles, tenantkit.orgs, tenantkit.users, tenantkit.memberships,
      tenantkit.invites, tenantkit.api_keys, tenantkit.feature_flags
    TO "tenantkit_service";
GRANT SELECT, INSERT ON tenantkit.audit_log TO "tenantkit_service";

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['settings', 'role_mappings', 'roles', 'orgs', 'users',
                             'memberships', 'invites', 'api_keys', 'feature_flags', 'audit_log']
    LOOP
        EXECUTE pg_catalog.format('ALTER TABLE tenantkit.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE pg_catalog.format(
            'CREATE POLICY service_all ON tenantkit.%I AS PERMISSIVE FOR ALL TO "tenantkit_service"'
            ' USING (true) WITH CHECK (true)', t);
    END LOOP;
END
$$;

-- orgs: a member sees their org; updating needs can_update_org, deleting can_delete_org.
CREATE POLICY member_select ON tenantkit.orgs FOR SELECT TO "tenantkit_app"
    USING (org_id = (SELECT tenantkit.current_org_id()));
CREATE POLICY member_update ON tenantkit.orgs FOR UPDATE TO "tenantkit_app"
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_update_org')))
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id()));
CREATE POLICY member_delete ON tenantkit.orgs FOR DELETE TO "tenantkit_app"
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_delete_org')));

-- users: the members of the bound org.
CREATE POLICY member_select ON tenantkit.users FOR SELECT TO "tenantkit_app"
    USING (user_id IN (SELECT m.user_id FROM tenantkit.memberships AS m
                       WHERE m.org_id = (SELECT tenantkit.current_org_id())));

-- memberships: read within the org; add with can_invite, change with
-- can_change_roles, remove with can_remove_users (or leave the org yourself).
-- can_assign_roles() on old and new rows: no one touches or grants a role above their own.
CREATE POLICY member_select ON tenantkit.memberships FOR SELECT TO "tenantkit_app"
    USING (org_id = (SELECT tenantkit.current_org_id()));
CREATE POLICY member_insert ON tenantkit.memberships FOR INSERT TO "tenantkit_app"
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id())
                AND (SELECT tenantkit.has_permission('tenantkit::can_invite'))
                AND tenantkit.can_assign_roles(role, additional_roles));
CREATE POLICY member_update ON tenantkit.memberships FOR UPDATE TO "tenantkit_app"
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_change_roles'))
           AND tenantkit.can_assign_roles(role, additional_roles))
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id())
                AND (SELECT tenantkit.has_permission('tenantkit::can_change_roles'))
                AND tenantkit.can_assign_roles(role, additional_roles));
CREATE POLICY member_delete ON tenantkit.memberships FOR DELETE TO "tenantkit_app"
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (user_id = (SELECT tenantkit.current_user_id())
                OR ((SELECT tenantkit.has_permission('tenantkit::can_remove_users'))
                    AND tenantkit.can_assign_roles(role, additional_roles))));

-- invites: only members who may invite see or change the org's invites.
CREATE POLICY member_select ON tenantkit.invites FOR SELECT TO "tenantkit_app"
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_invite')));
CREATE POLICY member_insert ON tenantkit.invites FOR INSERT TO "tenantkit_app"
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id())
                AND (SELECT tenantkit.has_permission('tenantkit::can_invite'))
                AND tenantkit.can_assign_roles(role, additional_roles)
                AND inviter_user_id = (SELECT tenantkit.current_user_id()));
CREATE POLICY member_update ON tenantkit.invites FOR UPDATE TO "tenantkit_app"
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_invite')))
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id()));
CREATE POLICY member_delete ON tenantkit.invites FOR DELETE TO "tenantkit_app"
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_invite')));

-- api_keys: org keys of the bound org, with can_manage_api_keys. Integration
-- keys have no org and are never visible to end users.
CREATE POLICY member_all ON tenantkit.api_keys FOR ALL TO "tenantkit_app"
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_manage_api_keys')))
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id())
                AND (SELECT tenantkit.has_permission('tenantkit::can_manage_api_keys')));

-- feature_flags: members read; changing them needs can_update_org.
CREATE POLICY member_select ON tenantkit.feature_flags FOR SELECT TO "tenantkit_app"
    USING (org_id = (SELECT tenantkit.current_org_id()));
CREATE POLICY member_write ON tenantkit.feature_flags FOR ALL TO "tenantkit_app"
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_update_org')))
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id())
                AND (SELECT tenantkit.has_permission('tenantkit::can_update_org')));

-- audit_log: readable with can_view_audit_log; members append rows as themselves.
CREATE POLICY member_select ON tenantkit.audit_log FOR SELECT TO "tenantkit_app"
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_view_audit_log')));
CREATE POLICY member_insert ON tenantkit.audit_log FOR INSERT TO "tenantkit_app"
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id())
                AND actor_user_id = (SELECT tenantkit.current_user_id()));

-- role mappings: readable by anyone bound to an org (to show role pickers).
CREATE POLICY member_select ON tenantkit.role_mappings FOR SELECT TO "tenantkit_app"
    USING ((SELECT tenantkit.current_org_id()) IS NOT NULL);
CREATE POLICY member_select ON tenantkit.roles FOR SELECT TO "tenantkit_app"
    USING ((SELECT tenantkit.current_org_id()) IS NOT NULL);

GRANT USAGE ON ALL SEQUENCES IN SCHEMA tenantkit TO "tenantkit_app", "tenantkit_service";


INSERT INTO tenantkit.alembic_version (version_num) VALUES ('0001') RETURNING tenantkit.alembic_version.version_num;

-- Running upgrade 0001 -> 0002

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
    TO "tenantkit_app";
GRANT EXECUTE ON FUNCTION
    tenantkit.accept_invite_for(text, uuid, text, uuid, jsonb),
    tenantkit.autojoin_by_domain(uuid, text, uuid, jsonb)
TO "tenantkit_service";


UPDATE tenantkit.alembic_version SET version_num='0002' WHERE tenantkit.alembic_version.version_num = '0001';

-- Running upgrade 0002 -> 0003

-- tenantkit 0003: a binding is only taken for one if it was made in the current
-- transaction.
--
-- The bind statement (sql/runtime/bind.sql) sets tenantkit.bound to the
-- transaction's start time next to the ids. A tenantkit.* value that outlives
-- its transaction can only have been set at session level by other SQL (`SET
-- tenantkit.org_id = ...`, `set_config(..., false)`, a role default): its
-- stamp, if any, is an earlier transaction's, and every function below reads
-- the ids as absent. That closes carry-over through a pooled connection, an
-- autocommit statement, or a transaction pooler's shared server connection,
-- with one comparison per statement. (Spoofing inside one's own transaction is
-- a different threat, answered by signed contexts.)

CREATE OR REPLACE VIEW tenantkit._bound_membership AS
    SELECT m.org_id, m.user_id, m.role, m.additional_roles
    FROM tenantkit.memberships AS m
    JOIN tenantkit.users AS u ON u.user_id = m.user_id
    WHERE m.org_id = nullif(pg_catalog.current_setting('tenantkit.org_id', true), '')::uuid
      AND m.user_id = nullif(pg_catalog.current_setting('tenantkit.user_id', true), '')::uuid
      -- The stamp, exactly as bind.sql computes it.
      AND pg_catalog.current_setting('tenantkit.bound', true)
          = EXTRACT(epoch FROM pg_catalog.now())::pg_catalog.numeric::pg_catalog.text
      AND m.status = 'active'
      AND u.enabled
      AND NOT u.locked;

-- The bound user: what the transaction carries, if this transaction bound it.
CREATE OR REPLACE FUNCTION tenantkit.current_user_id() RETURNS uuid
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = ''
AS $$
BEGIN
    IF pg_catalog.current_setting('tenantkit.bound', true)
       IS DISTINCT FROM
       EXTRACT(epoch FROM pg_catalog.now())::pg_catalog.numeric::pg_catalog.text THEN
        RETURN NULL;
    END IF;
    RETURN nullif(pg_catalog.current_setting('tenantkit.user_id', true), '')::uuid;
END
$$;


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
REVOKE INSERT ON tenantkit.memberships FROM "tenantkit_app";
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
REVOKE ALL ON tenantkit.invites FROM "tenantkit_app";
GRANT SELECT (invite_id, org_id, email, invitee_user_id, role, additional_roles,
              inviter_user_id, state, expires_at, accepted_at, accepted_by),
      INSERT (org_id, email, role, additional_roles, inviter_user_id, token_hash, expires_at),
      UPDATE (state)
    ON tenantkit.invites TO "tenantkit_app";
DROP POLICY member_update ON tenantkit.invites;
DROP POLICY member_delete ON tenantkit.invites;
CREATE POLICY member_revoke ON tenantkit.invites FOR UPDATE TO "tenantkit_app"
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_invite'))
           AND state = 'pending')
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id())
                AND state = 'revoked');

-- --- 4. Org API keys made by end users -----------------------------------------

-- The app role never reads secret_hash, nor stamps last_used_at (validation
-- is backend work); archived keys are out of its reach, so never un-archived.
REVOKE ALL ON tenantkit.api_keys FROM "tenantkit_app";
GRANT SELECT (api_key_id, kind, org_id, user_id, name, prefix, permissions, metadata,
              created_by, created_at, expires_at, last_used_at, archived_at),
      INSERT (org_id, kind, name, secret_hash, prefix, permissions, metadata, created_by,
              expires_at),
      UPDATE (name, metadata, archived_at)
    ON tenantkit.api_keys TO "tenantkit_app";
DROP POLICY member_all ON tenantkit.api_keys;
CREATE POLICY member_select ON tenantkit.api_keys FOR SELECT TO "tenantkit_app"
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_manage_api_keys')));
-- An empty permission list is fine; any permission given must be the creator's own now.
CREATE POLICY member_insert ON tenantkit.api_keys FOR INSERT TO "tenantkit_app"
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id())
                AND (SELECT tenantkit.has_permission('tenantkit::can_manage_api_keys'))
                AND kind = 'org'
                AND user_id IS NULL
                AND created_by = (SELECT tenantkit.current_user_id())
                AND (pg_catalog.cardinality(permissions) = 0
                     OR tenantkit.has_all_permissions(permissions)));
CREATE POLICY member_update ON tenantkit.api_keys FOR UPDATE TO "tenantkit_app"
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_manage_api_keys'))
           AND archived_at IS NULL)
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id())
                AND (SELECT tenantkit.has_permission('tenantkit::can_manage_api_keys')));

-- --- 5. Audit rows from end users ---------------------------------------------

DROP POLICY member_insert ON tenantkit.audit_log;
CREATE POLICY member_insert ON tenantkit.audit_log FOR INSERT TO "tenantkit_app"
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
REVOKE ALL ON ALL SEQUENCES IN SCHEMA tenantkit FROM "tenantkit_app";
-- audit_id is that counter too: gaps between an org's own ids count the
-- other orgs' changes, and audit_log_pkey is not led by org_id. End users read
-- their trail, newest first, through current_org_audit_log().
REVOKE SELECT ON tenantkit.audit_log FROM "tenantkit_app";
GRANT SELECT (org_id, actor_user_id, actor_kind, action, target_type, target_id, metadata,
              occurred_at)
    ON tenantkit.audit_log TO "tenantkit_app";

-- --- 8. Reading users, orgs, invites and the audit log --------------------------

-- Every index on users lacks org_id, and on orgs only the primary key is led by
-- it: the app role keeps no way to name their other columns. orgs.org_id stays
-- (an end user's UPDATE and DELETE need a WHERE on it; orgs_pkey holds the
-- policy's org_id = $InitPlan as an index condition).
REVOKE SELECT ON tenantkit.users FROM "tenantkit_app";
REVOKE SELECT ON tenantkit.orgs FROM "tenantkit_app";
GRANT SELECT (org_id) ON tenantkit.orgs TO "tenantkit_app";

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
TO "tenantkit_app";


UPDATE tenantkit.alembic_version SET version_num='0003' WHERE tenantkit.alembic_version.version_num = '0002';

-- Running upgrade 0003 -> 0004

-- tenantkit 0004: events (a transactional outbox) and webhook endpoints.
--
-- Every change to orgs, users, memberships, invites and org API keys writes its
-- event from an AFTER ROW trigger, in the same transaction as the change: a
-- committed change has exactly one event and a rolled-back one none, whoever
-- made it (the service role, an end user through row-level security, a
-- SECURITY DEFINER function, the owner). The trigger functions run as the
-- owner; no other role may write tenantkit.events, and only the service role
-- may read it (end users never see events).
--
-- Event ids follow commit order. A plain sequence would not: a transaction
-- that takes id 5 and commits after the one that took id 6 lets a consumer
-- polling `event_id > last_seen` see 6 and then skip 5 forever. So an event
-- carries a negative placeholder while its transaction is open, and a
-- deferred constraint trigger gives it its final id at commit, under a lock
-- that is held until the transaction ends. PostgreSQL releases locks only
-- after the commit is visible, so the next transaction takes its ids after
-- every smaller id is visible: a reader that sees id N sees every committed
-- id below N. The price is that commits of event-writing transactions are
-- serialised from their id assignment to their end (the commit record's
-- flush included).

-- The event names (PropelAuth's). tenantkit/events/types.py holds the same list.
CREATE FUNCTION tenantkit.event_types() RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = ''
AS $$
    SELECT ARRAY[
        'org.created', 'org.updated', 'org.deleted',
        'user.created', 'user.updated', 'user.deleted',
        'user.added_to_org', 'user.removed_from_org', 'user.role_changed_within_org',
        'user.invited_to_org',
        'org.api_key_created', 'org.api_key_archived'
    ]::text[]
$$;

CREATE SEQUENCE tenantkit.event_id_seq AS bigint;           -- final ids, taken at commit
CREATE SEQUENCE tenantkit.event_placeholder_seq AS bigint;  -- negated while the transaction is open

-- Never holds rows: its lock is the commit-order lock (a table of its own, so
-- no application advisory lock can collide with it, and no row is updated).
CREATE TABLE tenantkit.event_commit_order ();

CREATE TABLE tenantkit.events (
    event_id      bigint PRIMARY KEY,
    event_type    text NOT NULL CHECK (event_type = ANY (tenantkit.event_types())),
    -- The org the event belongs to; NULL for project-wide events (a user who
    -- belongs to no isolated org).
    org_id        uuid,
    payload       jsonb NOT NULL CHECK (pg_catalog.jsonb_typeof(payload) = 'object'),
    occurred_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- When the id was assigned, just before the commit (for lag and latency).
    committed_at  timestamptz
);

CREATE FUNCTION tenantkit._emit_event(p_type text, p_org_id uuid, p_payload jsonb) RETURNS void
    LANGUAGE sql
    SET search_path = ''
AS $$
    INSERT INTO tenantkit.events (event_id, event_type, org_id, payload)
    VALUES (-pg_catalog.nextval('tenantkit.event_placeholder_seq'), p_type, p_org_id, p_payload)
$$;

-- At commit (or at SET CONSTRAINTS ... IMMEDIATE, which only holds the lock
-- longer): the final id. If a savepoint that ran this is rolled back,
-- PostgreSQL re-queues the trigger, so no event keeps its placeholder.
CREATE FUNCTION tenantkit._event_commit_order() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    LOCK TABLE tenantkit.event_commit_order IN EXCLUSIVE MODE;
    UPDATE tenantkit.events
       SET event_id = pg_catalog.nextval('tenantkit.event_id_seq'),
           committed_at = pg_catalog.clock_timestamp()
     WHERE event_id = NEW.event_id;
    -- Identical notifications collapse into one per transaction; delivered at commit.
    PERFORM pg_catalog.pg_notify('tenantkit_events', '');
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER events_commit_order AFTER INSERT ON tenantkit.events
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION tenantkit._event_commit_order();

-- --- payloads (PropelAuth's field names) ---------------------------------------

CREATE FUNCTION tenantkit._org_payload(o tenantkit.orgs) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
    SET search_path = ''
AS $$
    SELECT pg_catalog.jsonb_build_object(
        'org_id', o.org_id, 'name', o.name, 'url_safe_org_name', o.url_safe_org_name,
        'domain', o.domain, 'extra_domains', o.extra_domains, 'max_users', o.max_users,
        'metadata', o.metadata, 'legacy_org_id', o.legacy_org_id, 'external_id', o.external_id,
        'isolated', o.isolated)
$$;

CREATE FUNCTION tenantkit._user_payload(u tenantkit.users) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
    SET search_path = ''
AS $$
    SELECT pg_catalog.jsonb_build_object(
        'user_id', u.user_id, 'email', u.email, 'email_confirmed', u.email_confirmed,
        'first_name', u.first_name, 'last_name', u.last_name, 'username', u.username,
        'picture_url', u.picture_url, 'locked', u.locked, 'enabled', u.enabled,
        'mfa_enabled', u.mfa_enabled, 'legacy_user_id', u.legacy_user_id,
        'metadata', u.metadata, 'properties', u.properties,
        'isolated_org_id', u.isolated_org_id)
$$;

-- --- the triggers that write events ----------------------------------------------

CREATE FUNCTION tenantkit._org_events() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM tenantkit._emit_event('org.created', NEW.org_id, tenantkit._org_payload(NEW));
    ELSIF TG_OP = 'UPDATE' THEN
        -- updated_at alone moves on every UPDATE; a no-op update is no change.
        IF (pg_catalog.to_jsonb(OLD) - 'updated_at') <> (pg_catalog.to_jsonb(NEW) - 'updated_at') THEN
            PERFORM tenantkit._emit_event('org.updated', NEW.org_id, tenantkit._org_payload(NEW));
        END IF;
    ELSE
        PERFORM tenantkit._emit_event('org.deleted', OLD.org_id,
            pg_catalog.jsonb_build_object('org_id', OLD.org_id, 'name', OLD.name));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER orgs_events AFTER INSERT OR UPDATE OR DELETE ON tenantkit.orgs
    FOR EACH ROW EXECUTE FUNCTION tenantkit._org_events();

CREATE FUNCTION tenantkit._user_events() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM tenantkit._emit_event('user.created', NEW.isolated_org_id,
                                      tenantkit._user_payload(NEW));
    ELSIF TG_OP = 'UPDATE' THEN
        -- Activity stamps are bookkeeping, not a change to the user.
        IF (pg_catalog.to_jsonb(OLD) - 'last_active_at') <> (pg_catalog.to_jsonb(NEW) - 'last_active_at') THEN
            PERFORM tenantkit._emit_event('user.updated', NEW.isolated_org_id,
                                          tenantkit._user_payload(NEW));
        END IF;
    ELSE
        PERFORM tenantkit._emit_event('user.deleted', OLD.isolated_org_id,
            pg_catalog.jsonb_build_object('user_id', OLD.user_id, 'email', OLD.email));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER users_events AFTER INSERT OR UPDATE OR DELETE ON tenantkit.users
    FOR EACH ROW EXECUTE FUNCTION tenantkit._user_events();

-- Status changes (deactivate, reactivate) have no PropelAuth event and write none.
CREATE FUNCTION tenantkit._membership_events() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM tenantkit._emit_event('user.added_to_org', NEW.org_id,
            pg_catalog.jsonb_build_object('org_id', NEW.org_id, 'user_id', NEW.user_id,
                                          'role', NEW.role,
                                          'additional_roles', NEW.additional_roles));
    ELSIF TG_OP = 'UPDATE' THEN
        IF NEW.role IS DISTINCT FROM OLD.role
           OR NEW.additional_roles IS DISTINCT FROM OLD.additional_roles THEN
            PERFORM tenantkit._emit_event('user.role_changed_within_org', NEW.org_id,
                pg_catalog.jsonb_build_object('org_id', NEW.org_id, 'user_id', NEW.user_id,
                                              'old_role', OLD.role, 'new_role', NEW.role,
                                              'old_additional_roles', OLD.additional_roles,
                                              'new_additional_roles', NEW.additional_roles));
        END IF;
    -- A membership that goes with its org is part of org.deleted, not a removal
    -- (the org row is already gone when the cascade reaches its memberships).
    ELSIF EXISTS (SELECT 1 FROM tenantkit.orgs AS o WHERE o.org_id = OLD.org_id) THEN
        PERFORM tenantkit._emit_event('user.removed_from_org', OLD.org_id,
            pg_catalog.jsonb_build_object('org_id', OLD.org_id, 'removed_user_id', OLD.user_id,
                                          'role', OLD.role));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER memberships_events AFTER INSERT OR UPDATE OR DELETE ON tenantkit.memberships
    FOR EACH ROW EXECUTE FUNCTION tenantkit._membership_events();

CREATE FUNCTION tenantkit._invite_events() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    PERFORM tenantkit._emit_event('user.invited_to_org', NEW.org_id,
        pg_catalog.jsonb_build_object('org_id', NEW.org_id, 'invite_id', NEW.invite_id,
                                      'invitee_email', NEW.email,
                                      'invitee_user_id', NEW.invitee_user_id,
                                      'role_in_org', NEW.role,
                                      'additional_roles_in_org', NEW.additional_roles,
                                      'inviter_user_id', NEW.inviter_user_id));
    RETURN NULL;
END
$$;
CREATE TRIGGER invites_events AFTER INSERT ON tenantkit.invites
    FOR EACH ROW EXECUTE FUNCTION tenantkit._invite_events();

-- Org API keys only: integration keys belong to the backend, user keys to no org.
CREATE FUNCTION tenantkit._api_key_events() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    IF NEW.kind <> 'org' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        PERFORM tenantkit._emit_event('org.api_key_created', NEW.org_id,
            pg_catalog.jsonb_build_object('org_id', NEW.org_id, 'api_key_id', NEW.api_key_id,
                                          'display_name', NEW.name,
                                          'permissions', NEW.permissions));
    ELSIF OLD.archived_at IS NULL AND NEW.archived_at IS NOT NULL THEN
        PERFORM tenantkit._emit_event('org.api_key_archived', NEW.org_id,
            pg_catalog.jsonb_build_object('org_id', NEW.org_id, 'api_key_id', NEW.api_key_id));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER api_keys_events AFTER INSERT OR UPDATE OF archived_at ON tenantkit.api_keys
    FOR EACH ROW EXECUTE FUNCTION tenantkit._api_key_events();

-- --- webhook endpoints and their delivery state ----------------------------------

-- url: https, or http to a loopback host (delivered only by a worker started for
-- development). No credentials in the URL, no fragment, no whitespace.
CREATE TABLE tenantkit.webhook_endpoints (
    endpoint_id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    url                         text NOT NULL,
    description                 text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    -- Empty: every event type.
    event_types                 text[] NOT NULL DEFAULT '{}'
                                CHECK (event_types <@ tenantkit.event_types()),
    -- NULL: every org, and project-wide events; otherwise that org's events only.
    -- No foreign key: the org's own org.deleted must still reach the endpoint.
    org_id                      uuid,
    enabled                     boolean NOT NULL DEFAULT true,
    -- The signing secret (whsec_...), or its encryption under the application's
    -- key (tkenc1:...). Only the service role can read it.
    secret                      text NOT NULL,
    -- Rotation: the previous secret keeps signing until it expires.
    previous_secret             text,
    previous_secret_expires_at  timestamptz,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_endpoints_url_check CHECK (
        length(url) <= 2000
        AND url !~ '[[:space:][:cntrl:]#]'
        AND (url ~ '^https://[^/?@]+(/|\?|$)'
             OR url ~ '^http://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]{1,5})?(/|\?|$)')),
    CONSTRAINT webhook_endpoints_previous_secret_check
        CHECK ((previous_secret IS NULL) = (previous_secret_expires_at IS NULL))
);

-- One row per endpoint: how far delivery got. The worker locks it FOR UPDATE
-- SKIP LOCKED while it delivers, so the endpoint row stays free for management.
CREATE TABLE tenantkit.webhook_cursors (
    endpoint_id              uuid PRIMARY KEY REFERENCES tenantkit.webhook_endpoints ON DELETE CASCADE,
    -- Every event up to here is delivered, dead-lettered or filtered out.
    last_event_id            bigint NOT NULL CHECK (last_event_id >= 0),
    -- The event that `attempts` counts for (the head of the endpoint's line).
    head_event_id            bigint,
    attempts                 integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at          timestamptz NOT NULL DEFAULT now(),
    last_attempt_at          timestamptz,
    last_success_at          timestamptz,
    last_delivered_event_id  bigint,
    last_status_code         integer,
    last_error               text CHECK (length(last_error) <= 500),
    delivered_count          bigint NOT NULL DEFAULT 0
);

-- A new endpoint starts after the events that exist when it is created.
CREATE FUNCTION tenantkit._webhook_cursor_start() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = ''
AS $$
BEGIN
    INSERT INTO tenantkit.webhook_cursors (endpoint_id, last_event_id)
    SELECT NEW.endpoint_id, COALESCE(pg_catalog.max(e.event_id), 0)
    FROM tenantkit.events AS e
    WHERE e.event_id > 0;
    RETURN NULL;
END
$$;
CREATE TRIGGER webhook_endpoints_cursor AFTER INSERT ON tenantkit.webhook_endpoints
    FOR EACH ROW EXECUTE FUNCTION tenantkit._webhook_cursor_start();

-- Events that failed every attempt; replaying queues them again (replay_requested_at).
CREATE TABLE tenantkit.webhook_dead_letters (
    endpoint_id          uuid NOT NULL REFERENCES tenantkit.webhook_endpoints ON DELETE CASCADE,
    event_id             bigint NOT NULL REFERENCES tenantkit.events,
    attempts             integer NOT NULL,
    last_error           text CHECK (length(last_error) <= 500),
    dead_at              timestamptz NOT NULL DEFAULT now(),
    replay_requested_at  timestamptz,
    PRIMARY KEY (endpoint_id, event_id)
);
CREATE INDEX webhook_dead_letters_replay ON tenantkit.webhook_dead_letters (endpoint_id, event_id)
    WHERE replay_requested_at IS NOT NULL;

-- --- privileges --------------------------------------------------------------------

REVOKE ALL ON FUNCTION
    tenantkit.event_types(),
    tenantkit._emit_event(text, uuid, jsonb),
    tenantkit._event_commit_order(),
    tenantkit._org_payload(tenantkit.orgs),
    tenantkit._user_payload(tenantkit.users),
    tenantkit._org_events(),
    tenantkit._user_events(),
    tenantkit._membership_events(),
    tenantkit._invite_events(),
    tenantkit._api_key_events(),
    tenantkit._webhook_cursor_start()
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenantkit.event_types(), tenantkit._webhook_cursor_start()
    TO "tenantkit_service";

-- Events: the service role reads them; nobody but the trigger functions writes.
-- The app role gets nothing here: end users do not read events.
REVOKE ALL ON tenantkit.events, tenantkit.event_commit_order, tenantkit.webhook_endpoints,
    tenantkit.webhook_cursors, tenantkit.webhook_dead_letters FROM PUBLIC;
GRANT SELECT ON tenantkit.events TO "tenantkit_service";
GRANT SELECT, INSERT, UPDATE, DELETE ON tenantkit.webhook_endpoints, tenantkit.webhook_cursors,
    tenantkit.webhook_dead_letters TO "tenantkit_service";

ALTER TABLE tenantkit.events ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenantkit.event_commit_order ENABLE ROW LEVEL SECURITY;
CREATE POLICY service_select ON tenantkit.events AS PERMISSIVE FOR SELECT TO "tenantkit_service"
    USING (true);
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['webhook_endpoints', 'webhook_cursors', 'webhook_dead_letters']
    LOOP
        EXECUTE pg_catalog.format('ALTER TABLE tenantkit.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE pg_catalog.format(
            'CREATE POLICY service_all ON tenantkit.%I AS PERMISSIVE FOR ALL TO "tenantkit_service"'
            ' USING (true) WITH CHECK (true)', t);
    END LOOP;
END
$$;


UPDATE tenantkit.alembic_version SET version_num='0004' WHERE tenantkit.alembic_version.version_num = '0003';

-- Running upgrade 0004 -> 0005

-- tenantkit 0005: the live membership check at the cost of an index probe.
--
-- Before: tenant policies called current_org_id(), a PL/pgSQL SECURITY
-- DEFINER function with SET search_path, about 60 us per statement (the
-- definer switch, the GUC save and restore of SET, an SPI query), plus
-- current_user_id() (PL/pgSQL with SET, about 18 us) for any_member().
--
-- current_membership: the bound, live membership (0003's _bound_membership:
-- active, enabled and unlocked user, the binding stamp of this transaction)
-- as a view. A policy reads it in a scalar subquery, `org_id = (SELECT
-- m.org_id FROM tenantkit.current_membership AS m)`, which PostgreSQL runs
-- once per statement as an InitPlan: two primary-key probes (memberships,
-- users), no function call, no SPI, no GUC switch.
--
-- Why this is as safe as the definer function:
-- - A view reads its tables with its owner's rights (the owner is not subject
--   to the ENABLEd, not FORCEd, RLS of tenantkit's tables), so the app role
--   still cannot read memberships beyond what their policies allow; through
--   the view it sees one row at most, its own bound membership, which
--   current_org_id() and current_role() already told it.
-- - security_barrier: the app role's own conditions on the view (a leaky
--   function of its own, in pg_temp or anywhere) run only after the view's
--   WHERE, so they never see another member's row.
-- - A view and a policy are stored parsed: every relation, function,
--   operator and type is fixed by OID when they are created, so search_path
--   and temp-table shadowing at query time change nothing (the reason the
--   functions pin search_path).
-- - Freshness is the definer function's: the InitPlan reads the statement's
--   snapshot, so under READ COMMITTED a removed membership, a disabled or
--   locked user or a deleted org takes effect at the next statement; under
--   REPEATABLE READ or SERIALIZABLE at the next transaction.
CREATE OR REPLACE VIEW tenantkit.current_membership WITH (security_barrier) AS
    SELECT b.org_id, b.user_id, b.role, b.additional_roles
    FROM tenantkit._bound_membership AS b;
REVOKE ALL ON tenantkit.current_membership FROM PUBLIC;
GRANT SELECT ON tenantkit.current_membership TO "tenantkit_app";

-- The bound user (unverified, as before: the isolation policy checks the
-- membership), if this transaction bound it. A SQL-standard body (RETURN) is
-- parsed once, here, with every name resolved then, and PostgreSQL inlines it
-- into the calling statement: a few expression steps inside the InitPlan
-- instead of a PL/pgSQL call. Inlining needs no SET clause and no SECURITY
-- DEFINER, and a parsed body needs neither: search_path at call time cannot
-- change what it means (tests/db/test_hostile_input.py).
CREATE OR REPLACE FUNCTION tenantkit.current_user_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN CASE
        WHEN pg_catalog.current_setting('tenantkit.bound', true)
             = EXTRACT(epoch FROM pg_catalog.now())::pg_catalog.numeric::pg_catalog.text
        THEN nullif(pg_catalog.current_setting('tenantkit.user_id', true), '')::pg_catalog.uuid
    END;


UPDATE tenantkit.alembic_version SET version_num='0005' WHERE tenantkit.alembic_version.version_num = '0004';

-- Running upgrade 0005 -> 0006

-- tenantkit 0006: signed binding. SQL running as the app role can set
-- tenantkit.user_id and tenantkit.org_id to anything inside its own
-- transaction; with signing on, the ids bind nothing unless the transaction
-- also carries a signature over them made with a secret only the app
-- process holds (never the database's roles).
--
-- tenantkit.signature = '<key id>:<expiry>:<backend pid>:<hex HMAC-SHA256>'
-- over 'tenantkit-binding-v1|<user>|<org>|<key id>|<expiry>|<backend pid>':
-- - expiry: Unix seconds; the signature binds no transaction that starts
--   later (now() is the transaction's start);
-- - backend pid: the server backend the signature was made for, or 0 when
--   the client cannot know it (behind PgBouncer in transaction mode). Another
--   session replaying a signature it read (pg_stat_activity shows the
--   set_local mode's literals to every session of the app role) runs on
--   another backend, where a pid-bound signature is worthless.
-- The README's threat model states what a pid-0 signature leaves open.
--
-- The verifier: HMAC's two padded keys per key id, in binding_keys, which
-- only the owner reads (RLS enabled, no policy, no grant). The views below
-- run with the owner's rights, so the check costs the policies' InitPlan two
-- sha256() calls and one primary-key probe, once per statement. Two live keys
-- at once make rotation seamless: add the new one, deploy the app signing
-- with it, retire the old one (`tenantkit keys binding ...`).

ALTER TABLE tenantkit.settings
    ADD COLUMN signed_binding boolean NOT NULL DEFAULT false;
-- Only the owner turns it off: the service role keeps every other setting.
REVOKE UPDATE ON tenantkit.settings FROM "tenantkit_service";
GRANT UPDATE (users_can_create_orgs, all_users_must_be_in_org, max_orgs_per_user, org_word,
              updated_at, max_invite_expiry)
    ON tenantkit.settings TO "tenantkit_service";

CREATE TABLE tenantkit.binding_keys (
    key_id      text PRIMARY KEY CHECK (key_id ~ '^[A-Za-z0-9_-]{1,32}$'),
    -- HMAC-SHA256's (key XOR ipad) and (key XOR opad), 64 bytes each.
    inner_pad   bytea NOT NULL CHECK (pg_catalog.length(inner_pad) = 64),
    outer_pad   bytea NOT NULL CHECK (pg_catalog.length(outer_pad) = 64),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    retired_at  timestamptz
);
-- No privilege for anyone but the owner, and RLS with no policy as a second
-- lock (ENABLE, not FORCE: the owner's views and functions read it).
REVOKE ALL ON tenantkit.binding_keys FROM PUBLIC, "tenantkit_app", "tenantkit_service";
ALTER TABLE tenantkit.binding_keys ENABLE ROW LEVEL SECURITY;


-- tenantkit 0006 (views and functions; re-runnable, see tests/conftest.py).

-- The binding of this transaction: the ids, if this transaction set them (the
-- stamp of 0003) and, with signing on, if their signature verifies now.
CREATE OR REPLACE VIEW tenantkit._verified_binding AS
    SELECT c.user_id, c.org_id
    FROM (SELECT nullif(pg_catalog.current_setting('tenantkit.user_id', true), '')::uuid
                     AS user_id,
                 nullif(pg_catalog.current_setting('tenantkit.org_id', true), '')::uuid
                     AS org_id,
                 pg_catalog.string_to_array(
                     pg_catalog.current_setting('tenantkit.signature', true), ':') AS sig
          -- OFFSET 0: the settings are read and the signature split once, not
          -- at every reference (halves the verification: about 6.5 -> 3.5 us).
          OFFSET 0) AS c
    WHERE pg_catalog.current_setting('tenantkit.bound', true)
          = EXTRACT(epoch FROM pg_catalog.now())::pg_catalog.numeric::pg_catalog.text
      -- Scalar subqueries, not joins: one-time filters of the InitPlan, so the
      -- planner never mistakes the one-row settings table for a large one and
      -- the membership and user probes stay primary-key lookups.
      AND (NOT (SELECT s.signed_binding FROM tenantkit.settings AS s) OR EXISTS (
          SELECT 1
          FROM tenantkit.binding_keys AS k
          WHERE k.key_id = c.sig[1]
            AND k.retired_at IS NULL
            AND pg_catalog.cardinality(c.sig) = 4
            -- Malformed numbers raise an error: fail closed, loudly.
            AND c.sig[2]::pg_catalog.int8 >= EXTRACT(epoch FROM pg_catalog.now())
            AND c.sig[3]::pg_catalog.int4 IN (0, pg_catalog.pg_backend_pid())
            AND pg_catalog.encode(pg_catalog.sha256(k.outer_pad || pg_catalog.sha256(
                    k.inner_pad || pg_catalog.convert_to(
                        'tenantkit-binding-v1|' || c.user_id::pg_catalog.text || '|'
                        || c.org_id::pg_catalog.text || '|' || c.sig[1] || '|' || c.sig[2]
                        || '|' || c.sig[3], 'UTF8'))), 'hex') = c.sig[4]));

-- 0003's live membership, now over the verified binding.
CREATE OR REPLACE VIEW tenantkit._bound_membership AS
    SELECT m.org_id, m.user_id, m.role, m.additional_roles
    FROM tenantkit._verified_binding AS b
    JOIN tenantkit.memberships AS m ON m.org_id = b.org_id AND m.user_id = b.user_id
    JOIN tenantkit.users AS u ON u.user_id = m.user_id
    WHERE m.status = 'active'
      AND u.enabled
      AND NOT u.locked;

-- The bound user, verified (signing on: the signature; always: the stamp).
-- It reads binding_keys, so it runs as the owner; PL/pgSQL keeps its plan.
CREATE OR REPLACE FUNCTION tenantkit.current_user_id() RETURNS uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
BEGIN
    RETURN (SELECT b.user_id FROM tenantkit._verified_binding AS b);
END
$$;

-- The bound user as the transaction carries it, stamp checked, not verified
-- (0005's current_user_id(), inlined into the InitPlan). Only for the
-- permissive any_member() policy, which never stands alone: the restrictive
-- isolation policy beside it has verified the binding already, so the
-- signature is checked once per statement, not twice.
CREATE OR REPLACE FUNCTION tenantkit.bound_user_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN CASE
        WHEN pg_catalog.current_setting('tenantkit.bound', true)
             = EXTRACT(epoch FROM pg_catalog.now())::pg_catalog.numeric::pg_catalog.text
        THEN nullif(pg_catalog.current_setting('tenantkit.user_id', true), '')::pg_catalog.uuid
    END;
REVOKE ALL ON FUNCTION tenantkit.bound_user_id() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenantkit.bound_user_id() TO "tenantkit_app";

-- The first-connection check: does the app's secret match the database's
-- verifier? p_mac is the app's HMAC of 'tenantkit-binding-check|<key id>'.
-- 'off' (signing off), 'ok', 'retired', 'unknown' or 'mismatch' (and the
-- server's pid and clock, also read by sql/runtime/binding_key_check.sql).
-- A 256-bit secret makes it no oracle worth asking.
CREATE OR REPLACE FUNCTION tenantkit.binding_key_check(p_key_id text, p_mac text,
                                            OUT status text, OUT backend_pid integer,
                                            OUT server_epoch numeric)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_key tenantkit.binding_keys;
BEGIN
    backend_pid := pg_catalog.pg_backend_pid();
    server_epoch := EXTRACT(epoch FROM pg_catalog.clock_timestamp());
    IF NOT (SELECT s.signed_binding FROM tenantkit.settings AS s) THEN
        status := 'off';
        RETURN;
    END IF;
    SELECT * INTO v_key FROM tenantkit.binding_keys AS k WHERE k.key_id = p_key_id;
    IF NOT FOUND THEN
        status := 'unknown';
    ELSIF v_key.retired_at IS NOT NULL THEN
        status := 'retired';
    ELSIF pg_catalog.encode(pg_catalog.sha256(v_key.outer_pad || pg_catalog.sha256(
              v_key.inner_pad || pg_catalog.convert_to(
                  'tenantkit-binding-check|' || p_key_id, 'UTF8'))), 'hex')
          IS DISTINCT FROM p_mac THEN
        status := 'mismatch';
    ELSE
        status := 'ok';
    END IF;
END
$$;
REVOKE ALL ON FUNCTION tenantkit.binding_key_check(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenantkit.binding_key_check(text, text) TO "tenantkit_app";


UPDATE tenantkit.alembic_version SET version_num='0006' WHERE tenantkit.alembic_version.version_num = '0005';

-- Running upgrade 0006 -> 0007

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
    TO "tenantkit_service" USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON tenantkit.org_domain_verifications TO "tenantkit_service";
-- End users who may update the org: ask for a domain (pending), read, withdraw a
-- pending one. Never a chosen token, never the state.
GRANT SELECT, INSERT (org_id, domain), DELETE ON tenantkit.org_domain_verifications
    TO "tenantkit_app";
CREATE POLICY member_select ON tenantkit.org_domain_verifications FOR SELECT TO "tenantkit_app"
    USING (org_id = (SELECT tenantkit.current_org_id())
           AND (SELECT tenantkit.has_permission('tenantkit::can_update_org')));
CREATE POLICY member_insert ON tenantkit.org_domain_verifications FOR INSERT TO "tenantkit_app"
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id())
                AND (SELECT tenantkit.has_permission('tenantkit::can_update_org'))
                AND state = 'pending');
CREATE POLICY member_delete ON tenantkit.org_domain_verifications FOR DELETE TO "tenantkit_app"
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
    TO "tenantkit_service" USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON tenantkit.idempotency_keys TO "tenantkit_service";

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
TO "tenantkit_service";
GRANT EXECUTE ON FUNCTION
    tenantkit.current_user_orgs(),
    tenantkit.decline_invite(text),
    tenantkit.record_invite_delivery(uuid, boolean, text),
    tenantkit.current_org_invite_deliveries(),
    tenantkit.touch_current_user()
TO "tenantkit_app";


UPDATE tenantkit.alembic_version SET version_num='0007' WHERE tenantkit.alembic_version.version_num = '0006';

-- Running upgrade 0007 -> 0008

-- The startup check (tenantkit.startup) runs as the app role and compares
-- tenantkit's revision with head: the version table is readable, nothing else.
GRANT SELECT ON tenantkit.alembic_version TO "tenantkit_app", "tenantkit_service";


UPDATE tenantkit.alembic_version SET version_num='0008' WHERE tenantkit.alembic_version.version_num = '0007';

-- Running upgrade 0008 -> 0009

-- tenantkit 0009 (identity): provider ids for users, and the state that keeps
-- webhook-driven syncs idempotent and ordered.
--
-- 1. user_identities: a user's id at an identity provider (WorkOS `user_…`,
--    Auth0 `auth0|…`, ...), unique per provider. A link is immutable: it is
--    created or deleted, never re-pointed, so a cached "external id -> user_id"
--    can only ever name the user it named, or a user that no longer exists
--    (who binds nothing). Orgs keep their single orgs.external_id (0001).
-- 2. identity_events: every inbound webhook event applied, by (provider, event
--    id): a replay is recognised and changes nothing.
-- 3. identity_versions: per synced object (org, user, membership), the time of
--    the last event applied and whether it removed the object. An older event
--    is skipped, so out-of-order delivery never resurrects a removed membership;
--    at equal times a removal wins (fail closed).
-- Only the service role reads or writes these; the app role has no privilege
-- on them (an app-role lookup by external id would be an oracle across orgs).

CREATE TABLE tenantkit.user_identities (
    provider     text NOT NULL CHECK (provider ~ '^[a-z][a-z0-9_-]{0,39}$'),
    external_id  text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 255),
    user_id      uuid NOT NULL REFERENCES tenantkit.users ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, external_id),
    UNIQUE (user_id, provider)
);

CREATE FUNCTION tenantkit._refuse_identity_change() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = ''
AS $$
BEGIN
    RAISE EXCEPTION 'a user identity is never re-pointed: delete it and create another'
        USING ERRCODE = 'TKI01';
END
$$;
CREATE TRIGGER user_identities_immutable BEFORE UPDATE ON tenantkit.user_identities
    FOR EACH ROW EXECUTE FUNCTION tenantkit._refuse_identity_change();

CREATE TABLE tenantkit.identity_events (
    provider     text NOT NULL,
    event_id     text NOT NULL CHECK (length(event_id) BETWEEN 1 AND 255),
    event_type   text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    applied      boolean NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, event_id)
);

CREATE TABLE tenantkit.identity_versions (
    provider     text NOT NULL,
    object_kind  text NOT NULL CHECK (object_kind IN ('org', 'user', 'membership')),
    object_key   text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    removed      boolean NOT NULL,
    PRIMARY KEY (provider, object_kind, object_key)
);

GRANT SELECT, INSERT, DELETE ON tenantkit.user_identities TO "tenantkit_service";
GRANT SELECT, INSERT, UPDATE, DELETE ON tenantkit.identity_events, tenantkit.identity_versions
    TO "tenantkit_service";

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['user_identities', 'identity_events', 'identity_versions']
    LOOP
        EXECUTE pg_catalog.format('ALTER TABLE tenantkit.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE pg_catalog.format(
            'CREATE POLICY service_all ON tenantkit.%I AS PERMISSIVE FOR ALL TO "tenantkit_service"'
            ' USING (true) WITH CHECK (true)', t);
    END LOOP;
END
$$;


UPDATE tenantkit.alembic_version SET version_num='0009' WHERE tenantkit.alembic_version.version_num = '0008';

-- Running upgrade 0009 -> 0010

-- tenantkit 0010: org API keys as request credentials.
--
-- A request authenticated by an org API key binds that org with a *key
-- principal*: tenantkit.api_key_id (the key's id, never its secret) instead
-- of tenantkit.user_id, which stays empty. The database decides, per
-- statement like a membership, whether the key is still live: an archived
-- or expired key (or one whose org is gone) binds nothing from the next
-- statement on (READ COMMITTED; the next transaction under REPEATABLE READ),
-- whatever the app cached. With signed binding on, the key principal is
-- signed like a user binding, over a message of its own:
--   'tenantkit-apikey-v1|<api key id>|<org>|<key id>|<expiry>|<backend pid>'
-- (a user binding's message starts 'tenantkit-binding-v1|', so neither
-- signature can be read as the other).
--
-- What a key may do (fail closed, README "API keys"):
-- - tenant tables: the restrictive isolation policy admits the key's org
--   (current_membership gains a key branch); a permissive rule admits it
--   only if it says so: api_key(), or permission(...)/all_permissions(...)
--   with the key's permissions. any_member() and the role rules stay a
--   *user's* rules: a key is no member and has no role.
-- - tenantkit's own tables and SECURITY DEFINER doors read current_org_id(),
--   the bound *member's* org, which stays user-only: a key reaches none of
--   them (no members, invites, keys, audit log, org settings).
-- Every statement below is re-runnable (tests/conftest.py re-applies it).

-- The key principal of this transaction: the key id and org, if this
-- transaction bound them (the stamp of 0003), bound no user (a binding is a
-- user or a key, never both) and, with signing on, if their signature
-- verifies now. The owner's rights read binding_keys, as in 0006.
CREATE OR REPLACE VIEW tenantkit._verified_key_binding AS
    SELECT c.api_key_id, c.org_id
    FROM (SELECT nullif(pg_catalog.current_setting('tenantkit.api_key_id', true), '')::uuid
                     AS api_key_id,
                 nullif(pg_catalog.current_setting('tenantkit.org_id', true), '')::uuid
                     AS org_id,
                 nullif(pg_catalog.current_setting('tenantkit.user_id', true), '') AS user_id,
                 pg_catalog.string_to_array(
                     pg_catalog.current_setting('tenantkit.signature', true), ':') AS sig
          OFFSET 0) AS c
    WHERE c.api_key_id IS NOT NULL
      AND c.user_id IS NULL
      AND pg_catalog.current_setting('tenantkit.bound', true)
          = EXTRACT(epoch FROM pg_catalog.now())::pg_catalog.numeric::pg_catalog.text
      AND (NOT (SELECT s.signed_binding FROM tenantkit.settings AS s) OR EXISTS (
          SELECT 1
          FROM tenantkit.binding_keys AS k
          WHERE k.key_id = c.sig[1]
            AND k.retired_at IS NULL
            AND pg_catalog.cardinality(c.sig) = 4
            AND c.sig[2]::pg_catalog.int8 >= EXTRACT(epoch FROM pg_catalog.now())
            AND c.sig[3]::pg_catalog.int4 IN (0, pg_catalog.pg_backend_pid())
            AND pg_catalog.encode(pg_catalog.sha256(k.outer_pad || pg_catalog.sha256(
                    k.inner_pad || pg_catalog.convert_to(
                        'tenantkit-apikey-v1|' || c.api_key_id::pg_catalog.text || '|'
                        || c.org_id::pg_catalog.text || '|' || c.sig[1] || '|' || c.sig[2]
                        || '|' || c.sig[3], 'UTF8'))), 'hex') = c.sig[4]));

-- The bound key, if it is live right now: an org key of the bound org, not
-- archived, not expired (now(): the transaction's start). A primary-key probe.
CREATE OR REPLACE VIEW tenantkit._bound_key AS
    SELECT k.org_id, k.api_key_id, k.permissions
    FROM tenantkit._verified_key_binding AS b
    JOIN tenantkit.api_keys AS k ON k.api_key_id = b.api_key_id
    WHERE k.org_id = b.org_id
      AND k.kind = 'org'
      AND k.archived_at IS NULL
      AND (k.expires_at IS NULL OR k.expires_at > pg_catalog.now());

-- 0005's live membership, plus the live key: the org tenant tables' restrictive
-- policy compares with. At most one row: a binding is a user or a key.
-- The UNION ALL sits in a subquery, never at the view's top: PostgreSQL
-- flattens a top-level UNION ALL into its branches, security_barrier or not,
-- and would then run the caller's (leaky) conditions on every membership row
-- before the binding's filters (tests/db/test_policy_cost.py's leak test).
CREATE OR REPLACE VIEW tenantkit.current_membership WITH (security_barrier) AS
    SELECT c.org_id, c.user_id, c.role, c.additional_roles
    FROM (SELECT b.org_id, b.user_id, b.role, b.additional_roles
          FROM tenantkit._bound_membership AS b
          UNION ALL
          SELECT k.org_id, NULL::pg_catalog.uuid, NULL::pg_catalog.text,
                 NULL::pg_catalog.text[]
          FROM tenantkit._bound_key AS k) AS c;
REVOKE ALL ON tenantkit.current_membership FROM PUBLIC;
GRANT SELECT ON tenantkit.current_membership TO "tenantkit_app";

-- The bound user's permissions (0001), or the live key's own. has_permission()
-- and has_all_permissions() read this; tenantkit's own tables pair them with
-- current_org_id() (user-only), so a key's permissions open tenant tables only.
CREATE OR REPLACE VIEW tenantkit._bound_permissions AS
    SELECT DISTINCT p.permission
    FROM (SELECT up.permission
          FROM tenantkit._bound_member AS b
          JOIN tenantkit.roles AS r
            ON r.mapping_id = b.mapping_id
           AND (r.name = b.role OR (b.multi_role AND r.name = ANY (b.additional_roles)))
          CROSS JOIN LATERAL pg_catalog.unnest(r.permissions) AS up (permission)
          UNION ALL
          SELECT kp.permission
          FROM tenantkit._bound_key AS k
          CROSS JOIN LATERAL pg_catalog.unnest(k.permissions) AS kp (permission)) AS p;

-- The bound key, verified and live (for app code: "which key is this?").
CREATE OR REPLACE FUNCTION tenantkit.current_api_key_id() RETURNS uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
BEGIN
    RETURN (SELECT k.api_key_id FROM tenantkit._bound_key AS k);
END
$$;
REVOKE ALL ON FUNCTION tenantkit.current_api_key_id() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenantkit.current_api_key_id() TO "tenantkit_app";

-- The bound key as the transaction carries it, stamp checked, not verified,
-- and only when no user is bound: the api_key() rule (like any_member()'s
-- bound_user_id()). It never stands alone: the restrictive isolation policy
-- beside it has verified this statement's binding, which is then either a
-- member (a user id is set: this is NULL) or a live key (this is its id).
CREATE OR REPLACE FUNCTION tenantkit.bound_api_key_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN CASE
        WHEN pg_catalog.current_setting('tenantkit.bound', true)
             = EXTRACT(epoch FROM pg_catalog.now())::pg_catalog.numeric::pg_catalog.text
         AND nullif(pg_catalog.current_setting('tenantkit.user_id', true), '') IS NULL
        THEN nullif(pg_catalog.current_setting('tenantkit.api_key_id', true), '')::pg_catalog.uuid
    END;
REVOKE ALL ON FUNCTION tenantkit.bound_api_key_id() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenantkit.bound_api_key_id() TO "tenantkit_app";


UPDATE tenantkit.alembic_version SET version_num='0010' WHERE tenantkit.alembic_version.version_num = '0009';

-- Running upgrade 0010 -> 0011

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
TO "tenantkit_app";


UPDATE tenantkit.alembic_version SET version_num='0011' WHERE tenantkit.alembic_version.version_num = '0010';

-- Running upgrade 0011 -> 0012

-- tenantkit 0012: the live membership check back to one probe (issue 17).
--
-- 0010 made current_membership a member branch UNION ALL a key branch, each
-- with its own read of the settings, its own stamp check, its own signature
-- check (0006's for users, 0010's for keys) and its own executor subtree; and
-- every tenant statement's plan carried the settings table, binding_keys and
-- a signature subplan, executed or not.
--
-- Now one view, _verified_principal, reads the binding once: the stamp, the
-- principal (a user, or a key when no user is bound: a binding is one or the
-- other) and, with signing on, one HMAC check whose message prefix says which
-- it signs ('tenantkit-binding-v1|<user>|...' or 'tenantkit-apikey-v1|<key>|...':
-- a user's signature never verifies as a key's, nor the other way round).
-- _verified_binding (users) and _verified_key_binding (keys) are filters of
-- it, so the two kinds of principal share one definition of "verified".
--
-- current_membership is then a single SELECT over that one row: the user's
-- membership and the key, each a primary-key probe in a LEFT JOIN; the probe
-- the binding does not need has a NULL key, which the index answers without
-- reading a page. No UNION ALL, so nothing for PostgreSQL to flatten past the
-- security barrier (tests/db/test_policy_cost.py, test_api_key_binding.py).
--
-- Same answers: the same stamp, the same signature messages, the same
-- membership (active, enabled, unlocked user) and key (an org key of the
-- bound org, not archived, not expired) conditions, read in the statement's
-- snapshot (freshness: the next statement under READ COMMITTED).
-- Every statement below is re-runnable (tests/conftest.py re-applies it).

-- The binding of this transaction, verified: a user or a key principal.
--
-- Defined for the signing mode in force (settings.signed_binding), by the
-- function below, which a trigger on settings runs again whenever the mode
-- changes: with signing off, the view holds no signature check at all; with
-- it on, the check is unconditional. Reading the flag per statement instead
-- (0006, 0010) put the settings table, binding_keys and a subplan into every
-- tenant statement's plan, executed or not: their locks, permission checks
-- and executor set-up cost about 13 us per statement (measured, a pk lookup,
-- 28 -> 53 us wall; the check's own execution is a few us of that). A
-- mode change is DDL: it invalidates every cached plan that reads the view,
-- so it takes effect at the next statement, as the settings read did (and,
-- under REPEATABLE READ, no later than before). Only the owner changes the
-- flag (0006 revokes UPDATE of it), and the view and this function are the
-- owner's.
CREATE OR REPLACE FUNCTION tenantkit._define_verified_principal() RETURNS void
    LANGUAGE plpgsql
    SET search_path = ''
AS $fn$
DECLARE
    -- No settings row (or a NULL flag) means signed: fail closed.
    v_signed boolean := coalesce((SELECT s.signed_binding FROM tenantkit.settings AS s), true);
BEGIN
    EXECUTE $view$
CREATE OR REPLACE VIEW tenantkit._verified_principal AS
    SELECT c.user_id, c.api_key_id, c.org_id
    FROM (SELECT nullif(pg_catalog.current_setting('tenantkit.user_id', true), '')::uuid
                     AS user_id,
                 -- A key counts only when no user is bound.
                 CASE WHEN nullif(pg_catalog.current_setting('tenantkit.user_id', true), '')
                           IS NULL
                      THEN nullif(pg_catalog.current_setting('tenantkit.api_key_id', true),
                                  '')::uuid
                 END AS api_key_id,
                 nullif(pg_catalog.current_setting('tenantkit.org_id', true), '')::uuid
                     AS org_id,
                 pg_catalog.string_to_array(
                     pg_catalog.current_setting('tenantkit.signature', true), ':') AS sig
          -- OFFSET 0: the settings are read and the signature split once, not
          -- at every reference.
          OFFSET 0) AS c
    WHERE pg_catalog.current_setting('tenantkit.bound', true)
          = EXTRACT(epoch FROM pg_catalog.now())::pg_catalog.numeric::pg_catalog.text
      AND (c.user_id IS NOT NULL OR c.api_key_id IS NOT NULL)$view$
    || CASE WHEN v_signed THEN $check$
      AND EXISTS (
          SELECT 1
          FROM tenantkit.binding_keys AS k
          WHERE k.key_id = c.sig[1]
            AND k.retired_at IS NULL
            AND pg_catalog.cardinality(c.sig) = 4
            -- Malformed numbers raise an error: fail closed, loudly.
            AND c.sig[2]::pg_catalog.int8 >= EXTRACT(epoch FROM pg_catalog.now())
            AND c.sig[3]::pg_catalog.int4 IN (0, pg_catalog.pg_backend_pid())
            AND pg_catalog.encode(pg_catalog.sha256(k.outer_pad || pg_catalog.sha256(
                    k.inner_pad || pg_catalog.convert_to(
                        CASE WHEN c.user_id IS NOT NULL
                             THEN 'tenantkit-binding-v1|' || c.user_id::pg_catalog.text
                             ELSE 'tenantkit-apikey-v1|' || c.api_key_id::pg_catalog.text
                        END
                        || '|' || c.org_id::pg_catalog.text || '|' || c.sig[1] || '|'
                        || c.sig[2] || '|' || c.sig[3], 'UTF8'))), 'hex') = c.sig[4])$check$
    ELSE '' END;
END
$fn$;
REVOKE ALL ON FUNCTION tenantkit._define_verified_principal() FROM PUBLIC;

-- The trigger's function runs as the owner (who owns the view): a role that
-- may write settings rows (the service role inserts and deletes) can only make
-- the view match the flag, which the definition reads itself.
CREATE OR REPLACE FUNCTION tenantkit._redefine_verified_principal() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $fn$
BEGIN
    PERFORM tenantkit._define_verified_principal();
    RETURN NULL;
END
$fn$;
REVOKE ALL ON FUNCTION tenantkit._redefine_verified_principal() FROM PUBLIC;

-- Any statement that may change the mode (an UPDATE naming the flag, or the
-- row's insert or delete) redefines the view, in the same transaction.
CREATE OR REPLACE TRIGGER _redefine_verified_principal
    AFTER INSERT OR DELETE OR UPDATE OF signed_binding ON tenantkit.settings
    FOR EACH STATEMENT EXECUTE FUNCTION tenantkit._redefine_verified_principal();

SELECT tenantkit._define_verified_principal();

-- 0006's user binding and 0010's key binding, as filters of the one check.
CREATE OR REPLACE VIEW tenantkit._verified_binding AS
    SELECT p.user_id, p.org_id
    FROM tenantkit._verified_principal AS p
    WHERE p.user_id IS NOT NULL;

CREATE OR REPLACE VIEW tenantkit._verified_key_binding AS
    SELECT p.api_key_id, p.org_id
    FROM tenantkit._verified_principal AS p
    WHERE p.api_key_id IS NOT NULL;

-- The live membership or the live key of the bound org: at most one row.
CREATE OR REPLACE VIEW tenantkit.current_membership WITH (security_barrier) AS
    SELECT p.org_id, m.user_id, m.role, m.additional_roles
    FROM tenantkit._verified_principal AS p
    LEFT JOIN (tenantkit.memberships AS m
               JOIN tenantkit.users AS u
                 ON u.user_id = m.user_id AND u.enabled AND NOT u.locked)
      ON m.org_id = p.org_id AND m.user_id = p.user_id AND m.status = 'active'
    -- The key's org is checked in WHERE, not in the join: the probe then goes
    -- by the primary key alone, and a NULL key (a user's binding) reads no page.
    LEFT JOIN tenantkit.api_keys AS k
      ON k.api_key_id = p.api_key_id
     AND k.kind = 'org'
     AND k.archived_at IS NULL
     AND (k.expires_at IS NULL OR k.expires_at > pg_catalog.now())
    WHERE m.user_id IS NOT NULL OR (k.api_key_id IS NOT NULL AND k.org_id = p.org_id);
REVOKE ALL ON tenantkit.current_membership FROM PUBLIC;
GRANT SELECT ON tenantkit.current_membership TO "tenantkit_app";


UPDATE tenantkit.alembic_version SET version_num='0012' WHERE tenantkit.alembic_version.version_num = '0011';

-- Running upgrade 0012 -> 0013

-- tenantkit 0013: new installs sign their bindings by default (issue 10,
-- "on by default for new installs, once proven").
--
-- A database whose settings row is written by this very run (a fresh install,
-- by `tenantkit migrate`, plain Alembic or install.sql, or a re-install after
-- a downgrade to base) gets signed_binding on: there was no setting to keep.
-- One that upgrades keeps its setting: turning signing on under a running app
-- that has no key would refuse its every connection. "Written by this run":
-- the row's xmin is the current transaction (the migrations run in one, and
-- no migration before this one updates or rewrites the row).
--
-- Signing on with no key yet is a closed state, not a broken one: an engine
-- without a key, or with one the database does not know, is refused at its
-- first connection with a BindingError naming what to run
-- (`tenantkit keys binding new` and `add`), never served empty results.
-- `tenantkit migrate` registers the key of TENANTKIT_BINDING_SECRET (or
-- --binding-secret) right after. The opt-out is explicit: `tenantkit migrate
-- --unsigned-binding` (this file is then not run) or `tenantkit keys binding
-- disable`; doctor check 20 warns while signing is off.
UPDATE tenantkit.settings AS s SET signed_binding = true
WHERE pg_catalog.age(s.xmin) = 0;


UPDATE tenantkit.alembic_version SET version_num='0013' WHERE tenantkit.alembic_version.version_num = '0012';

-- Running upgrade 0013 -> 0014

-- tenantkit 0014 (every database): the backend a signed binding is bound to.
--
-- Plain PostgreSQL: the backend's pid, as 0006's verifier compares. On Citus
-- (sql/0014_citus_reference.sql redefines it) the global pid, which a worker
-- serving this backend's shard queries reports as well. The client reads it at a
-- signing connection's first use (sql/runtime/backend.sql). Re-runnable.
CREATE OR REPLACE FUNCTION tenantkit.binding_backend() RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN pg_catalog.pg_backend_pid()::pg_catalog.int8;
-- Every role: backend.sql runs at the first use of any signing engine's
-- connection, whatever its role (the safety gate then refuses the wrong ones);
-- it tells no more than pg_backend_pid() and citus_backend_gpid() do.
GRANT EXECUTE ON FUNCTION tenantkit.binding_backend() TO PUBLIC;


DO $tenantkit_citus$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
        EXECUTE $tenantkit_citus_sql$
-- tenantkit 0014 on Citus only (applied when the citus extension exists; plain
-- PostgreSQL keeps the definitions of 0003-0011 unchanged). Re-runnable.
--
-- Policies on distributed tenant tables run on the workers, so everything the
-- policy functions read must be there, with the same content in the same
-- transaction. tenantkit's own tables stay on the coordinator: their triggers
-- hold the integrity rules, and a trigger on a reference table runs once per
-- copy on every node (measured on Citus 14: a BEFORE trigger gave each copy its
-- own value; an AFTER trigger writing a coordinator table failed on the
-- workers), and 22 of their policies wrap the functions in (SELECT ...), which
-- Citus refuses on reference tables. Instead, the columns the policy functions
-- read are mirrored into owner-only reference tables (tenantkit._citus_*),
-- written by AFTER triggers on the coordinator in the same transaction (2PC to
-- every node), and the binding views and functions read the mirrors on every
-- node. A membership or role change is in every copy when its transaction
-- commits: the next transaction on any shard sees it.

-- One connection per node for the DDL below (Citus refuses function DDL after a
-- parallel operation in the same transaction).
SET LOCAL citus.multi_shard_modify_mode TO 'sequential';

CREATE TABLE IF NOT EXISTS tenantkit._citus_settings (
    singleton boolean PRIMARY KEY,
    signed_binding boolean NOT NULL
);
CREATE TABLE IF NOT EXISTS tenantkit._citus_binding_keys (
    key_id text PRIMARY KEY,
    inner_pad bytea NOT NULL,
    outer_pad bytea NOT NULL,
    retired_at timestamptz
);
CREATE TABLE IF NOT EXISTS tenantkit._citus_orgs (
    org_id uuid PRIMARY KEY,
    custom_role_mapping_name text
);
CREATE TABLE IF NOT EXISTS tenantkit._citus_users (
    user_id uuid PRIMARY KEY,
    enabled boolean NOT NULL,
    locked boolean NOT NULL
);
CREATE TABLE IF NOT EXISTS tenantkit._citus_memberships (
    org_id uuid NOT NULL,
    user_id uuid NOT NULL,
    role text NOT NULL,
    additional_roles text[] NOT NULL,
    status text NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE TABLE IF NOT EXISTS tenantkit._citus_role_mappings (
    mapping_id uuid PRIMARY KEY,
    name text NOT NULL,
    multi_role boolean NOT NULL,
    is_default boolean NOT NULL
);
CREATE TABLE IF NOT EXISTS tenantkit._citus_roles (
    mapping_id uuid NOT NULL,
    name text NOT NULL,
    rank integer NOT NULL,
    permissions text[] NOT NULL,
    PRIMARY KEY (mapping_id, name)
);
CREATE TABLE IF NOT EXISTS tenantkit._citus_api_keys (
    api_key_id uuid PRIMARY KEY,
    kind text NOT NULL,
    org_id uuid,
    permissions text[] NOT NULL,
    expires_at timestamptz,
    archived_at timestamptz
);

-- The mirrors' columns, once: (source table, mirrored columns, key columns).
CREATE OR REPLACE FUNCTION tenantkit._citus_mirrored()
    RETURNS TABLE (source text, columns text, keys text)
    LANGUAGE sql IMMUTABLE
    SET search_path = ''
AS $$
    VALUES ('settings', 'singleton, signed_binding', 'singleton'),
           ('binding_keys', 'key_id, inner_pad, outer_pad, retired_at', 'key_id'),
           ('orgs', 'org_id, custom_role_mapping_name', 'org_id'),
           ('users', 'user_id, enabled, locked', 'user_id'),
           ('memberships', 'org_id, user_id, role, additional_roles, status', 'org_id, user_id'),
           ('role_mappings', 'mapping_id, name, multi_role, is_default', 'mapping_id'),
           ('roles', 'mapping_id, name, rank, permissions', 'mapping_id, name'),
           ('api_keys', 'api_key_id, kind, org_id, permissions, expires_at, archived_at',
            'api_key_id')
$$;
REVOKE ALL ON FUNCTION tenantkit._citus_mirrored() FROM PUBLIC;

-- The row trigger: TG_ARGV[0] the mirrored columns, TG_ARGV[1] the key. It runs
-- as the owner (the mirrors have no privilege for anyone else).
CREATE OR REPLACE FUNCTION tenantkit._citus_mirror() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_mirror text := pg_catalog.format('tenantkit.%I', '_citus_' || TG_TABLE_NAME);
    v_where text;
BEGIN
    -- The old key as literals and the new row as jsonb into the mirror's own row
    -- type: the source's row type exists on the coordinator only, and the
    -- statement runs on every node (Citus refuses a row comparison with a subquery).
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT pg_catalog.string_agg(pg_catalog.format('%I = %L', k,
                                                       pg_catalog.to_jsonb(OLD) ->> k), ' AND ')
        INTO v_where
        FROM pg_catalog.unnest(pg_catalog.string_to_array(
                 pg_catalog.replace(TG_ARGV[1], ' ', ''), ',')) AS k;
        EXECUTE pg_catalog.format('DELETE FROM %s WHERE %s', v_mirror, v_where);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        EXECUTE pg_catalog.format(
            'INSERT INTO %s (%s) SELECT %s FROM pg_catalog.jsonb_populate_record(NULL::%s, $1)',
            v_mirror, TG_ARGV[0], TG_ARGV[0], v_mirror) USING pg_catalog.to_jsonb(NEW);
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION tenantkit._citus_mirror() FROM PUBLIC;

CREATE OR REPLACE FUNCTION tenantkit._citus_mirror_truncate() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    EXECUTE pg_catalog.format('DELETE FROM tenantkit.%I', '_citus_' || TG_TABLE_NAME);
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION tenantkit._citus_mirror_truncate() FROM PUBLIC;

-- Reference tables (a copy on every node), filled from the source, then kept in
-- step. UPDATE OF the mirrored columns only: a touch of last_used_at or
-- last_active_at writes no copy.
DO $$
DECLARE
    m record;
BEGIN
    FOR m IN SELECT * FROM tenantkit._citus_mirrored() LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition
                       WHERE logicalrelid = pg_catalog.format('tenantkit.%I',
                                                              '_citus_' || m.source)::regclass) THEN
            EXECUTE pg_catalog.format('ALTER TABLE tenantkit.%I ENABLE ROW LEVEL SECURITY',
                                      '_citus_' || m.source);
            EXECUTE pg_catalog.format('REVOKE ALL ON tenantkit.%I FROM PUBLIC',
                                      '_citus_' || m.source);
            PERFORM pg_catalog.create_reference_table(
                pg_catalog.format('tenantkit.%I', '_citus_' || m.source)::regclass);
        END IF;
        EXECUTE pg_catalog.format('DELETE FROM tenantkit.%I', '_citus_' || m.source);
        EXECUTE pg_catalog.format('INSERT INTO tenantkit.%I (%s) SELECT %s FROM tenantkit.%I',
                                  '_citus_' || m.source, m.columns, m.columns, m.source);
        EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON tenantkit.%I',
                                  m.source || '_citus_mirror', m.source);
        EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON tenantkit.%I',
                                  m.source || '_citus_mirror_update', m.source);
        EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON tenantkit.%I',
                                  m.source || '_citus_mirror_truncate', m.source);
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER %I AFTER INSERT OR DELETE ON tenantkit.%I FOR EACH ROW '
            'EXECUTE FUNCTION tenantkit._citus_mirror(%L, %L)',
            m.source || '_citus_mirror', m.source, m.columns, m.keys);
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER %I AFTER UPDATE OF %s ON tenantkit.%I FOR EACH ROW '
            'EXECUTE FUNCTION tenantkit._citus_mirror(%L, %L)',
            m.source || '_citus_mirror_update', m.columns, m.source, m.columns, m.keys);
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER %I AFTER TRUNCATE ON tenantkit.%I FOR EACH STATEMENT '
            'EXECUTE FUNCTION tenantkit._citus_mirror_truncate()',
            m.source || '_citus_mirror_truncate', m.source);
    END LOOP;
END
$$;

-- Is this transaction's binding its own? On the coordinator, 0003's stamp
-- (set_config, which Citus does not propagate). On a worker the ids arrive
-- only as the SET LOCALs Citus replays at the start of each worker transaction
-- that a coordinator transaction opens, and vanish with it: they count only
-- inside such a distributed transaction (a direct session on a worker, or a
-- worker connection outside one, binds nothing).
CREATE OR REPLACE FUNCTION tenantkit._binding_stamped() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN CASE
        WHEN pg_catalog.citus_is_coordinator()
        THEN pg_catalog.current_setting('tenantkit.bound', true)
             = EXTRACT(epoch FROM pg_catalog.now())::pg_catalog.numeric::pg_catalog.text
        ELSE (pg_catalog.get_current_transaction_id()).transaction_number <> 0
    END;
REVOKE ALL ON FUNCTION tenantkit._binding_stamped() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenantkit._binding_stamped() TO "tenantkit_app";

-- The backend a signature is bound to: Citus's global pid (node id x 10^10 +
-- the coordinator backend's pid), which the workers serving this backend's
-- shard queries report too. Citus takes a backend's global pid from its
-- application_name when that reads 'citus_internal gpid=N', which any client
-- may claim: on the coordinator only a backend whose global pid is its own
-- binds (-1 matches no signature).
CREATE OR REPLACE FUNCTION tenantkit.binding_backend() RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN CASE
        WHEN NOT pg_catalog.citus_is_coordinator() THEN pg_catalog.citus_backend_gpid()
        WHEN pg_catalog.citus_backend_gpid() % 10000000000 = pg_catalog.pg_backend_pid()
        THEN pg_catalog.citus_backend_gpid()
        ELSE -1
    END;
-- Every role: backend.sql runs at the first use of any signing engine's
-- connection, whatever its role (the safety gate then refuses the wrong ones);
-- it tells no more than pg_backend_pid() and citus_backend_gpid() do.
GRANT EXECUTE ON FUNCTION tenantkit.binding_backend() TO PUBLIC;

-- 0012's one verified principal, over the mirrors, with the stamp and backend
-- above. 0012 defines it per signing mode, and its trigger on settings runs
-- this function again whenever the mode changes: on Citus the function writes
-- this variant (the view is a Citus object, propagated to every node). The
-- flag is read here, on the coordinator, where the function runs.
CREATE OR REPLACE FUNCTION tenantkit._define_verified_principal() RETURNS void
    LANGUAGE plpgsql
    SET search_path = ''
AS $fn$
DECLARE
    -- No settings row (or a NULL flag) means signed: fail closed.
    v_signed boolean := coalesce((SELECT s.signed_binding FROM tenantkit.settings AS s), true);
BEGIN
    -- One connection per node for the view's DDL (see the top of this file).
    PERFORM pg_catalog.set_config('citus.multi_shard_modify_mode', 'sequential', true);
    EXECUTE $view$
CREATE OR REPLACE VIEW tenantkit._verified_principal AS
    SELECT c.user_id, c.api_key_id, c.org_id
    FROM (SELECT nullif(pg_catalog.current_setting('tenantkit.user_id', true), '')::uuid
                     AS user_id,
                 CASE WHEN nullif(pg_catalog.current_setting('tenantkit.user_id', true), '')
                           IS NULL
                      THEN nullif(pg_catalog.current_setting('tenantkit.api_key_id', true),
                                  '')::uuid
                 END AS api_key_id,
                 nullif(pg_catalog.current_setting('tenantkit.org_id', true), '')::uuid
                     AS org_id,
                 pg_catalog.string_to_array(
                     pg_catalog.current_setting('tenantkit.signature', true), ':') AS sig
          OFFSET 0) AS c
    WHERE tenantkit._binding_stamped()
      AND (c.user_id IS NOT NULL OR c.api_key_id IS NOT NULL)$view$
    || CASE WHEN v_signed THEN $check$
      AND EXISTS (
          SELECT 1
          FROM tenantkit._citus_binding_keys AS k
          WHERE k.key_id = c.sig[1]
            AND k.retired_at IS NULL
            AND pg_catalog.cardinality(c.sig) = 4
            AND c.sig[2]::pg_catalog.int8 >= EXTRACT(epoch FROM pg_catalog.now())
            AND c.sig[3]::pg_catalog.int8 IN (0, tenantkit.binding_backend())
            AND pg_catalog.encode(pg_catalog.sha256(k.outer_pad || pg_catalog.sha256(
                    k.inner_pad || pg_catalog.convert_to(
                        CASE WHEN c.user_id IS NOT NULL
                             THEN 'tenantkit-binding-v1|' || c.user_id::pg_catalog.text
                             ELSE 'tenantkit-apikey-v1|' || c.api_key_id::pg_catalog.text
                        END
                        || '|' || c.org_id::pg_catalog.text || '|' || c.sig[1] || '|'
                        || c.sig[2] || '|' || c.sig[3], 'UTF8'))), 'hex') = c.sig[4])$check$
    ELSE '' END;
END
$fn$;
REVOKE ALL ON FUNCTION tenantkit._define_verified_principal() FROM PUBLIC;
SELECT tenantkit._define_verified_principal();

-- 0012's filters, again: made now, they are Citus objects too.
CREATE OR REPLACE VIEW tenantkit._verified_binding AS
    SELECT p.user_id, p.org_id
    FROM tenantkit._verified_principal AS p
    WHERE p.user_id IS NOT NULL;

CREATE OR REPLACE VIEW tenantkit._bound_membership AS
    SELECT m.org_id, m.user_id, m.role, m.additional_roles
    FROM tenantkit._verified_binding AS b
    JOIN tenantkit._citus_memberships AS m ON m.org_id = b.org_id AND m.user_id = b.user_id
    JOIN tenantkit._citus_users AS u ON u.user_id = m.user_id
    WHERE m.status = 'active'
      AND u.enabled
      AND NOT u.locked;

CREATE OR REPLACE VIEW tenantkit._bound_member AS
    SELECT b.org_id, b.role, b.additional_roles, rm.mapping_id, rm.multi_role
    FROM tenantkit._bound_membership AS b
    JOIN tenantkit._citus_orgs AS o ON o.org_id = b.org_id
    JOIN tenantkit._citus_role_mappings AS rm
      ON rm.name = o.custom_role_mapping_name
      OR (o.custom_role_mapping_name IS NULL AND rm.is_default);

CREATE OR REPLACE VIEW tenantkit._verified_key_binding AS
    SELECT p.api_key_id, p.org_id
    FROM tenantkit._verified_principal AS p
    WHERE p.api_key_id IS NOT NULL;

CREATE OR REPLACE VIEW tenantkit._bound_key AS
    SELECT k.org_id, k.api_key_id, k.permissions
    FROM tenantkit._verified_key_binding AS b
    JOIN tenantkit._citus_api_keys AS k ON k.api_key_id = b.api_key_id
    WHERE k.org_id = b.org_id
      AND k.kind = 'org'
      AND k.archived_at IS NULL
      AND (k.expires_at IS NULL OR k.expires_at > pg_catalog.now());

CREATE OR REPLACE VIEW tenantkit._bound_permissions AS
    SELECT DISTINCT p.permission
    FROM (SELECT up.permission
          FROM tenantkit._bound_member AS b
          JOIN tenantkit._citus_roles AS r
            ON r.mapping_id = b.mapping_id
           AND (r.name = b.role OR (b.multi_role AND r.name = ANY (b.additional_roles)))
          CROSS JOIN LATERAL pg_catalog.unnest(r.permissions) AS up (permission)
          UNION ALL
          SELECT kp.permission
          FROM tenantkit._bound_key AS k
          CROSS JOIN LATERAL pg_catalog.unnest(k.permissions) AS kp (permission)) AS p;

-- 0012's live membership or live key of the bound org, over the mirrors.
CREATE OR REPLACE VIEW tenantkit.current_membership WITH (security_barrier) AS
    SELECT p.org_id, m.user_id, m.role, m.additional_roles
    FROM tenantkit._verified_principal AS p
    LEFT JOIN (tenantkit._citus_memberships AS m
               JOIN tenantkit._citus_users AS u
                 ON u.user_id = m.user_id AND u.enabled AND NOT u.locked)
      ON m.org_id = p.org_id AND m.user_id = p.user_id AND m.status = 'active'
    LEFT JOIN tenantkit._citus_api_keys AS k
      ON k.api_key_id = p.api_key_id
     AND k.kind = 'org'
     AND k.archived_at IS NULL
     AND (k.expires_at IS NULL OR k.expires_at > pg_catalog.now())
    WHERE m.user_id IS NOT NULL
       OR (k.api_key_id IS NOT NULL AND k.org_id = p.org_id);

-- 0001's two functions that read tables themselves, over the mirrors.
CREATE OR REPLACE FUNCTION tenantkit.has_min_role(p_role text) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
BEGIN
    RETURN COALESCE((
        SELECT CASE
                   WHEN b.multi_role THEN p_role = b.role OR p_role = ANY (b.additional_roles)
                   ELSE cur.rank <= req.rank
               END
        FROM tenantkit._bound_member AS b
        JOIN tenantkit._citus_roles AS cur ON cur.mapping_id = b.mapping_id AND cur.name = b.role
        LEFT JOIN tenantkit._citus_roles AS req
          ON req.mapping_id = b.mapping_id AND req.name = p_role
    ), false);
END
$$;

CREATE OR REPLACE FUNCTION tenantkit.is_member(p_user_id uuid) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
BEGIN
    RETURN EXISTS (
        SELECT 1
        FROM tenantkit._bound_membership AS b
        JOIN tenantkit._citus_memberships AS m ON m.org_id = b.org_id
        WHERE m.user_id = p_user_id
          AND m.status = 'active');
END
$$;

-- 0006's and 0010's stamp-only functions (the any_member() and api_key() rules).
CREATE OR REPLACE FUNCTION tenantkit.bound_user_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN CASE
        WHEN tenantkit._binding_stamped()
        THEN nullif(pg_catalog.current_setting('tenantkit.user_id', true), '')::pg_catalog.uuid
    END;

CREATE OR REPLACE FUNCTION tenantkit.bound_api_key_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN CASE
        WHEN tenantkit._binding_stamped()
         AND nullif(pg_catalog.current_setting('tenantkit.user_id', true), '') IS NULL
        THEN nullif(pg_catalog.current_setting('tenantkit.api_key_id', true), '')::pg_catalog.uuid
    END;

-- The policy functions read reference tables from inside a shard query on a
-- worker, which Citus refuses by default ("cannot execute a distributed query
-- from a query on a shard"): a reference table has a copy on every node, so the
-- read is local and sees what the coordinator committed.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'tenantkit.current_user_id()', 'tenantkit.current_org_id()',
        'tenantkit."current_role"()', 'tenantkit.has_min_role(text)',
        'tenantkit.has_role(text)', 'tenantkit.has_permission(text)',
        'tenantkit.has_all_permissions(text[])', 'tenantkit.is_member(uuid)',
        'tenantkit.current_api_key_id()']::regprocedure[] LOOP
        EXECUTE pg_catalog.format(
            'ALTER FUNCTION %s SET citus.allow_nested_distributed_execution = on', f);
    END LOOP;
END
$$;
$tenantkit_citus_sql$;
    END IF;
END
$tenantkit_citus$;


UPDATE tenantkit.alembic_version SET version_num='0014' WHERE tenantkit.alembic_version.version_num = '0013';

-- Running upgrade 0014 -> 0015

-- tenantkit 0015: the settings row is the owner's to create and remove.
--
-- 0006 revoked the service role's UPDATE of tenantkit.settings so that only
-- the owner turns signed binding off, but left 0001's INSERT and DELETE: the
-- service role could delete the singleton and insert it again with
-- signed_binding = false, turning signing off for every tenant. Nothing in
-- tenantkit inserts or deletes the row after the install, so neither role
-- needs either privilege; the service role keeps SELECT and the column
-- UPDATEs 0006 granted.
REVOKE INSERT, DELETE, TRUNCATE ON tenantkit.settings FROM "tenantkit_service", "tenantkit_app", PUBLIC;


UPDATE tenantkit.alembic_version SET version_num='0015' WHERE tenantkit.alembic_version.version_num = '0014';

COMMIT;

