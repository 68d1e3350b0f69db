-- Check 4: the app role holds none of the privileges RLS does not cover, and
-- owns no tenant table. One row per problem: kind is one of missing, owner,
-- TRUNCATE, TRIGGER, REFERENCES. Whether the role can bypass RLS itself or
-- after SET ROLE (superuser, BYPASSRLS, an owner's membership, ...) is the
-- connection safety gate's question: sql/runtime/connection_safety.sql, run
-- by the doctor for the app role's name.
WITH app AS (
    SELECT r.oid, r.rolname
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
SELECT t.oid::regclass::text, 'owner', app.rolname
FROM tables AS t, app
WHERE t.relowner = app.oid
UNION ALL
SELECT t.oid::regclass::text, priv.name, app.rolname
FROM tables AS t, app, (VALUES ('TRUNCATE'), ('TRIGGER'), ('REFERENCES')) AS priv (name)
WHERE pg_catalog.has_table_privilege(app.oid, t.oid, priv.name)
ORDER BY 2, 1
