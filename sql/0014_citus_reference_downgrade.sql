-- tenantkit 0014 downgrade on Citus: the mirrors and their triggers go; the
-- views and functions 0014 redefined are put back by re-running the files
-- that define them (migrations/versions/0014_citus.py).
SET LOCAL citus.multi_shard_modify_mode TO 'sequential';
DO $$
DECLARE
    m record;
BEGIN
    FOR m IN SELECT * FROM tenantkit._citus_mirrored() LOOP
        EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON tenantkit.%I',
                                  m.source || '_citus_mirror', m.source);
        EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON tenantkit.%I',
                                  m.source || '_citus_mirror_update', m.source);
        EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON tenantkit.%I',
                                  m.source || '_citus_mirror_truncate', m.source);
    END LOOP;
END
$$;
