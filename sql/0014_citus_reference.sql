-- tenantkit 0014 on Citus only (applied when the citus extension exists; plain
-- PostgreSQL keeps the definitions of 0003-0011 unchanged). Re-runnable.
--
-- Policies on distributed tenant tables run on the workers, so everything the
-- policy functions read must be there, with the same content in the same
-- transaction. tenantkit's own tables stay on the coordinator: their triggers
-- hold the integrity rules, and a trigger on a reference table runs once per
-- copy on every node (measured on Citus 14: a BEFORE trigger gave each copy its
-- own value; an AFTER trigger writing a coordinator table failed on the
-- workers), and 22 of their policies wrap the functions in (SELECT ...), which
-- Citus refuses on reference tables. Instead, the columns the policy functions
-- read are mirrored into owner-only reference tables (tenantkit._citus_*),
-- written by AFTER triggers on the coordinator in the same transaction (2PC to
-- every node), and the binding views and functions read the mirrors on every
-- node. A membership or role change is in every copy when its transaction
-- commits: the next transaction on any shard sees it.

-- One connection per node for the DDL below (Citus refuses function DDL after a
-- parallel operation in the same transaction).
SET LOCAL citus.multi_shard_modify_mode TO 'sequential';

CREATE TABLE IF NOT EXISTS tenantkit._citus_settings (
    singleton boolean PRIMARY KEY,
    signed_binding boolean NOT NULL
);
CREATE TABLE IF NOT EXISTS tenantkit._citus_binding_keys (
    key_id text PRIMARY KEY,
    inner_pad bytea NOT NULL,
    outer_pad bytea NOT NULL,
    retired_at timestamptz
);
CREATE TABLE IF NOT EXISTS tenantkit._citus_orgs (
    org_id uuid PRIMARY KEY,
    custom_role_mapping_name text
);
CREATE TABLE IF NOT EXISTS tenantkit._citus_users (
    user_id uuid PRIMARY KEY,
    enabled boolean NOT NULL,
    locked boolean NOT NULL
);
CREATE TABLE IF NOT EXISTS tenantkit._citus_memberships (
    org_id uuid NOT NULL,
    user_id uuid NOT NULL,
    role text NOT NULL,
    additional_roles text[] NOT NULL,
    status text NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE TABLE IF NOT EXISTS tenantkit._citus_role_mappings (
    mapping_id uuid PRIMARY KEY,
    name text NOT NULL,
    multi_role boolean NOT NULL,
    is_default boolean NOT NULL
);
CREATE TABLE IF NOT EXISTS tenantkit._citus_roles (
    mapping_id uuid NOT NULL,
    name text NOT NULL,
    rank integer NOT NULL,
    permissions text[] NOT NULL,
    PRIMARY KEY (mapping_id, name)
);
CREATE TABLE IF NOT EXISTS tenantkit._citus_api_keys (
    api_key_id uuid PRIMARY KEY,
    kind text NOT NULL,
    org_id uuid,
    permissions text[] NOT NULL,
    expires_at timestamptz,
    archived_at timestamptz
);

-- The mirrors' columns, once: (source table, mirrored columns, key columns).
CREATE OR REPLACE FUNCTION tenantkit._citus_mirrored()
    RETURNS TABLE (source text, columns text, keys text)
    LANGUAGE sql IMMUTABLE
    SET search_path = ''
AS $$
    VALUES ('settings', 'singleton, signed_binding', 'singleton'),
           ('binding_keys', 'key_id, inner_pad, outer_pad, retired_at', 'key_id'),
           ('orgs', 'org_id, custom_role_mapping_name', 'org_id'),
           ('users', 'user_id, enabled, locked', 'user_id'),
           ('memberships', 'org_id, user_id, role, additional_roles, status', 'org_id, user_id'),
           ('role_mappings', 'mapping_id, name, multi_role, is_default', 'mapping_id'),
           ('roles', 'mapping_id, name, rank, permissions', 'mapping_id, name'),
           ('api_keys', 'api_key_id, kind, org_id, permissions, expires_at, archived_at',
            'api_key_id')
$$;
REVOKE ALL ON FUNCTION tenantkit._citus_mirrored() FROM PUBLIC;

-- The row trigger: TG_ARGV[0] the mirrored columns, TG_ARGV[1] the key. It runs
-- as the owner (the mirrors have no privilege for anyone else).
CREATE OR REPLACE FUNCTION tenantkit._citus_mirror() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_mirror text := pg_catalog.format('tenantkit.%I', '_citus_' || TG_TABLE_NAME);
    v_where text;
BEGIN
    -- The old key as literals and the new row as jsonb into the mirror's own row
    -- type: the source's row type exists on the coordinator only, and the
    -- statement runs on every node (Citus refuses a row comparison with a subquery).
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT pg_catalog.string_agg(pg_catalog.format('%I = %L', k,
                                                       pg_catalog.to_jsonb(OLD) ->> k), ' AND ')
        INTO v_where
        FROM pg_catalog.unnest(pg_catalog.string_to_array(
                 pg_catalog.replace(TG_ARGV[1], ' ', ''), ',')) AS k;
        EXECUTE pg_catalog.format('DELETE FROM %s WHERE %s', v_mirror, v_where);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        EXECUTE pg_catalog.format(
            'INSERT INTO %s (%s) SELECT %s FROM pg_catalog.jsonb_populate_record(NULL::%s, $1)',
            v_mirror, TG_ARGV[0], TG_ARGV[0], v_mirror) USING pg_catalog.to_jsonb(NEW);
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION tenantkit._citus_mirror() FROM PUBLIC;

CREATE OR REPLACE FUNCTION tenantkit._citus_mirror_truncate() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    EXECUTE pg_catalog.format('DELETE FROM tenantkit.%I', '_citus_' || TG_TABLE_NAME);
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION tenantkit._citus_mirror_truncate() FROM PUBLIC;

-- Reference tables (a copy on every node), filled from the source, then kept in
-- step. UPDATE OF the mirrored columns only: a touch of last_used_at or
-- last_active_at writes no copy.
DO $$
DECLARE
    m record;
BEGIN
    FOR m IN SELECT * FROM tenantkit._citus_mirrored() LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition
                       WHERE logicalrelid = pg_catalog.format('tenantkit.%I',
                                                              '_citus_' || m.source)::regclass) THEN
            EXECUTE pg_catalog.format('ALTER TABLE tenantkit.%I ENABLE ROW LEVEL SECURITY',
                                      '_citus_' || m.source);
            EXECUTE pg_catalog.format('REVOKE ALL ON tenantkit.%I FROM PUBLIC',
                                      '_citus_' || m.source);
            PERFORM pg_catalog.create_reference_table(
                pg_catalog.format('tenantkit.%I', '_citus_' || m.source)::regclass);
        END IF;
        EXECUTE pg_catalog.format('DELETE FROM tenantkit.%I', '_citus_' || m.source);
        EXECUTE pg_catalog.format('INSERT INTO tenantkit.%I (%s) SELECT %s FROM tenantkit.%I',
                                  '_citus_' || m.source, m.columns, m.columns, m.source);
        EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON tenantkit.%I',
                                  m.source || '_citus_mirror', m.source);
        EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON tenantkit.%I',
                                  m.source || '_citus_mirror_update', m.source);
        EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON tenantkit.%I',
                                  m.source || '_citus_mirror_truncate', m.source);
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER %I AFTER INSERT OR DELETE ON tenantkit.%I FOR EACH ROW '
            'EXECUTE FUNCTION tenantkit._citus_mirror(%L, %L)',
            m.source || '_citus_mirror', m.source, m.columns, m.keys);
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER %I AFTER UPDATE OF %s ON tenantkit.%I FOR EACH ROW '
            'EXECUTE FUNCTION tenantkit._citus_mirror(%L, %L)',
            m.source || '_citus_mirror_update', m.columns, m.source, m.columns, m.keys);
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER %I AFTER TRUNCATE ON tenantkit.%I FOR EACH STATEMENT '
            'EXECUTE FUNCTION tenantkit._citus_mirror_truncate()',
            m.source || '_citus_mirror_truncate', m.source);
    END LOOP;
END
$$;

-- Is this transaction's binding its own? On the coordinator, 0003's stamp
-- (set_config, which Citus does not propagate). On a worker the ids arrive
-- only as the SET LOCALs Citus replays at the start of each worker transaction
-- that a coordinator transaction opens, and vanish with it: they count only
-- inside such a distributed transaction (a direct session on a worker, or a
-- worker connection outside one, binds nothing).
CREATE OR REPLACE FUNCTION tenantkit._binding_stamped() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN CASE
        WHEN pg_catalog.citus_is_coordinator()
        THEN pg_catalog.current_setting('tenantkit.bound', true)
             = EXTRACT(epoch FROM pg_catalog.now())::pg_catalog.numeric::pg_catalog.text
        ELSE (pg_catalog.get_current_transaction_id()).transaction_number <> 0
    END;
REVOKE ALL ON FUNCTION tenantkit._binding_stamped() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenantkit._binding_stamped() TO @app_role@;

-- The backend a signature is bound to: Citus's global pid (node id x 10^10 +
-- the coordinator backend's pid), which the workers serving this backend's
-- shard queries report too. Citus takes a backend's global pid from its
-- application_name when that reads 'citus_internal gpid=N', which any client
-- may claim: on the coordinator only a backend whose global pid is its own
-- binds (-1 matches no signature).
CREATE OR REPLACE FUNCTION tenantkit.binding_backend() RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN CASE
        WHEN NOT pg_catalog.citus_is_coordinator() THEN pg_catalog.citus_backend_gpid()
        WHEN pg_catalog.citus_backend_gpid() % 10000000000 = pg_catalog.pg_backend_pid()
        THEN pg_catalog.citus_backend_gpid()
        ELSE -1
    END;
-- Every role: backend.sql runs at the first use of any signing engine's
-- connection, whatever its role (the safety gate then refuses the wrong ones);
-- it tells no more than pg_backend_pid() and citus_backend_gpid() do.
GRANT EXECUTE ON FUNCTION tenantkit.binding_backend() TO PUBLIC;

-- 0012's one verified principal, over the mirrors, with the stamp and backend
-- above. 0012 defines it per signing mode, and its trigger on settings runs
-- this function again whenever the mode changes: on Citus the function writes
-- this variant (the view is a Citus object, propagated to every node). The
-- flag is read here, on the coordinator, where the function runs.
CREATE OR REPLACE FUNCTION tenantkit._define_verified_principal() RETURNS void
    LANGUAGE plpgsql
    SET search_path = ''
AS $fn$
DECLARE
    -- No settings row (or a NULL flag) means signed: fail closed.
    v_signed boolean := coalesce((SELECT s.signed_binding FROM tenantkit.settings AS s), true);
BEGIN
    -- One connection per node for the view's DDL (see the top of this file).
    PERFORM pg_catalog.set_config('citus.multi_shard_modify_mode', 'sequential', true);
    EXECUTE $view$
CREATE OR REPLACE VIEW tenantkit._verified_principal AS
    SELECT c.user_id, c.api_key_id, c.org_id
    FROM (SELECT nullif(pg_catalog.current_setting('tenantkit.user_id', true), '')::uuid
                     AS user_id,
                 CASE WHEN nullif(pg_catalog.current_setting('tenantkit.user_id', true), '')
                           IS NULL
                      THEN nullif(pg_catalog.current_setting('tenantkit.api_key_id', true),
                                  '')::uuid
                 END AS api_key_id,
                 nullif(pg_catalog.current_setting('tenantkit.org_id', true), '')::uuid
                     AS org_id,
                 pg_catalog.string_to_array(
                     pg_catalog.current_setting('tenantkit.signature', true), ':') AS sig
          OFFSET 0) AS c
    WHERE tenantkit._binding_stamped()
      AND (c.user_id IS NOT NULL OR c.api_key_id IS NOT NULL)$view$
    || CASE WHEN v_signed THEN $check$
      AND EXISTS (
          SELECT 1
          FROM tenantkit._citus_binding_keys AS k
          WHERE k.key_id = c.sig[1]
            AND k.retired_at IS NULL
            AND pg_catalog.cardinality(c.sig) = 4
            AND c.sig[2]::pg_catalog.int8 >= EXTRACT(epoch FROM pg_catalog.now())
            AND c.sig[3]::pg_catalog.int8 IN (0, tenantkit.binding_backend())
            AND pg_catalog.encode(pg_catalog.sha256(k.outer_pad || pg_catalog.sha256(
                    k.inner_pad || pg_catalog.convert_to(
                        CASE WHEN c.user_id IS NOT NULL
                             THEN 'tenantkit-binding-v1|' || c.user_id::pg_catalog.text
                             ELSE 'tenantkit-apikey-v1|' || c.api_key_id::pg_catalog.text
                        END
                        || '|' || c.org_id::pg_catalog.text || '|' || c.sig[1] || '|'
                        || c.sig[2] || '|' || c.sig[3], 'UTF8'))), 'hex') = c.sig[4])$check$
    ELSE '' END;
END
$fn$;
REVOKE ALL ON FUNCTION tenantkit._define_verified_principal() FROM PUBLIC;
SELECT tenantkit._define_verified_principal();

-- 0012's filters, again: made now, they are Citus objects too.
CREATE OR REPLACE VIEW tenantkit._verified_binding AS
    SELECT p.user_id, p.org_id
    FROM tenantkit._verified_principal AS p
    WHERE p.user_id IS NOT NULL;

CREATE OR REPLACE VIEW tenantkit._bound_membership AS
    SELECT m.org_id, m.user_id, m.role, m.additional_roles
    FROM tenantkit._verified_binding AS b
    JOIN tenantkit._citus_memberships AS m ON m.org_id = b.org_id AND m.user_id = b.user_id
    JOIN tenantkit._citus_users AS u ON u.user_id = m.user_id
    WHERE m.status = 'active'
      AND u.enabled
      AND NOT u.locked;

CREATE OR REPLACE VIEW tenantkit._bound_member AS
    SELECT b.org_id, b.role, b.additional_roles, rm.mapping_id, rm.multi_role
    FROM tenantkit._bound_membership AS b
    JOIN tenantkit._citus_orgs AS o ON o.org_id = b.org_id
    JOIN tenantkit._citus_role_mappings AS rm
      ON rm.name = o.custom_role_mapping_name
      OR (o.custom_role_mapping_name IS NULL AND rm.is_default);

CREATE OR REPLACE VIEW tenantkit._verified_key_binding AS
    SELECT p.api_key_id, p.org_id
    FROM tenantkit._verified_principal AS p
    WHERE p.api_key_id IS NOT NULL;

CREATE OR REPLACE VIEW tenantkit._bound_key AS
    SELECT k.org_id, k.api_key_id, k.permissions
    FROM tenantkit._verified_key_binding AS b
    JOIN tenantkit._citus_api_keys AS k ON k.api_key_id = b.api_key_id
    WHERE k.org_id = b.org_id
      AND k.kind = 'org'
      AND k.archived_at IS NULL
      AND (k.expires_at IS NULL OR k.expires_at > pg_catalog.now());

CREATE OR REPLACE VIEW tenantkit._bound_permissions AS
    SELECT DISTINCT p.permission
    FROM (SELECT up.permission
          FROM tenantkit._bound_member AS b
          JOIN tenantkit._citus_roles AS r
            ON r.mapping_id = b.mapping_id
           AND (r.name = b.role OR (b.multi_role AND r.name = ANY (b.additional_roles)))
          CROSS JOIN LATERAL pg_catalog.unnest(r.permissions) AS up (permission)
          UNION ALL
          SELECT kp.permission
          FROM tenantkit._bound_key AS k
          CROSS JOIN LATERAL pg_catalog.unnest(k.permissions) AS kp (permission)) AS p;

-- 0012's live membership or live key of the bound org, over the mirrors.
CREATE OR REPLACE VIEW tenantkit.current_membership WITH (security_barrier) AS
    SELECT p.org_id, m.user_id, m.role, m.additional_roles
    FROM tenantkit._verified_principal AS p
    LEFT JOIN (tenantkit._citus_memberships AS m
               JOIN tenantkit._citus_users AS u
                 ON u.user_id = m.user_id AND u.enabled AND NOT u.locked)
      ON m.org_id = p.org_id AND m.user_id = p.user_id AND m.status = 'active'
    LEFT JOIN tenantkit._citus_api_keys AS k
      ON k.api_key_id = p.api_key_id
     AND k.kind = 'org'
     AND k.archived_at IS NULL
     AND (k.expires_at IS NULL OR k.expires_at > pg_catalog.now())
    WHERE m.user_id IS NOT NULL
       OR (k.api_key_id IS NOT NULL AND k.org_id = p.org_id);

-- 0001's two functions that read tables themselves, over the mirrors.
CREATE OR REPLACE FUNCTION tenantkit.has_min_role(p_role text) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
BEGIN
    RETURN COALESCE((
        SELECT CASE
                   WHEN b.multi_role THEN p_role = b.role OR p_role = ANY (b.additional_roles)
                   ELSE cur.rank <= req.rank
               END
        FROM tenantkit._bound_member AS b
        JOIN tenantkit._citus_roles AS cur ON cur.mapping_id = b.mapping_id AND cur.name = b.role
        LEFT JOIN tenantkit._citus_roles AS req
          ON req.mapping_id = b.mapping_id AND req.name = p_role
    ), false);
END
$$;

CREATE OR REPLACE FUNCTION tenantkit.is_member(p_user_id uuid) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
BEGIN
    RETURN EXISTS (
        SELECT 1
        FROM tenantkit._bound_membership AS b
        JOIN tenantkit._citus_memberships AS m ON m.org_id = b.org_id
        WHERE m.user_id = p_user_id
          AND m.status = 'active');
END
$$;

-- 0006's and 0010's stamp-only functions (the any_member() and api_key() rules).
CREATE OR REPLACE FUNCTION tenantkit.bound_user_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN CASE
        WHEN tenantkit._binding_stamped()
        THEN nullif(pg_catalog.current_setting('tenantkit.user_id', true), '')::pg_catalog.uuid
    END;

CREATE OR REPLACE FUNCTION tenantkit.bound_api_key_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN CASE
        WHEN tenantkit._binding_stamped()
         AND nullif(pg_catalog.current_setting('tenantkit.user_id', true), '') IS NULL
        THEN nullif(pg_catalog.current_setting('tenantkit.api_key_id', true), '')::pg_catalog.uuid
    END;

-- The policy functions read reference tables from inside a shard query on a
-- worker, which Citus refuses by default ("cannot execute a distributed query
-- from a query on a shard"): a reference table has a copy on every node, so the
-- read is local and sees what the coordinator committed.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'tenantkit.current_user_id()', 'tenantkit.current_org_id()',
        'tenantkit."current_role"()', 'tenantkit.has_min_role(text)',
        'tenantkit.has_role(text)', 'tenantkit.has_permission(text)',
        'tenantkit.has_all_permissions(text[])', 'tenantkit.is_member(uuid)',
        'tenantkit.current_api_key_id()']::regprocedure[] LOOP
        EXECUTE pg_catalog.format(
            'ALTER FUNCTION %s SET citus.allow_nested_distributed_execution = on', f);
    END LOOP;
END
$$;
