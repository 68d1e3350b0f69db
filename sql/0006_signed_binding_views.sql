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
GRANT EXECUTE ON FUNCTION tenantkit.bound_user_id() TO @app_role@;

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
GRANT EXECUTE ON FUNCTION tenantkit.binding_key_check(text, text) TO @app_role@;
