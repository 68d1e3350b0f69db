-- Check 5: unique indexes (primary keys included) and foreign keys on tenant
-- tables must include the tenant column, else they are existence oracles
-- across orgs (23505 on another org's value; a reference to an invisible row
-- that succeeds). A foreign key matters only when the referenced table has
-- row-level security: a shared lookup table hides nothing.
WITH tables AS (
    SELECT t.oid, a.attnum AS tenant_attnum
    FROM ROWS FROM (pg_catalog.unnest(CAST(:tables AS oid[])),
               pg_catalog.unnest(CAST(:columns AS text[])))
         AS t (oid, tenant_column)
    JOIN pg_catalog.pg_attribute AS a
      ON a.attrelid = t.oid AND a.attname = t.tenant_column AND NOT a.attisdropped
)
SELECT i.indexrelid::regclass::text AS object,
       t.oid::regclass::text AS table_name,
       'unique_index' AS kind,
       NULL::boolean AS referenced_is_tenant
FROM tables AS t
JOIN pg_catalog.pg_index AS i ON i.indrelid = t.oid AND i.indisunique
WHERE NOT EXISTS (
    SELECT 1
    FROM pg_catalog.generate_series(0, i.indnkeyatts - 1) AS k (n)
    WHERE i.indkey[k.n] = t.tenant_attnum
)
UNION ALL
SELECT con.conname::text,
       t.oid::regclass::text,
       'foreign_key',
       EXISTS (
           SELECT 1
           FROM pg_catalog.pg_attribute AS ra
           WHERE ra.attrelid = con.confrelid
             AND ra.attname = ANY (CAST(:columns AS text[]))
             AND NOT ra.attisdropped
       )
FROM tables AS t
JOIN pg_catalog.pg_constraint AS con ON con.conrelid = t.oid AND con.contype = 'f'
JOIN pg_catalog.pg_class AS ref ON ref.oid = con.confrelid
WHERE NOT (t.tenant_attnum = ANY (con.conkey))
  AND ref.relrowsecurity
ORDER BY 2, 1
