-- Binds the verified user and org for the current transaction only (is_local = true).
-- Sent in the same round trip as BEGIN; $1 and $2 are validated UUIDs.
SELECT pg_catalog.set_config('tenantkit.user_id', $1, true),
       pg_catalog.set_config('tenantkit.org_id', $2, true)
