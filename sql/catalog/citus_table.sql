-- How Citus holds one table (needs the citus extension: see citus_installed.sql).
-- :table_name is a quoted, optionally schema-qualified name; no row when the table
-- does not exist. method: 'h' hash-distributed, 'n' reference ('t' replication) or
-- a Citus local table; NULL: a plain table on the coordinator only. has_column:
-- the table has a live column :column_name (the declared tenant column).
SELECT c.oid::bigint AS oid,
       p.partmethod::text AS method,
       p.repmodel::text AS replication,
       CASE WHEN p.partkey IS NOT NULL AND p.partkey <> ''
            THEN pg_catalog.column_to_column_name(p.logicalrelid, p.partkey)
       END AS column_name,
       p.colocationid AS colocation,
       EXISTS (
           SELECT 1 FROM pg_catalog.pg_attribute AS a
           WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
             AND a.attname = :column_name
       ) AS has_column
FROM pg_catalog.pg_class AS c
LEFT JOIN pg_catalog.pg_dist_partition AS p ON p.logicalrelid = c.oid
WHERE c.oid = pg_catalog.to_regclass(:table_name)
  AND c.relkind IN ('r', 'p')
