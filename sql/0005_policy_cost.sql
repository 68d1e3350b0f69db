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
GRANT SELECT ON tenantkit.current_membership TO @app_role@;

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
