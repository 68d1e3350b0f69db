-- tenantkit 0001: tables of tenantkit's own schema.
--
-- Placeholders @app_role@ and @service_role@ are replaced by quoted role names
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
