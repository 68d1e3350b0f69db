-- The set_local binding (Citus propagates SET LOCAL to the shards, not
-- set_config): the ids go as literals, @user@ and @org@ replaced by quoted
-- canonical UUIDs or '' (hex digits and dashes only, checked by TenantContext),
-- @key@ by the quoted API key id (the same), @sig@
-- by the quoted signature (key id, digits, colons and hex only).
-- Other sessions can read these literals in pg_stat_activity.query.
-- The stamp is bind.sql's.
-- First: Citus replays this transaction's SET LOCALs on the workers only with
-- this (its default is none); on plain PostgreSQL it is an inert placeholder.
SET LOCAL citus.propagate_set_commands = 'local';
SET LOCAL tenantkit.user_id = @user@;
SET LOCAL tenantkit.org_id = @org@;
SET LOCAL tenantkit.signature = @sig@;
SET LOCAL tenantkit.api_key_id = @key@;
SELECT pg_catalog.set_config('tenantkit.bound',
                             EXTRACT(epoch FROM pg_catalog.now())::pg_catalog.numeric::pg_catalog.text,
                             true)
