-- Every policy on a tenant table, with its expressions as PostgreSQL deparses
-- them: the role and permission names they pass to tenantkit's functions are
-- compared with the role mappings (sql/catalog/role_names.sql) in Python.
SELECT pg_catalog.format('%s.%I', c.oid::regclass, p.polname) AS object,
       pg_catalog.pg_get_expr(p.polqual, p.polrelid) AS qual,
       pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) AS with_check
FROM pg_catalog.pg_policy AS p
JOIN pg_catalog.pg_class AS c ON c.oid = p.polrelid
WHERE p.polrelid = ANY (CAST(:tables AS oid[]))
ORDER BY 1
