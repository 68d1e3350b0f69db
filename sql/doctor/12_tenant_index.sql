-- Check 12: some index of each tenant table must lead with the tenant column,
-- so the policy's `org_id = $InitPlan` is an index condition, not a filter.
SELECT t.oid::regclass::text AS object,
       t.tenant_column
FROM ROWS FROM (pg_catalog.unnest(CAST(:tables AS oid[])),
               pg_catalog.unnest(CAST(:columns AS text[]))) AS t (oid, tenant_column)
JOIN pg_catalog.pg_attribute AS a
  ON a.attrelid = t.oid AND a.attname = t.tenant_column AND NOT a.attisdropped
WHERE NOT EXISTS (
    SELECT 1 FROM pg_catalog.pg_index AS i
    WHERE i.indrelid = t.oid AND i.indkey[0] = a.attnum
)
ORDER BY 1
