-- Check 1: every tenant table has row-level security ENABLEd and FORCEd
-- (without FORCE the table owner, and members of the owner role, bypass it).
SELECT t.oid::regclass::text AS object,
       c.relrowsecurity AS row_security,
       c.relforcerowsecurity AS force
FROM pg_catalog.unnest(CAST(:tables AS oid[])) AS t (oid)
JOIN pg_catalog.pg_class AS c ON c.oid = t.oid
WHERE NOT (c.relrowsecurity AND c.relforcerowsecurity)
ORDER BY 1
