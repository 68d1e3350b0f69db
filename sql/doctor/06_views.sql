-- Check 6: views over tenant tables (directly or through other views) run
-- with their owner's rights unless security_invoker is set (PostgreSQL 15+);
-- a materialized view stores whatever its refresher could see.
WITH RECURSIVE dependents (oid) AS (
    SELECT DISTINCT r.ev_class
    FROM pg_catalog.pg_depend AS d
    JOIN pg_catalog.pg_rewrite AS r ON r.oid = d.objid
    WHERE d.classid = 'pg_catalog.pg_rewrite'::regclass
      AND d.refclassid = 'pg_catalog.pg_class'::regclass
      AND d.refobjid = ANY (CAST(:tables AS oid[]))
      AND r.ev_class <> d.refobjid
    UNION
    SELECT r.ev_class
    FROM dependents AS v
    JOIN pg_catalog.pg_depend AS d
      ON d.refobjid = v.oid AND d.refclassid = 'pg_catalog.pg_class'::regclass
     AND d.classid = 'pg_catalog.pg_rewrite'::regclass
    JOIN pg_catalog.pg_rewrite AS r ON r.oid = d.objid
    WHERE r.ev_class <> v.oid
)
SELECT c.oid::regclass::text AS object,
       c.relkind = 'm' AS materialized,
       COALESCE(pg_catalog.has_table_privilege(
           (SELECT r.oid FROM pg_catalog.pg_roles AS r WHERE r.rolname = :app_role),
           c.oid, 'SELECT'), false) AS app_can_read
FROM dependents AS v
JOIN pg_catalog.pg_class AS c ON c.oid = v.oid
WHERE c.relkind = 'm'
   OR (c.relkind = 'v' AND NOT EXISTS (
           SELECT 1
           FROM pg_catalog.unnest(c.reloptions) AS o (option)
           WHERE pg_catalog.split_part(o.option, '=', 1) = 'security_invoker'
             AND pg_catalog.split_part(o.option, '=', 2)::boolean))
ORDER BY 1
