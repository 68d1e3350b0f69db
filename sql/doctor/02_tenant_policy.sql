-- Check 2: each tenant table has a RESTRICTIVE policy FOR ALL commands that
-- applies to the app role, with both USING and WITH CHECK. One row per
-- table and candidate policy (policy NULL: there is none).
SELECT t.oid::regclass::text AS object,
       t.oid::bigint AS oid,
       t.tenant_column,
       p.polname AS policy,
       pg_catalog.pg_get_expr(p.polqual, p.polrelid) AS qual,
       pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) AS with_check
FROM ROWS FROM (pg_catalog.unnest(CAST(:tables AS oid[])),
               pg_catalog.unnest(CAST(:columns AS text[]))) AS t (oid, tenant_column)
LEFT JOIN pg_catalog.pg_policy AS p
       ON p.polrelid = t.oid
      AND NOT p.polpermissive
      AND p.polcmd = '*'
      AND (0::oid = ANY (p.polroles)
           OR (SELECT r.oid FROM pg_catalog.pg_roles AS r WHERE r.rolname = :app_role)
              = ANY (p.polroles))
ORDER BY 1, 4
