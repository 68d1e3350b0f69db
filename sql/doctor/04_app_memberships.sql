-- Check 4, for the fixes: the roles the app role is granted directly (each
-- grant, with its grantor), the first step of every chain the safety gate
-- follows. Revoking the first step cuts the chain.
SELECT r.rolname AS role_name,
       g.rolname AS grantor,
       COALESCE(g.rolsuper, true) AS grantor_is_superuser
FROM pg_catalog.pg_auth_members AS m
JOIN pg_catalog.pg_roles AS r ON r.oid = m.roleid
-- Before PostgreSQL 16 a grantor may be a dropped role: revoke without GRANTED BY.
LEFT JOIN pg_catalog.pg_roles AS g ON g.oid = m.grantor
WHERE m.member = (SELECT a.oid FROM pg_catalog.pg_roles AS a WHERE a.rolname = :app_role)
ORDER BY 1, 2
