-- Binds the verified user and org for the current transaction only (is_local = true).
-- Sent in the same round trip as BEGIN; $1 (the user, '' for an API key), $2
-- (the org) and $4 (the org API key's id, '' for a user) are validated UUIDs, $3
-- the signature over them ('' when the app does not sign; see
-- 0006_signed_binding.sql, 0010_api_keys.sql).
--
-- tenantkit.bound stamps the binding with this transaction's start time.
-- tenantkit's functions ignore the ids unless the stamp equals the current
-- transaction's, so a value that outlives its transaction (app SQL running
-- `SET tenantkit.org_id = ...` or set_config(..., false), which are
-- session-level) is never taken for a binding: not by a later transaction of
-- the same connection, an autocommit statement, or another client sharing the
-- server connection through a transaction pooler. The epoch as numeric text
-- does not depend on DateStyle, TimeZone or extra_float_digits.
SELECT pg_catalog.set_config('tenantkit.user_id', $1, true),
       pg_catalog.set_config('tenantkit.org_id', $2, true),
       pg_catalog.set_config('tenantkit.signature', $3, true),
       pg_catalog.set_config('tenantkit.api_key_id', $4, true),
       pg_catalog.set_config('tenantkit.bound',
                             EXTRACT(epoch FROM pg_catalog.now())::pg_catalog.numeric::pg_catalog.text,
                             true)
