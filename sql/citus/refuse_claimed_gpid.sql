-- Citus: the coordinator refuses sessions of @app_role@ that claim a Citus
-- global pid (PostgreSQL 17+; run as a superuser on the coordinator only, in the
-- app's database, after `tenantkit migrate`). Re-runnable.
--
-- Why: Citus takes a backend's global pid from its startup application_name
-- when that reads 'citus_internal gpid=N', from any client. A session of the app
-- role claiming a victim's gpid, with citus.allow_nested_distributed_execution on
-- (any role may set it), opens its worker connections under that gpid, so a
-- signature read from the victim's SET LOCAL text verifies on the workers. The
-- app role's own sessions never need such a name on the coordinator: Citus opens
-- those connections to the workers (which therefore must accept the app role
-- from the coordinators only: pg_hba.conf).
CREATE OR REPLACE FUNCTION tenantkit._refuse_claimed_gpid() RETURNS event_trigger
    LANGUAGE plpgsql
    SET search_path = ''
AS $$
BEGIN
    IF pg_catalog.pg_has_role(session_user, '@app_role@'::pg_catalog.regrole::pg_catalog.oid,
                                 'MEMBER')
       -- A superuser is a member of every role; Citus's own connections to the
       -- coordinator (the superuser's) keep their names.
       AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = session_user)
       AND pg_catalog.current_setting('application_name') LIKE 'citus\_internal%' THEN
        RAISE EXCEPTION 'tenantkit: the app role may not claim a Citus global pid'
            USING ERRCODE = '28000';
    END IF;
END
$$;
DROP EVENT TRIGGER IF EXISTS tenantkit_refuse_claimed_gpid;
CREATE EVENT TRIGGER tenantkit_refuse_claimed_gpid ON login
    EXECUTE FUNCTION tenantkit._refuse_claimed_gpid();
