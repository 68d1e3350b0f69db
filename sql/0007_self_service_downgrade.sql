-- tenantkit 0007 downgrade: drops what 0007_self_service.sql created.

ALTER TABLE tenantkit.roles DROP COLUMN IF EXISTS description;
DROP TABLE IF EXISTS tenantkit.idempotency_keys;
DROP TABLE IF EXISTS tenantkit.org_domain_verifications;
DROP TRIGGER IF EXISTS invites_refuse_isolated ON tenantkit.invites;

DROP FUNCTION IF EXISTS
    tenantkit.touch_current_user(),
    tenantkit.convert_org_to_isolated(uuid, text, jsonb),
    tenantkit._refuse_isolated_invite(),
    tenantkit.current_org_invite_deliveries(),
    tenantkit.record_invite_delivery(uuid, boolean, text),
    tenantkit.decline_invite(text),
    tenantkit.current_user_orgs();

ALTER TABLE tenantkit.invites
    DROP COLUMN IF EXISTS delivered_at,
    DROP COLUMN IF EXISTS delivery_error,
    DROP COLUMN IF EXISTS delivery_attempts,
    DROP COLUMN IF EXISTS delivery_state;

-- A declined invite reads as revoked under the older schema.
UPDATE tenantkit.invites SET state = 'revoked' WHERE state = 'declined';
ALTER TABLE tenantkit.invites DROP CONSTRAINT invites_state_check;
ALTER TABLE tenantkit.invites ADD CONSTRAINT invites_state_check
    CHECK (state IN ('pending', 'accepted', 'revoked', 'expired'));

ALTER TABLE tenantkit.orgs DROP CONSTRAINT IF EXISTS orgs_org_id_check;
