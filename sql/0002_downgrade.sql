-- tenantkit 0002 downgrade: drops what 0002_orgs.sql created.

DROP TRIGGER IF EXISTS invites_check_domain ON tenantkit.invites;
DROP FUNCTION IF EXISTS
    tenantkit.autojoin_by_domain(uuid, text, uuid, jsonb),
    tenantkit.create_org_as_owner(uuid, text, jsonb),
    tenantkit.accept_invite(text),
    tenantkit.accept_invite_for(text, uuid, text, uuid, jsonb),
    tenantkit._check_invite_domain(),
    tenantkit._audit(uuid, text, uuid, text, text, text, jsonb),
    tenantkit._mapping_role(uuid, boolean);
DROP INDEX IF EXISTS
    tenantkit.memberships_org_created,
    tenantkit.invites_org_pending,
    tenantkit.users_email_order;
