-- tenantkit 0009 downgrade: drops what 0009_identity.sql created.

DROP TABLE IF EXISTS tenantkit.identity_versions, tenantkit.identity_events,
    tenantkit.user_identities;
DROP FUNCTION IF EXISTS tenantkit._refuse_identity_change();
