-- Check 13: role-level defaults (pg_db_role_setting) that reach the app
-- role's connections: its own (ALTER ROLE app [IN DATABASE db] SET, which the
-- app role can run on itself as ALTER ROLE CURRENT_USER SET) and those for all
-- roles (ALTER ROLE ALL [IN DATABASE db] SET; ALTER DATABASE db SET is the
-- same entry). Only the settings that change who the session is, what it
-- sees, or what it resolves: role, session_authorization, row_security,
-- search_path, default_transaction_read_only, and tenantkit's own.
SELECT CASE WHEN s.setrole = 0 THEN NULL ELSE r.rolname END AS role_name,
       d.datname AS database_name,
       pg_catalog.split_part(c.setting, '=', 1) AS name,
       pg_catalog.substr(c.setting, pg_catalog.strpos(c.setting, '=') + 1) AS value
FROM pg_catalog.pg_db_role_setting AS s
LEFT JOIN pg_catalog.pg_roles AS r ON r.oid = s.setrole
LEFT JOIN pg_catalog.pg_database AS d ON d.oid = s.setdatabase
CROSS JOIN LATERAL pg_catalog.unnest(s.setconfig) AS c (setting)
WHERE (s.setrole = 0 OR r.rolname = :app_role)
  AND (s.setdatabase = 0
       OR d.datname = pg_catalog.current_database())
  AND (pg_catalog.lower(pg_catalog.split_part(c.setting, '=', 1))
           IN ('role', 'session_authorization', 'row_security', 'search_path',
               'default_transaction_read_only')
       OR pg_catalog.lower(pg_catalog.split_part(c.setting, '=', 1)) LIKE 'tenantkit.%')
ORDER BY s.setrole = 0, d.datname NULLS FIRST, 3
