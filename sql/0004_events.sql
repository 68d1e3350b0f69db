-- tenantkit 0004: events (a transactional outbox) and webhook endpoints.
--
-- Every change to orgs, users, memberships, invites and org API keys writes its
-- event from an AFTER ROW trigger, in the same transaction as the change: a
-- committed change has exactly one event and a rolled-back one none, whoever
-- made it (the service role, an end user through row-level security, a
-- SECURITY DEFINER function, the owner). The trigger functions run as the
-- owner; no other role may write tenantkit.events, and only the service role
-- may read it (end users never see events).
--
-- Event ids follow commit order. A plain sequence would not: a transaction
-- that takes id 5 and commits after the one that took id 6 lets a consumer
-- polling `event_id > last_seen` see 6 and then skip 5 forever. So an event
-- carries a negative placeholder while its transaction is open, and a
-- deferred constraint trigger gives it its final id at commit, under a lock
-- that is held until the transaction ends. PostgreSQL releases locks only
-- after the commit is visible, so the next transaction takes its ids after
-- every smaller id is visible: a reader that sees id N sees every committed
-- id below N. The price is that commits of event-writing transactions are
-- serialised from their id assignment to their end (the commit record's
-- flush included).

-- The event names (PropelAuth's). tenantkit/events/types.py holds the same list.
CREATE FUNCTION tenantkit.event_types() RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = ''
AS $$
    SELECT ARRAY[
        'org.created', 'org.updated', 'org.deleted',
        'user.created', 'user.updated', 'user.deleted',
        'user.added_to_org', 'user.removed_from_org', 'user.role_changed_within_org',
        'user.invited_to_org',
        'org.api_key_created', 'org.api_key_archived'
    ]::text[]
$$;

CREATE SEQUENCE tenantkit.event_id_seq AS bigint;           -- final ids, taken at commit
CREATE SEQUENCE tenantkit.event_placeholder_seq AS bigint;  -- negated while the transaction is open

-- Never holds rows: its lock is the commit-order lock (a table of its own, so
-- no application advisory lock can collide with it, and no row is updated).
CREATE TABLE tenantkit.event_commit_order ();

CREATE TABLE tenantkit.events (
    event_id      bigint PRIMARY KEY,
    event_type    text NOT NULL CHECK (event_type = ANY (tenantkit.event_types())),
    -- The org the event belongs to; NULL for project-wide events (a user who
    -- belongs to no isolated org).
    org_id        uuid,
    payload       jsonb NOT NULL CHECK (pg_catalog.jsonb_typeof(payload) = 'object'),
    occurred_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- When the id was assigned, just before the commit (for lag and latency).
    committed_at  timestamptz
);

CREATE FUNCTION tenantkit._emit_event(p_type text, p_org_id uuid, p_payload jsonb) RETURNS void
    LANGUAGE sql
    SET search_path = ''
AS $$
    INSERT INTO tenantkit.events (event_id, event_type, org_id, payload)
    VALUES (-pg_catalog.nextval('tenantkit.event_placeholder_seq'), p_type, p_org_id, p_payload)
$$;

-- At commit (or at SET CONSTRAINTS ... IMMEDIATE, which only holds the lock
-- longer): the final id. If a savepoint that ran this is rolled back,
-- PostgreSQL re-queues the trigger, so no event keeps its placeholder.
CREATE FUNCTION tenantkit._event_commit_order() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    LOCK TABLE tenantkit.event_commit_order IN EXCLUSIVE MODE;
    UPDATE tenantkit.events
       SET event_id = pg_catalog.nextval('tenantkit.event_id_seq'),
           committed_at = pg_catalog.clock_timestamp()
     WHERE event_id = NEW.event_id;
    -- Identical notifications collapse into one per transaction; delivered at commit.
    PERFORM pg_catalog.pg_notify('tenantkit_events', '');
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER events_commit_order AFTER INSERT ON tenantkit.events
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION tenantkit._event_commit_order();

-- --- payloads (PropelAuth's field names) ---------------------------------------

CREATE FUNCTION tenantkit._org_payload(o tenantkit.orgs) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
    SET search_path = ''
AS $$
    SELECT pg_catalog.jsonb_build_object(
        'org_id', o.org_id, 'name', o.name, 'url_safe_org_name', o.url_safe_org_name,
        'domain', o.domain, 'extra_domains', o.extra_domains, 'max_users', o.max_users,
        'metadata', o.metadata, 'legacy_org_id', o.legacy_org_id, 'external_id', o.external_id,
        'isolated', o.isolated)
$$;

CREATE FUNCTION tenantkit._user_payload(u tenantkit.users) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
    SET search_path = ''
AS $$
    SELECT pg_catalog.jsonb_build_object(
        'user_id', u.user_id, 'email', u.email, 'email_confirmed', u.email_confirmed,
        'first_name', u.first_name, 'last_name', u.last_name, 'username', u.username,
        'picture_url', u.picture_url, 'locked', u.locked, 'enabled', u.enabled,
        'mfa_enabled', u.mfa_enabled, 'legacy_user_id', u.legacy_user_id,
        'metadata', u.metadata, 'properties', u.properties,
        'isolated_org_id', u.isolated_org_id)
$$;

-- --- the triggers that write events ----------------------------------------------

CREATE FUNCTION tenantkit._org_events() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM tenantkit._emit_event('org.created', NEW.org_id, tenantkit._org_payload(NEW));
    ELSIF TG_OP = 'UPDATE' THEN
        -- updated_at alone moves on every UPDATE; a no-op update is no change.
        IF (pg_catalog.to_jsonb(OLD) - 'updated_at') <> (pg_catalog.to_jsonb(NEW) - 'updated_at') THEN
            PERFORM tenantkit._emit_event('org.updated', NEW.org_id, tenantkit._org_payload(NEW));
        END IF;
    ELSE
        PERFORM tenantkit._emit_event('org.deleted', OLD.org_id,
            pg_catalog.jsonb_build_object('org_id', OLD.org_id, 'name', OLD.name));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER orgs_events AFTER INSERT OR UPDATE OR DELETE ON tenantkit.orgs
    FOR EACH ROW EXECUTE FUNCTION tenantkit._org_events();

CREATE FUNCTION tenantkit._user_events() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM tenantkit._emit_event('user.created', NEW.isolated_org_id,
                                      tenantkit._user_payload(NEW));
    ELSIF TG_OP = 'UPDATE' THEN
        -- Activity stamps are bookkeeping, not a change to the user.
        IF (pg_catalog.to_jsonb(OLD) - 'last_active_at') <> (pg_catalog.to_jsonb(NEW) - 'last_active_at') THEN
            PERFORM tenantkit._emit_event('user.updated', NEW.isolated_org_id,
                                          tenantkit._user_payload(NEW));
        END IF;
    ELSE
        PERFORM tenantkit._emit_event('user.deleted', OLD.isolated_org_id,
            pg_catalog.jsonb_build_object('user_id', OLD.user_id, 'email', OLD.email));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER users_events AFTER INSERT OR UPDATE OR DELETE ON tenantkit.users
    FOR EACH ROW EXECUTE FUNCTION tenantkit._user_events();

-- Status changes (deactivate, reactivate) have no PropelAuth event and write none.
CREATE FUNCTION tenantkit._membership_events() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM tenantkit._emit_event('user.added_to_org', NEW.org_id,
            pg_catalog.jsonb_build_object('org_id', NEW.org_id, 'user_id', NEW.user_id,
                                          'role', NEW.role,
                                          'additional_roles', NEW.additional_roles));
    ELSIF TG_OP = 'UPDATE' THEN
        IF NEW.role IS DISTINCT FROM OLD.role
           OR NEW.additional_roles IS DISTINCT FROM OLD.additional_roles THEN
            PERFORM tenantkit._emit_event('user.role_changed_within_org', NEW.org_id,
                pg_catalog.jsonb_build_object('org_id', NEW.org_id, 'user_id', NEW.user_id,
                                              'old_role', OLD.role, 'new_role', NEW.role,
                                              'old_additional_roles', OLD.additional_roles,
                                              'new_additional_roles', NEW.additional_roles));
        END IF;
    -- A membership that goes with its org is part of org.deleted, not a removal
    -- (the org row is already gone when the cascade reaches its memberships).
    ELSIF EXISTS (SELECT 1 FROM tenantkit.orgs AS o WHERE o.org_id = OLD.org_id) THEN
        PERFORM tenantkit._emit_event('user.removed_from_org', OLD.org_id,
            pg_catalog.jsonb_build_object('org_id', OLD.org_id, 'removed_user_id', OLD.user_id,
                                          'role', OLD.role));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER memberships_events AFTER INSERT OR UPDATE OR DELETE ON tenantkit.memberships
    FOR EACH ROW EXECUTE FUNCTION tenantkit._membership_events();

CREATE FUNCTION tenantkit._invite_events() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    PERFORM tenantkit._emit_event('user.invited_to_org', NEW.org_id,
        pg_catalog.jsonb_build_object('org_id', NEW.org_id, 'invite_id', NEW.invite_id,
                                      'invitee_email', NEW.email,
                                      'invitee_user_id', NEW.invitee_user_id,
                                      'role_in_org', NEW.role,
                                      'additional_roles_in_org', NEW.additional_roles,
                                      'inviter_user_id', NEW.inviter_user_id));
    RETURN NULL;
END
$$;
CREATE TRIGGER invites_events AFTER INSERT ON tenantkit.invites
    FOR EACH ROW EXECUTE FUNCTION tenantkit._invite_events();

-- Org API keys only: integration keys belong to the backend, user keys to no org.
CREATE FUNCTION tenantkit._api_key_events() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    IF NEW.kind <> 'org' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        PERFORM tenantkit._emit_event('org.api_key_created', NEW.org_id,
            pg_catalog.jsonb_build_object('org_id', NEW.org_id, 'api_key_id', NEW.api_key_id,
                                          'display_name', NEW.name,
                                          'permissions', NEW.permissions));
    ELSIF OLD.archived_at IS NULL AND NEW.archived_at IS NOT NULL THEN
        PERFORM tenantkit._emit_event('org.api_key_archived', NEW.org_id,
            pg_catalog.jsonb_build_object('org_id', NEW.org_id, 'api_key_id', NEW.api_key_id));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER api_keys_events AFTER INSERT OR UPDATE OF archived_at ON tenantkit.api_keys
    FOR EACH ROW EXECUTE FUNCTION tenantkit._api_key_events();

-- --- webhook endpoints and their delivery state ----------------------------------

-- url: https, or http to a loopback host (delivered only by a worker started for
-- development). No credentials in the URL, no fragment, no whitespace.
CREATE TABLE tenantkit.webhook_endpoints (
    endpoint_id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    url                         text NOT NULL,
    description                 text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    -- Empty: every event type.
    event_types                 text[] NOT NULL DEFAULT '{}'
                                CHECK (event_types <@ tenantkit.event_types()),
    -- NULL: every org, and project-wide events; otherwise that org's events only.
    -- No foreign key: the org's own org.deleted must still reach the endpoint.
    org_id                      uuid,
    enabled                     boolean NOT NULL DEFAULT true,
    -- The signing secret (whsec_...), or its encryption under the application's
    -- key (tkenc1:...). Only the service role can read it.
    secret                      text NOT NULL,
    -- Rotation: the previous secret keeps signing until it expires.
    previous_secret             text,
    previous_secret_expires_at  timestamptz,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_endpoints_url_check CHECK (
        length(url) <= 2000
        AND url !~ '[[:space:][:cntrl:]#]'
        AND (url ~ '^https://[^/?@]+(/|\?|$)'
             OR url ~ '^http://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]{1,5})?(/|\?|$)')),
    CONSTRAINT webhook_endpoints_previous_secret_check
        CHECK ((previous_secret IS NULL) = (previous_secret_expires_at IS NULL))
);

-- One row per endpoint: how far delivery got. The worker locks it FOR UPDATE
-- SKIP LOCKED while it delivers, so the endpoint row stays free for management.
CREATE TABLE tenantkit.webhook_cursors (
    endpoint_id              uuid PRIMARY KEY REFERENCES tenantkit.webhook_endpoints ON DELETE CASCADE,
    -- Every event up to here is delivered, dead-lettered or filtered out.
    last_event_id            bigint NOT NULL CHECK (last_event_id >= 0),
    -- The event that `attempts` counts for (the head of the endpoint's line).
    head_event_id            bigint,
    attempts                 integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at          timestamptz NOT NULL DEFAULT now(),
    last_attempt_at          timestamptz,
    last_success_at          timestamptz,
    last_delivered_event_id  bigint,
    last_status_code         integer,
    last_error               text CHECK (length(last_error) <= 500),
    delivered_count          bigint NOT NULL DEFAULT 0
);

-- A new endpoint starts after the events that exist when it is created.
CREATE FUNCTION tenantkit._webhook_cursor_start() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = ''
AS $$
BEGIN
    INSERT INTO tenantkit.webhook_cursors (endpoint_id, last_event_id)
    SELECT NEW.endpoint_id, COALESCE(pg_catalog.max(e.event_id), 0)
    FROM tenantkit.events AS e
    WHERE e.event_id > 0;
    RETURN NULL;
END
$$;
CREATE TRIGGER webhook_endpoints_cursor AFTER INSERT ON tenantkit.webhook_endpoints
    FOR EACH ROW EXECUTE FUNCTION tenantkit._webhook_cursor_start();

-- Events that failed every attempt; replaying queues them again (replay_requested_at).
CREATE TABLE tenantkit.webhook_dead_letters (
    endpoint_id          uuid NOT NULL REFERENCES tenantkit.webhook_endpoints ON DELETE CASCADE,
    event_id             bigint NOT NULL REFERENCES tenantkit.events,
    attempts             integer NOT NULL,
    last_error           text CHECK (length(last_error) <= 500),
    dead_at              timestamptz NOT NULL DEFAULT now(),
    replay_requested_at  timestamptz,
    PRIMARY KEY (endpoint_id, event_id)
);
CREATE INDEX webhook_dead_letters_replay ON tenantkit.webhook_dead_letters (endpoint_id, event_id)
    WHERE replay_requested_at IS NOT NULL;

-- --- privileges --------------------------------------------------------------------

REVOKE ALL ON FUNCTION
    tenantkit.event_types(),
    tenantkit._emit_event(text, uuid, jsonb),
    tenantkit._event_commit_order(),
    tenantkit._org_payload(tenantkit.orgs),
    tenantkit._user_payload(tenantkit.users),
    tenantkit._org_events(),
    tenantkit._user_events(),
    tenantkit._membership_events(),
    tenantkit._invite_events(),
    tenantkit._api_key_events(),
    tenantkit._webhook_cursor_start()
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenantkit.event_types(), tenantkit._webhook_cursor_start()
    TO @service_role@;

-- Events: the service role reads them; nobody but the trigger functions writes.
-- The app role gets nothing here: end users do not read events.
REVOKE ALL ON tenantkit.events, tenantkit.event_commit_order, tenantkit.webhook_endpoints,
    tenantkit.webhook_cursors, tenantkit.webhook_dead_letters FROM PUBLIC;
GRANT SELECT ON tenantkit.events TO @service_role@;
GRANT SELECT, INSERT, UPDATE, DELETE ON tenantkit.webhook_endpoints, tenantkit.webhook_cursors,
    tenantkit.webhook_dead_letters TO @service_role@;

ALTER TABLE tenantkit.events ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenantkit.event_commit_order ENABLE ROW LEVEL SECURITY;
CREATE POLICY service_select ON tenantkit.events AS PERMISSIVE FOR SELECT TO @service_role@
    USING (true);
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['webhook_endpoints', 'webhook_cursors', 'webhook_dead_letters']
    LOOP
        EXECUTE pg_catalog.format('ALTER TABLE tenantkit.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE pg_catalog.format(
            'CREATE POLICY service_all ON tenantkit.%I AS PERMISSIVE FOR ALL TO @service_role@'
            ' USING (true) WITH CHECK (true)', t);
    END LOOP;
END
$$;
