-- Every policy on one table, with its expressions as PostgreSQL deparses them.
-- Comparing these strings is exact: the desired policy is deparsed the same
-- way (created on a scratch table in a rolled-back savepoint).
SELECT p.polname AS name,
       CASE p.polcmd
           WHEN '*' THEN 'ALL'
           WHEN 'r' THEN 'SELECT'
           WHEN 'a' THEN 'INSERT'
           WHEN 'w' THEN 'UPDATE'
           WHEN 'd' THEN 'DELETE'
       END AS command,
       NOT p.polpermissive AS restrictive,
       ARRAY(
           SELECT CASE WHEN r.role = 0 THEN 'public' ELSE pg_catalog.pg_get_userbyid(r.role) END
           FROM pg_catalog.unnest(p.polroles) AS r (role)
           ORDER BY 1
       ) AS roles,
       pg_catalog.pg_get_expr(p.polqual, p.polrelid) AS qual,
       pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) AS with_check
FROM pg_catalog.pg_policy AS p
WHERE p.polrelid = :table_oid
ORDER BY p.polname
