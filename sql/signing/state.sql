-- Whether signed binding is on, and how many keys are live (none while on:
-- every app connection is refused until one is added).
SELECT s.signed_binding,
       (SELECT pg_catalog.count(*) FROM tenantkit.binding_keys AS k WHERE k.retired_at IS NULL)
FROM tenantkit.settings AS s
