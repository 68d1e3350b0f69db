-- Check 4: the app role cannot bypass row-level security, and holds none of
-- the privileges RLS does not cover. One row per problem: kind is one of
-- missing, superuser, bypassrls, owner, owner_member, TRUNCATE, TRIGGER, REFERENCES.
WITH app AS (
    SELECT r.oid, r.rolname, r.rolsuper, r.rolbypassrls
    FROM pg_catalog.pg_roles AS r
    WHERE r.rolname = :app_role
),
tables AS (
    SELECT t.oid, c.relowner
    FROM pg_catalog.unnest(CAST(:tables AS oid[])) AS t (oid)
    JOIN pg_catalog.pg_class AS c ON c.oid = t.oid
)
SELECT :app_role AS object, 'missing' AS kind, NULL::text AS detail
WHERE NOT EXISTS (SELECT 1 FROM app)
UNION ALL
SELECT app.rolname, 'superuser', NULL FROM app WHERE app.rolsuper
UNION ALL
SELECT app.rolname, 'bypassrls', NULL FROM app WHERE app.rolbypassrls
UNION ALL
SELECT t.oid::regclass::text, 'owner', app.rolname
FROM tables AS t, app
WHERE t.relowner = app.oid
UNION ALL
SELECT t.oid::regclass::text, 'owner_member', pg_catalog.pg_get_userbyid(t.relowner)
FROM tables AS t, app
WHERE t.relowner <> app.oid
  AND pg_catalog.pg_has_role(app.oid, t.relowner, 'MEMBER')
UNION ALL
SELECT t.oid::regclass::text, priv.name, app.rolname
FROM tables AS t, app, (VALUES ('TRUNCATE'), ('TRIGGER'), ('REFERENCES')) AS priv (name)
WHERE pg_catalog.has_table_privilege(app.oid, t.oid, priv.name)
ORDER BY 2, 1
