-- A hand-written tenant table for the core tests (the generator of the
-- tenant-tables issue produces the same shape). @app_role@ is the app role.
CREATE TABLE public.notes (
    org_id  uuid NOT NULL REFERENCES tenantkit.orgs ON DELETE CASCADE,
    id      bigint GENERATED ALWAYS AS IDENTITY,
    body    text NOT NULL,
    PRIMARY KEY (org_id, id)
);
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.notes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON public.notes AS RESTRICTIVE FOR ALL TO @app_role@
    USING (org_id = (SELECT tenantkit.current_org_id()))
    WITH CHECK (org_id = (SELECT tenantkit.current_org_id()));
CREATE POLICY members_all ON public.notes AS PERMISSIVE FOR ALL TO @app_role@
    USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON public.notes TO @app_role@;
