-- One table's row-security flags and the privileges granted directly to the
-- app role on it. :table_name is a quoted, optionally schema-qualified name;
-- no row when the table does not exist.
SELECT c.oid::bigint AS oid,
       c.relrowsecurity AS row_security,
       c.relforcerowsecurity AS force,
       ARRAY(
           SELECT a.privilege_type
           FROM pg_catalog.aclexplode(
                    COALESCE(c.relacl, pg_catalog.acldefault('r', c.relowner))) AS a
           JOIN pg_catalog.pg_roles AS r ON r.oid = a.grantee
           WHERE r.rolname = :app_role
           ORDER BY 1
       ) AS privileges
FROM pg_catalog.pg_class AS c
WHERE c.oid = pg_catalog.to_regclass(:table_name)
  AND c.relkind IN ('r', 'p')
