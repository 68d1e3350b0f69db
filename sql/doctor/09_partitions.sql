-- Check 9: policies on a parent do not apply when a partition or inheritance
-- child is queried directly. Children the app role can reach must carry
-- their own ENABLE + FORCE and policies.
WITH RECURSIVE children (oid, parent) AS (
    SELECT i.inhrelid, i.inhparent
    FROM pg_catalog.pg_inherits AS i
    WHERE i.inhparent = ANY (CAST(:tables AS oid[]))
    UNION
    SELECT i.inhrelid, c.parent
    FROM children AS c
    JOIN pg_catalog.pg_inherits AS i ON i.inhparent = c.oid
)
SELECT c.oid::regclass::text AS object,
       ch.parent::regclass::text AS parent,
       c.relrowsecurity AS row_security,
       c.relforcerowsecurity AS force,
       EXISTS (SELECT 1 FROM pg_catalog.pg_policy AS p WHERE p.polrelid = c.oid) AS has_policies
FROM children AS ch
JOIN pg_catalog.pg_class AS c ON c.oid = ch.oid
WHERE NOT (c.relrowsecurity AND c.relforcerowsecurity
           AND EXISTS (SELECT 1 FROM pg_catalog.pg_policy AS p WHERE p.polrelid = c.oid))
  AND COALESCE(pg_catalog.has_table_privilege(
          (SELECT r.oid FROM pg_catalog.pg_roles AS r WHERE r.rolname = :app_role), c.oid,
          'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER'), false)
ORDER BY 1
