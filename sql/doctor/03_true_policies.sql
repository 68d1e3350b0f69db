-- Check 3: policies on tenant tables whose USING or WITH CHECK is just `true`.
SELECT t.oid::regclass::text AS object,
       p.polname AS policy,
       p.polpermissive AS permissive,
       pg_catalog.pg_get_expr(p.polqual, p.polrelid) = 'true' AS true_using,
       pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) = 'true' AS true_check
FROM pg_catalog.unnest(CAST(:tables AS oid[])) AS t (oid)
JOIN pg_catalog.pg_policy AS p ON p.polrelid = t.oid
WHERE pg_catalog.pg_get_expr(p.polqual, p.polrelid) = 'true'
   OR pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) = 'true'
ORDER BY 1, 2
