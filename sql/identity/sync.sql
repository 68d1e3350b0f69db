-- The webhook sync's statements (service role), one per `-- name:` section.
-- Every event runs in one transaction: recorded, ordered, applied, or none of it.

-- name: record_event
-- A replay (same provider and event id) inserts nothing: the caller stops there.
INSERT INTO tenantkit.identity_events (provider, event_id, event_type, occurred_at, applied)
VALUES (:provider, :event_id, :event_type, :occurred_at, true)
ON CONFLICT (provider, event_id) DO NOTHING
RETURNING event_id

-- name: skip_event
UPDATE tenantkit.identity_events SET applied = false
 WHERE provider = :provider AND event_id = :event_id

-- name: claim_version
-- Make sure the object's version row exists, so the next statement can lock it
-- even for the first event about it (concurrent deliveries then queue here).
INSERT INTO tenantkit.identity_versions (provider, object_kind, object_key, occurred_at, removed)
VALUES (:provider, :object_kind, :object_key, 'epoch', false)
ON CONFLICT (provider, object_kind, object_key) DO NOTHING

-- name: lock_version
SELECT occurred_at, removed FROM tenantkit.identity_versions
 WHERE provider = :provider AND object_kind = :object_kind AND object_key = :object_key
   FOR UPDATE

-- name: set_version
UPDATE tenantkit.identity_versions SET occurred_at = :occurred_at, removed = :removed
 WHERE provider = :provider AND object_kind = :object_kind AND object_key = :object_key

-- name: removed
-- Whether an org or user was removed by an earlier event (it is never recreated).
SELECT removed FROM tenantkit.identity_versions
 WHERE provider = :provider AND object_kind = :object_kind AND object_key = :object_key

-- name: org_by_external_id
SELECT org_id FROM tenantkit.orgs WHERE external_id = :external_id

-- name: org_by_id
SELECT org_id FROM tenantkit.orgs WHERE org_id = CAST(:org_id AS uuid)

-- name: insert_org
INSERT INTO tenantkit.orgs (org_id, name, url_safe_org_name, external_id)
VALUES (coalesce(CAST(:org_id AS uuid), gen_random_uuid()), :name, '', :external_id)
RETURNING org_id

-- name: rename_org
UPDATE tenantkit.orgs SET name = :name, updated_at = now() WHERE org_id = :org_id

-- name: delete_org
DELETE FROM tenantkit.orgs WHERE org_id = :org_id

-- name: user_by_external_id
SELECT user_id FROM tenantkit.user_identities WHERE provider = :provider AND external_id = :external_id

-- name: user_by_id
SELECT user_id FROM tenantkit.users WHERE user_id = CAST(:user_id AS uuid)

-- name: insert_user
INSERT INTO tenantkit.users (user_id, email, email_confirmed, first_name, last_name)
VALUES (coalesce(CAST(:user_id AS uuid), gen_random_uuid()), :email, :email_confirmed,
        :first_name, :last_name)
RETURNING user_id

-- name: link_user
INSERT INTO tenantkit.user_identities (provider, external_id, user_id)
VALUES (:provider, :external_id, :user_id)

-- name: update_user
UPDATE tenantkit.users
   SET email = :email, email_confirmed = :email_confirmed,
       first_name = coalesce(:first_name, first_name), last_name = coalesce(:last_name, last_name)
 WHERE user_id = :user_id

-- name: delete_user
DELETE FROM tenantkit.users WHERE user_id = :user_id

-- name: upsert_membership
INSERT INTO tenantkit.memberships (org_id, user_id, role, status)
VALUES (:org_id, :user_id, :role, :status)
ON CONFLICT (org_id, user_id) DO UPDATE
   SET role = EXCLUDED.role, status = EXCLUDED.status, updated_at = now()

-- name: delete_membership
DELETE FROM tenantkit.memberships WHERE org_id = :org_id AND user_id = :user_id

-- name: members_of_org
-- The backfill's view of an org's members, to remove those the provider no longer lists.
SELECT user_id::text FROM tenantkit.memberships WHERE org_id = CAST(:org_id AS uuid)
