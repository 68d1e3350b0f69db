-- Check 20, when tenantkit.settings exists: settings.signed_binding (NULL before
-- migration 0006: read through to_jsonb so the query stands on older schemas).
SELECT (pg_catalog.to_jsonb(st) ->> 'signed_binding')::boolean AS signed
FROM tenantkit.settings AS st
