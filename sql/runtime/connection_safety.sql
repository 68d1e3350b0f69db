-- Could this connection bypass row-level security? One row: NULL when safe,
-- else the reason. Both current_user and session_user are checked, since a
-- session can RESET ROLE back to its login role.
SELECT pg_catalog.string_agg(reason, '; ' ORDER BY reason)
FROM (
    SELECT r.rolname,
           CASE
               WHEN r.rolsuper THEN 'role ' || pg_catalog.quote_ident(r.rolname) || ' is a superuser'
               WHEN r.rolbypassrls THEN 'role ' || pg_catalog.quote_ident(r.rolname) || ' has BYPASSRLS'
               WHEN EXISTS (
                   SELECT 1 FROM pg_catalog.pg_class AS c
                   WHERE c.relkind IN ('r', 'p') AND c.relrowsecurity AND c.relowner = r.oid)
                   THEN 'role ' || pg_catalog.quote_ident(r.rolname) || ' owns a table with row-level security'
               WHEN EXISTS (
                   SELECT 1 FROM pg_catalog.pg_class AS c
                   WHERE c.relkind IN ('r', 'p') AND c.relrowsecurity
                     AND pg_catalog.pg_has_role(r.oid, c.relowner, 'MEMBER'))
                   THEN 'role ' || pg_catalog.quote_ident(r.rolname)
                        || ' is a member of the owner of a table with row-level security'
           END AS reason
    FROM pg_catalog.pg_roles AS r
    WHERE r.rolname IN (current_user, session_user)
) AS checks
