-- Candidate tables for the audit: ordinary and partitioned tables outside the
-- system schemas and tenantkit's own schema, that are not themselves a
-- partition or an inheritance child (children are check 9's business).
-- :tenant_columns are the column names that mark a tenant table.
SELECT c.oid::bigint AS oid,
       n.nspname AS schema,
       c.relname AS name,
       c.relrowsecurity AS row_security,
       EXISTS (SELECT 1 FROM pg_catalog.pg_policy AS p WHERE p.polrelid = c.oid) AS has_policies,
       ARRAY(
           SELECT a.attname::text
           FROM pg_catalog.pg_attribute AS a
           WHERE a.attrelid = c.oid
             AND a.attnum > 0
             AND NOT a.attisdropped
             AND a.attname = ANY (CAST(:tenant_columns AS text[]))
           ORDER BY a.attnum
       ) AS tenant_columns
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND NOT c.relispartition
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits AS i WHERE i.inhrelid = c.oid)
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'tenantkit')
  AND n.nspname NOT LIKE 'pg\_toast%'
  AND n.nspname NOT LIKE 'pg\_temp\_%'
ORDER BY n.nspname, c.relname
