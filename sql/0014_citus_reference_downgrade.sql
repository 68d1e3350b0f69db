-- tenantkit 0014 downgrade on Citus, step 1: the mirrors' triggers go and 0001's
-- definitions 0014 replaced come back (0006's and 0010's views and functions are
-- re-run from their own, re-runnable files next: migrations/versions/0014_citus.py);
-- step 2 (0014_citus_reference_drop.sql) drops what only 0014 made.
SET LOCAL citus.multi_shard_modify_mode TO 'sequential';
DO $$
DECLARE
    m record;
BEGIN
    FOR m IN SELECT * FROM tenantkit._citus_mirrored() LOOP
        EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON tenantkit.%I',
                                  m.source || '_citus_mirror', m.source);
        EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON tenantkit.%I',
                                  m.source || '_citus_mirror_update', m.source);
        EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON tenantkit.%I',
                                  m.source || '_citus_mirror_truncate', m.source);
    END LOOP;
END
$$;

-- The views over the mirrors are Citus objects now, which Citus will not point
-- at coordinator tables: drop them (everywhere) and make them again, local, as
-- before 0014. A policy of the app's on current_membership (the plain flavour)
-- stops the downgrade here, with PostgreSQL's dependency error: nothing changes.
DROP VIEW tenantkit.current_membership;
DROP VIEW tenantkit._bound_permissions;
DROP VIEW tenantkit._bound_key;
DROP VIEW tenantkit._verified_key_binding;
DROP VIEW tenantkit._bound_member;
DROP VIEW tenantkit._bound_membership;
DROP VIEW tenantkit._verified_binding;
DROP VIEW tenantkit._verified_principal;
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


CREATE OR REPLACE VIEW tenantkit._bound_member AS
    SELECT b.org_id, b.role, b.additional_roles, rm.mapping_id, rm.multi_role
    FROM tenantkit._bound_membership AS b
    JOIN tenantkit.orgs AS o ON o.org_id = b.org_id
    JOIN tenantkit.role_mappings AS rm
      ON rm.name = o.custom_role_mapping_name
      OR (o.custom_role_mapping_name IS NULL AND rm.is_default);

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
        JOIN tenantkit.roles AS cur ON cur.mapping_id = b.mapping_id AND cur.name = b.role
        LEFT JOIN tenantkit.roles AS req ON req.mapping_id = b.mapping_id AND req.name = p_role
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
        JOIN tenantkit.memberships AS m ON m.org_id = b.org_id
        WHERE m.user_id = p_user_id
          AND m.status = 'active');
END
$$;

DO $$
DECLARE
    f regprocedure;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'tenantkit.current_org_id()', 'tenantkit."current_role"()',
        'tenantkit.has_role(text)', 'tenantkit.has_permission(text)',
        'tenantkit.has_all_permissions(text[])']::regprocedure[] LOOP
        EXECUTE pg_catalog.format(
            'ALTER FUNCTION %s RESET citus.allow_nested_distributed_execution', f);
    END LOOP;
END
$$;
