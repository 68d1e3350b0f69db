-- tenantkit 0014 (every database): the backend a signed binding is bound to.
--
-- Plain PostgreSQL: the backend's pid, as 0006's verifier compares. On Citus
-- (sql/0014_citus_reference.sql redefines it) the global pid, which a worker
-- serving this backend's shard queries reports as well. The client reads it at a
-- signing connection's first use (sql/runtime/backend.sql). Re-runnable.
CREATE OR REPLACE FUNCTION tenantkit.binding_backend() RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN pg_catalog.pg_backend_pid()::pg_catalog.int8;
-- Every role: backend.sql runs at the first use of any signing engine's
-- connection, whatever its role (the safety gate then refuses the wrong ones);
-- it tells no more than pg_backend_pid() and citus_backend_gpid() do.
GRANT EXECUTE ON FUNCTION tenantkit.binding_backend() TO PUBLIC;
