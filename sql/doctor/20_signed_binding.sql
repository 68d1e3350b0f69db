-- Check 20: signed binding is on, and its verifier is the owner's alone.
-- has_settings: tenantkit.settings exists (the flag itself is read by
-- 20_signed_binding_flag.sql only then, so the check stands on a database never
-- migrated); grantees: every role other
-- than the owner holding a privilege on tenantkit.binding_keys; rls: row-level
-- security enabled on it (the second lock).
SELECT pg_catalog.to_regclass('tenantkit.settings') IS NOT NULL AS has_settings,
       c.oid IS NOT NULL AS has_verifier,
       COALESCE(c.relrowsecurity, false) AS rls,
       -- the key count (20_signed_binding_keys.sql) is read only when this role may
       COALESCE(pg_catalog.has_table_privilege(c.oid, 'SELECT'), false) AS can_read_keys,
       (SELECT pg_catalog.string_agg(DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                                   ELSE pg_catalog.quote_ident(r.rolname) END,
                                     ', ')
        FROM pg_catalog.aclexplode(c.relacl) AS a
        LEFT JOIN pg_catalog.pg_roles AS r ON r.oid = a.grantee
        WHERE a.grantee <> c.relowner) AS grantees
FROM (SELECT 1) AS one
LEFT JOIN pg_catalog.pg_class AS c ON c.oid = pg_catalog.to_regclass('tenantkit.binding_keys')
