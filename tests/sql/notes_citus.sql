-- notes.sql on Citus: distributed by org_id, with the Citus flavour's policy
-- shape (functions called directly: Citus refuses subqueries in policies on
-- distributed tables). No foreign key to tenantkit.orgs: tenantkit's tables stay
-- on the coordinator, and a distributed table references none of those.
-- One PERMISSIVE policy carrying the isolation: Citus 14 propagates policies to
-- the shards without AS RESTRICTIVE (tests/citus/test_schema.py shows the leak),
-- so a restrictive isolation policy would be OR-ed with the rules there.
CREATE TABLE public.notes (
    org_id  uuid NOT NULL,
    id      bigint GENERATED ALWAYS AS IDENTITY,
    body    text NOT NULL,
    PRIMARY KEY (org_id, id)
);
SELECT create_distributed_table('public.notes', 'org_id');
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.notes FORCE ROW LEVEL SECURITY;
CREATE POLICY members_all ON public.notes AS PERMISSIVE FOR ALL TO @app_role@
    USING (org_id = tenantkit.current_org_id())
    WITH CHECK (org_id = tenantkit.current_org_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON public.notes TO @app_role@;
