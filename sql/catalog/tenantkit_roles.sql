-- Whether tenantkit's schema exists, and which roles it was migrated for: the
-- app role is the one holding EXECUTE on current_org_id() (granted to it alone).
SELECT pg_catalog.to_regnamespace('tenantkit') IS NOT NULL AS has_schema,
       ARRAY(
           SELECT DISTINCT pg_catalog.pg_get_userbyid(a.grantee)
           FROM pg_catalog.pg_proc AS p
           CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) AS a
           WHERE p.oid = pg_catalog.to_regprocedure('tenantkit.current_org_id()')
             AND a.privilege_type = 'EXECUTE'
             AND a.grantee <> 0
             AND a.grantee <> p.proowner
           ORDER BY 1
       ) AS app_roles
