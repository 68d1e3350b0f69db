-- Check 7: SECURITY DEFINER functions must pin search_path (pg_temp is
-- searched first for relations, so a caller's temp table can shadow one) and
-- must not be executable by PUBLIC. Extension members are the extension's business.
SELECT p.oid::regprocedure::text AS object,
       NOT EXISTS (
           SELECT 1 FROM pg_catalog.unnest(p.proconfig) AS s (setting)
           WHERE s.setting LIKE 'search\_path=%'
       ) AS unpinned,
       EXISTS (
           SELECT 1
           FROM pg_catalog.aclexplode(COALESCE(p.proacl, pg_catalog.acldefault('f', p.proowner))) AS a
           WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'
       ) AS public_execute
FROM pg_catalog.pg_proc AS p
JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
WHERE p.prosecdef
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND NOT EXISTS (
      SELECT 1 FROM pg_catalog.pg_depend AS d
      WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  )
ORDER BY 1
