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
REVOKE UPDATE ON tenantkit.settings FROM @service_role@;
GRANT UPDATE (users_can_create_orgs, all_users_must_be_in_org, max_orgs_per_user, org_word,
              updated_at, max_invite_expiry)
    ON tenantkit.settings TO @service_role@;

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
REVOKE ALL ON tenantkit.binding_keys FROM PUBLIC, @app_role@, @service_role@;
ALTER TABLE tenantkit.binding_keys ENABLE ROW LEVEL SECURITY;

