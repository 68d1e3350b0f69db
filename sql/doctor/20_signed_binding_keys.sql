-- Check 20, when tenantkit.binding_keys exists: how many binding keys are live
-- (signing on with none refuses every app connection at its first use).
SELECT pg_catalog.count(*) AS live FROM tenantkit.binding_keys AS k WHERE k.retired_at IS NULL
