-- One named trigger's definition, field by field (the table aside), so a
-- trigger built on a scratch table compares exactly with the live one.
SELECT t.tgfoid::regprocedure::text AS function,
       t.tgtype::integer AS type,
       t.tgenabled::text AS enabled,
       t.tgargs AS args,
       t.tgattr::text AS columns,
       t.tgqual IS NOT NULL AS has_condition
FROM pg_catalog.pg_trigger AS t
WHERE t.tgrelid = :table_oid
  AND t.tgname = :trigger_name
  AND NOT t.tgisinternal
