-- Check 21 (Citus only: run once citus_installed says so): how Citus holds each
-- tenant table. method 'h' hash-distributed, 'n' reference or Citus local, NULL a
-- plain coordinator table; column_name the distribution column.
SELECT t.oid::regclass::text AS object,
       t.oid::bigint AS oid,
       t.tenant_column,
       p.partmethod::text AS method,
       CASE WHEN p.partkey IS NOT NULL AND p.partkey <> ''
            THEN pg_catalog.column_to_column_name(p.logicalrelid, p.partkey)
       END AS column_name,
       p.colocationid AS colocation
FROM ROWS FROM (pg_catalog.unnest(CAST(:tables AS oid[])),
               pg_catalog.unnest(CAST(:columns AS text[]))) AS t (oid, tenant_column)
LEFT JOIN pg_catalog.pg_dist_partition AS p ON p.logicalrelid = t.oid
ORDER BY 1
