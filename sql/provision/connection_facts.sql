-- Before `tenantkit migrate`: who runs it, which of the roles it grants to
-- exist, and whether tenantkit is installed (a new install signs by default).
-- :roles are the app and service role names.
SELECT current_user::text AS role,
       (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user)
           AS superuser,
       pg_catalog.pg_get_userbyid(d.datdba)::text AS database_owner,
       ARRAY(
           SELECT w.wanted
           FROM pg_catalog.unnest(CAST(:roles AS text[])) WITH ORDINALITY AS w (wanted, n)
           WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles AS r WHERE r.rolname = w.wanted)
           ORDER BY w.n
       ) AS missing,
       pg_catalog.to_regclass('tenantkit.settings') IS NOT NULL AS installed
FROM pg_catalog.pg_database AS d
WHERE d.datname = current_database()
