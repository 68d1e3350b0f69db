-- Check 17: signed binding is on, and its verifier is the owner's alone.
-- signed: settings.signed_binding (NULL before migration 0006, read through
-- to_jsonb so the query stands on older schemas); grantees: every role other
-- than the owner holding a privilege on tenantkit.binding_keys; rls: row-level
-- security enabled on it (the second lock).
SELECT (SELECT (pg_catalog.to_jsonb(st) ->> 'signed_binding')::boolean
        FROM tenantkit.settings AS st) AS signed,
       c.oid IS NOT NULL AS has_verifier,
       COALESCE(c.relrowsecurity, false) AS rls,
       (SELECT pg_catalog.string_agg(DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                                   ELSE pg_catalog.quote_ident(r.rolname) END,
                                     ', ')
        FROM pg_catalog.aclexplode(c.relacl) AS a
        LEFT JOIN pg_catalog.pg_roles AS r ON r.oid = a.grantee
        WHERE a.grantee <> c.relowner) AS grantees
FROM (SELECT 1) AS one
LEFT JOIN pg_catalog.pg_class AS c ON c.oid = pg_catalog.to_regclass('tenantkit.binding_keys')
