-- Foreign keys pointing at any of :table_oids (tables about to be distributed): a
-- local table may not reference a distributed one, so they are dropped before
-- create_distributed_table and re-created after. referencing_oid tells whether
-- the referencing table is distributed in the same run.
SELECT c.conname AS name,
       c.conrelid::bigint AS referencing_oid,
       c.conrelid::regclass::text AS referencing,
       pg_catalog.pg_get_constraintdef(c.oid) AS definition
FROM pg_catalog.pg_constraint AS c
WHERE c.contype = 'f'
  AND c.confrelid = ANY (CAST(:table_oids AS oid[]))
  AND c.conrelid <> c.confrelid
ORDER BY c.conrelid, c.conname
