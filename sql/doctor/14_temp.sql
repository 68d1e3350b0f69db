-- Check 14: the app role may create temporary tables in this database. One
-- row per grant it holds TEMPORARY through: PUBLIC (the default), itself, or
-- a role whose privileges it inherits. grantee NULL means PUBLIC. A
-- superuser holds every privilege whatever the grants: check 4 reports it.
WITH app AS (
    SELECT r.oid FROM pg_catalog.pg_roles AS r WHERE r.rolname = :app_role AND NOT r.rolsuper
),
db AS (
    SELECT d.datname, d.datdba, COALESCE(d.datacl, pg_catalog.acldefault('d', d.datdba)) AS acl
    FROM pg_catalog.pg_database AS d
    WHERE d.datname = pg_catalog.current_database()
)
SELECT DISTINCT db.datname AS database_name,
       CASE WHEN a.grantee = 0 THEN NULL ELSE pg_catalog.pg_get_userbyid(a.grantee) END
           AS grantee
FROM db, app, pg_catalog.aclexplode(db.acl) AS a
WHERE a.privilege_type = 'TEMPORARY'
  AND (a.grantee = 0 OR pg_catalog.pg_has_role(app.oid, a.grantee, 'USAGE'))
  AND pg_catalog.has_database_privilege(app.oid, db.datname, 'TEMPORARY')
ORDER BY 2 NULLS FIRST
