-- The session-level settings a connection carries right after it was set up
-- (the app's connect-time SETs). After a reset (RESET ALL) or a reconnect they
-- are put back, so cleaning up after an earlier user never undoes the app's
-- own configuration.
SELECT COALESCE(pg_catalog.array_agg(s.name ORDER BY s.name), '{}') AS names,
       COALESCE(pg_catalog.array_agg(s.setting ORDER BY s.name), '{}') AS settings
FROM pg_catalog.pg_settings AS s
WHERE s.source = 'session'
  AND s.name NOT LIKE 'tenantkit.%'
  AND s.name NOT IN ('transaction_isolation', 'transaction_read_only', 'transaction_deferrable')
