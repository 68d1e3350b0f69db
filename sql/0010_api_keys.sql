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
GRANT SELECT ON tenantkit.current_membership TO @app_role@;

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
GRANT EXECUTE ON FUNCTION tenantkit.current_api_key_id() TO @app_role@;

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
GRANT EXECUTE ON FUNCTION tenantkit.bound_api_key_id() TO @app_role@;
