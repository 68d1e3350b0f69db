-- Check 8: LEAKPROOF functions outside pg_catalog. The planner may run them
-- before the policies, on rows of every org; only the built-ins are audited.
SELECT p.oid::regprocedure::text AS object,
       EXISTS (
           SELECT 1 FROM pg_catalog.pg_depend AS d
           WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid
             AND d.deptype = 'e'
       ) AS from_extension
FROM pg_catalog.pg_proc AS p
WHERE p.proleakproof
  AND p.pronamespace <> 'pg_catalog'::regnamespace
ORDER BY 1
