-- tenantkit 0004 downgrade: drops what 0004_events.sql created.

DROP TRIGGER IF EXISTS api_keys_events ON tenantkit.api_keys;
DROP TRIGGER IF EXISTS invites_events ON tenantkit.invites;
DROP TRIGGER IF EXISTS memberships_events ON tenantkit.memberships;
DROP TRIGGER IF EXISTS users_events ON tenantkit.users;
DROP TRIGGER IF EXISTS orgs_events ON tenantkit.orgs;

DROP TABLE IF EXISTS
    tenantkit.webhook_dead_letters,
    tenantkit.webhook_cursors,
    tenantkit.webhook_endpoints,
    tenantkit.events,
    tenantkit.event_commit_order;

DROP FUNCTION IF EXISTS
    tenantkit._webhook_cursor_start(),
    tenantkit._api_key_events(),
    tenantkit._invite_events(),
    tenantkit._membership_events(),
    tenantkit._user_events(),
    tenantkit._org_events(),
    tenantkit._user_payload(tenantkit.users),
    tenantkit._org_payload(tenantkit.orgs),
    tenantkit._event_commit_order(),
    tenantkit._emit_event(text, uuid, jsonb),
    tenantkit.event_types();

DROP SEQUENCE IF EXISTS tenantkit.event_placeholder_seq, tenantkit.event_id_seq;
