-- Check 21: is this a Citus database (the citus extension installed)? Its catalogs
-- (pg_dist_partition) exist only then.
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') AS installed
