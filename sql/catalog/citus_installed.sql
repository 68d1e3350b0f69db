-- The Citus extension's version in this database (no row: not a Citus database).
-- Read before any pg_dist_* catalog: those exist only with the extension.
SELECT e.extversion AS version
FROM pg_catalog.pg_extension AS e
WHERE e.extname = 'citus'
