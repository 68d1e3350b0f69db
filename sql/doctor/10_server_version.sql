-- Check 10: the server version, against the floor that fixes the RLS CVEs.
SELECT pg_catalog.current_setting('server_version_num')::integer AS version_num,
       pg_catalog.current_setting('server_version') AS version
