-- tenantkit 0015: the settings row is the owner's to create and remove.
--
-- 0006 revoked the service role's UPDATE of tenantkit.settings so that only
-- the owner turns signed binding off, but left 0001's INSERT and DELETE: the
-- service role could delete the singleton and insert it again with
-- signed_binding = false, turning signing off for every tenant. Nothing in
-- tenantkit inserts or deletes the row after the install, so neither role
-- needs either privilege; the service role keeps SELECT and the column
-- UPDATEs 0006 granted.
REVOKE INSERT, DELETE, TRUNCATE ON tenantkit.settings FROM @service_role@, @app_role@, PUBLIC;
