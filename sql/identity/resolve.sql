-- Provider ids -> tenantkit ids, in one round trip (service role; the app role
-- has no privilege on user_identities, and may read only its bound org's row).
-- :provider, :user_external_id (NULL when the token's user id is tenantkit's),
-- :org_external_ids (text[], possibly empty). Unknown ids are simply absent.
SELECT 'user' AS kind, i.external_id, i.user_id AS id
  FROM tenantkit.user_identities AS i
 WHERE i.provider = :provider AND i.external_id = :user_external_id
UNION ALL
SELECT 'org', o.external_id, o.org_id
  FROM tenantkit.orgs AS o
 WHERE o.external_id = ANY (CAST(:org_external_ids AS text[]))
