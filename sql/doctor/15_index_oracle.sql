-- Check 15: every index of a tenant table that is not led by the tenant
-- column. A scan of it fetches other orgs' entries, which the policy then
-- removes: EXPLAIN ANALYZE ("Rows Removed by Filter", a node's actual rows)
-- shows the app role whether a value exists in another org. An index led by
-- the tenant column gets `org_id = $InitPlan` as its first index condition and
-- never reaches another org's entries. Expression-led indexes count too.
WITH tables AS (
    SELECT t.oid, t.tenant_column, a.attnum AS tenant_attnum
    FROM ROWS FROM (pg_catalog.unnest(CAST(:tables AS oid[])),
                    pg_catalog.unnest(CAST(:columns AS text[])))
         AS t (oid, tenant_column)
    JOIN pg_catalog.pg_attribute AS a
      ON a.attrelid = t.oid AND a.attname = t.tenant_column AND NOT a.attisdropped
)
SELECT i.indexrelid::regclass::text AS object,
       t.oid::regclass::text AS table_name,
       t.tenant_column,
       am.amname AS access_method,
       pg_catalog.pg_get_indexdef(i.indexrelid) AS definition,
       con.conname::text AS constraint_name
FROM tables AS t
JOIN pg_catalog.pg_index AS i ON i.indrelid = t.oid
JOIN pg_catalog.pg_class AS ic ON ic.oid = i.indexrelid
JOIN pg_catalog.pg_am AS am ON am.oid = ic.relam
LEFT JOIN pg_catalog.pg_constraint AS con
       ON con.conindid = i.indexrelid AND con.conrelid = t.oid AND con.contype IN ('p', 'u', 'x')
WHERE i.indkey[0] <> t.tenant_attnum
ORDER BY 2, 1
