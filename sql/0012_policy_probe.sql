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
GRANT SELECT ON tenantkit.current_membership TO @app_role@;
