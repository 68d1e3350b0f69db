-- Could this connection bypass row-level security, now or after SET ROLE?
-- One row: NULL when safe, else the reasons.
--
-- $1: the roles to check (text[]); NULL means current_user and session_user,
-- since a session can RESET ROLE back to its login role. The doctor passes the
-- app role's name.
--
-- A role can become every role it is a member of, directly or through a chain
-- of grants, and every role it holds ADMIN OPTION on (it may grant that role to
-- itself); each row of pg_auth_members whose member is reachable is an edge.
-- Before PostgreSQL 16, CREATEROLE could grant itself any non-superuser role.
-- A reachable role is dangerous when it is a superuser, has BYPASSRLS or
-- REPLICATION (a base backup reads every row), owns a table with row-level
-- security (an owner can switch it off), or is one of the predefined roles that
-- read or write the server's files or run programs on it.
WITH RECURSIVE start AS (
    SELECT r.oid, r.rolname
    FROM pg_catalog.pg_roles AS r
    WHERE r.rolname = ANY (COALESCE($1::text[],
                                    ARRAY[current_user::text, session_user::text]))
),
reach (origin, oid) AS (
    SELECT s.rolname, s.oid FROM start AS s
    UNION
    SELECT reach.origin, m.roleid
    FROM reach
    JOIN pg_catalog.pg_auth_members AS m ON m.member = reach.oid
),
reasons AS (
    SELECT reach.origin,
           r.rolname,
           r.rolname = reach.origin AS itself,
           CASE
               WHEN r.rolsuper THEN 'is a superuser'
               WHEN r.rolbypassrls THEN 'has BYPASSRLS'
               WHEN r.rolreplication THEN 'has REPLICATION'
               WHEN r.rolname IN ('pg_execute_server_program', 'pg_read_server_files',
                                  'pg_write_server_files')
                   THEN 'is ' || r.rolname
               WHEN r.rolcreaterole
                    AND pg_catalog.current_setting('server_version_num')::int < 160000
                   THEN 'has CREATEROLE (before PostgreSQL 16 it can grant itself any role)'
               WHEN EXISTS (
                   SELECT 1 FROM pg_catalog.pg_class AS c
                   WHERE c.relkind IN ('r', 'p') AND c.relrowsecurity AND c.relowner = r.oid)
                   THEN 'owns a table with row-level security'
           END AS reason
    FROM reach
    JOIN pg_catalog.pg_roles AS r ON r.oid = reach.oid
)
SELECT pg_catalog.string_agg(
           'role ' || pg_catalog.quote_ident(origin)
           || CASE WHEN itself THEN ' ' ELSE ' can become ' || pg_catalog.quote_ident(rolname)
                                              || ', which ' END
           || reason,
           '; ' ORDER BY origin, NOT itself, rolname)
FROM reasons
WHERE reason IS NOT NULL
