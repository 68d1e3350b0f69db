-- tenantkit 0005 downgrade: 0003's current_user_id(), no current_membership.
-- Tenant policies generated against current_membership must be dropped or
-- regenerated first (the view cannot go while a policy uses it).

DROP VIEW tenantkit.current_membership;

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
