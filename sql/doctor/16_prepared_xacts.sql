-- Check 16: two-phase commit is enabled. Any session sees every prepared
-- transaction's gid, owner and database in pg_prepared_xacts, and the role
-- that prepared one may COMMIT or ROLLBACK PREPARED it from any session: all
-- tenants share the app role, so one tenant can finish or discard another's.
SELECT pg_catalog.current_setting('max_prepared_transactions')::integer AS max_prepared
