-- tenantkit 0009 (identity): provider ids for users, and the state that keeps
-- webhook-driven syncs idempotent and ordered.
--
-- 1. user_identities: a user's id at an identity provider (WorkOS `user_…`,
--    Auth0 `auth0|…`, ...), unique per provider. A link is immutable: it is
--    created or deleted, never re-pointed, so a cached "external id -> user_id"
--    can only ever name the user it named, or a user that no longer exists
--    (who binds nothing). Orgs keep their single orgs.external_id (0001).
-- 2. identity_events: every inbound webhook event applied, by (provider, event
--    id): a replay is recognised and changes nothing.
-- 3. identity_versions: per synced object (org, user, membership), the time of
--    the last event applied and whether it removed the object. An older event
--    is skipped, so out-of-order delivery never resurrects a removed membership;
--    at equal times a removal wins (fail closed).
-- Only the service role reads or writes these; the app role has no privilege
-- on them (an app-role lookup by external id would be an oracle across orgs).

CREATE TABLE tenantkit.user_identities (
    provider     text NOT NULL CHECK (provider ~ '^[a-z][a-z0-9_-]{0,39}$'),
    external_id  text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 255),
    user_id      uuid NOT NULL REFERENCES tenantkit.users ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, external_id),
    UNIQUE (user_id, provider)
);

CREATE FUNCTION tenantkit._refuse_identity_change() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = ''
AS $$
BEGIN
    RAISE EXCEPTION 'a user identity is never re-pointed: delete it and create another'
        USING ERRCODE = 'TKI01';
END
$$;
CREATE TRIGGER user_identities_immutable BEFORE UPDATE ON tenantkit.user_identities
    FOR EACH ROW EXECUTE FUNCTION tenantkit._refuse_identity_change();

CREATE TABLE tenantkit.identity_events (
    provider     text NOT NULL,
    event_id     text NOT NULL CHECK (length(event_id) BETWEEN 1 AND 255),
    event_type   text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    applied      boolean NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, event_id)
);

CREATE TABLE tenantkit.identity_versions (
    provider     text NOT NULL,
    object_kind  text NOT NULL CHECK (object_kind IN ('org', 'user', 'membership')),
    object_key   text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    removed      boolean NOT NULL,
    PRIMARY KEY (provider, object_kind, object_key)
);

GRANT SELECT, INSERT, DELETE ON tenantkit.user_identities TO @service_role@;
GRANT SELECT, INSERT, UPDATE, DELETE ON tenantkit.identity_events, tenantkit.identity_versions
    TO @service_role@;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['user_identities', 'identity_events', 'identity_versions']
    LOOP
        EXECUTE pg_catalog.format('ALTER TABLE tenantkit.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE pg_catalog.format(
            'CREATE POLICY service_all ON tenantkit.%I AS PERMISSIVE FOR ALL TO @service_role@'
            ' USING (true) WITH CHECK (true)', t);
    END LOOP;
END
$$;
