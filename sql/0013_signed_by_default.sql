-- tenantkit 0013: new installs sign their bindings by default (issue 10,
-- "on by default for new installs, once proven").
--
-- A database whose tenantkit schema is created by this very run (a fresh
-- install: `tenantkit migrate`, plain Alembic, or install.sql) gets
-- signed_binding on. One that upgrades keeps its setting: turning it on under
-- a running app without a key would refuse its every connection. The test for
-- "created by this run": the version table's catalog row was written by the
-- current transaction (the migrations run in one; nothing alters that table).
--
-- Signing on with no key yet is a closed state, not a broken one: an engine
-- without a key, or with one the database does not know, is refused at its
-- first connection with a BindingError naming what to run
-- (`tenantkit keys binding new` and `add`), never served empty results.
-- `tenantkit migrate` registers the key of TENANTKIT_BINDING_SECRET (or
-- --binding-secret) right after. The opt-out is explicit: `tenantkit migrate
-- --unsigned-binding` (this file is then not run) or `tenantkit keys binding
-- disable`; doctor check 20 warns while signing is off.
UPDATE tenantkit.settings SET signed_binding = true
WHERE (SELECT pg_catalog.age(c.xmin) = 0
       FROM pg_catalog.pg_class AS c
       WHERE c.oid = pg_catalog.to_regclass('tenantkit.alembic_version'));
