-- tenantkit 0001: the functions policies call.
--
-- Every function is STABLE, pins `search_path = ''` and names every relation
-- with its schema, so a caller's temp table (pg_temp is searched first for
-- relations) cannot change an answer. Functions that read tenantkit's tables
-- are SECURITY DEFINER: the app role cannot read memberships directly, and the
-- definer (the owner) is not subject to the tables' RLS (ENABLE without FORCE).
--
-- They are PL/pgSQL, not SQL, on purpose: PL/pgSQL keeps each query's plan for
-- the session, while a non-inlined SQL function is re-planned on every call
-- before PostgreSQL 18 (measured on 15: current_org_id() +110 us per statement
-- as SQL, +23 us as PL/pgSQL; has_min_role() +400 us as SQL).
--
-- Settings are read as nullif(current_setting(name, true), ''): once a custom
-- setting has been used in a session it reads '' rather than NULL, forever.
-- Policies wrap each call in (SELECT ...) so it runs once per statement.

-- The bound user's membership in the bound org, if it is active and the user
-- is enabled and unlocked right now. Views are expanded into the functions'
-- queries, so this one definition costs no extra call.
CREATE VIEW tenantkit._bound_membership AS
    SELECT m.org_id, m.user_id, m.role, m.additional_roles
    FROM tenantkit.memberships AS m
    JOIN tenantkit.users AS u ON u.user_id = m.user_id
    WHERE m.org_id = nullif(pg_catalog.current_setting('tenantkit.org_id', true), '')::uuid
      AND m.user_id = nullif(pg_catalog.current_setting('tenantkit.user_id', true), '')::uuid
      AND m.status = 'active'
      AND u.enabled
      AND NOT u.locked;

-- ... with the org's role mapping (its own, or the default one).
CREATE VIEW tenantkit._bound_member AS
    SELECT b.org_id, b.role, b.additional_roles, rm.mapping_id, rm.multi_role
    FROM tenantkit._bound_membership AS b
    JOIN tenantkit.orgs AS o ON o.org_id = b.org_id
    JOIN tenantkit.role_mappings AS rm
      ON rm.name = o.custom_role_mapping_name
      OR (o.custom_role_mapping_name IS NULL AND rm.is_default);

-- ... and the permissions its roles carry (additional roles count in multi-role mappings).
CREATE VIEW tenantkit._bound_permissions AS
    SELECT DISTINCT p.permission
    FROM tenantkit._bound_member AS b
    JOIN tenantkit.roles AS r
      ON r.mapping_id = b.mapping_id
     AND (r.name = b.role OR (b.multi_role AND r.name = ANY (b.additional_roles)))
    CROSS JOIN LATERAL pg_catalog.unnest(r.permissions) AS p (permission);

-- The bound user: only what the transaction carries, unverified.
CREATE FUNCTION tenantkit.current_user_id() RETURNS uuid
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = ''
AS $$
BEGIN
    RETURN nullif(pg_catalog.current_setting('tenantkit.user_id', true), '')::uuid;
END
$$;

-- The bound org, but only if the bound user is an active, enabled, unlocked
-- member of it right now. Membership is re-read on every statement: a removal
-- or a disabled user takes effect on the next transaction, whatever the token says.
CREATE FUNCTION tenantkit.current_org_id() RETURNS uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
BEGIN
    RETURN (SELECT b.org_id FROM tenantkit._bound_membership AS b);
END
$$;

CREATE FUNCTION tenantkit.current_role() RETURNS text
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
BEGIN
    RETURN (SELECT b.role FROM tenantkit._bound_membership AS b);
END
$$;

-- PropelAuth's "minimum role": in a single-role hierarchy the bound role ranks
-- at or above p_role; in a multi-role mapping it equals the exact-role check.
-- An unknown role is never satisfied.
CREATE FUNCTION tenantkit.has_min_role(p_role text) RETURNS boolean
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
        JOIN tenantkit.roles AS cur ON cur.mapping_id = b.mapping_id AND cur.name = b.role
        LEFT JOIN tenantkit.roles AS req ON req.mapping_id = b.mapping_id AND req.name = p_role
    ), false);
END
$$;

-- PropelAuth's "exact role": the assigned role, or an additional role in a multi-role mapping.
CREATE FUNCTION tenantkit.has_role(p_role text) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
BEGIN
    RETURN COALESCE((
        SELECT p_role = b.role OR (b.multi_role AND p_role = ANY (b.additional_roles))
        FROM tenantkit._bound_member AS b
    ), false);
END
$$;

CREATE FUNCTION tenantkit.has_permission(p_permission text) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
BEGIN
    RETURN EXISTS (
        SELECT 1 FROM tenantkit._bound_permissions AS bp WHERE bp.permission = p_permission);
END
$$;

-- Unlike PropelAuth's client helper, an empty list is never satisfied: a policy
-- asking for "all of nothing" is a mistake, and failing closed surfaces it.
CREATE FUNCTION tenantkit.has_all_permissions(p_permissions text[]) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
BEGIN
    RETURN COALESCE(pg_catalog.cardinality(p_permissions) > 0, false)
       AND NOT EXISTS (
           SELECT 1
           FROM pg_catalog.unnest(p_permissions) AS want (permission)
           WHERE want.permission IS NULL
              OR NOT EXISTS (SELECT 1 FROM tenantkit._bound_permissions AS bp
                             WHERE bp.permission = want.permission));
END
$$;

-- Is p_user_id an active member of the bound (verified) org?
CREATE FUNCTION tenantkit.is_member(p_user_id uuid) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
BEGIN
    RETURN EXISTS (
        SELECT 1
        FROM tenantkit._bound_membership AS b
        JOIN tenantkit.memberships AS m ON m.org_id = b.org_id
        WHERE m.user_id = p_user_id
          AND m.status = 'active');
END
$$;

-- No one grants a role above their own: every role given must satisfy has_min_role.
CREATE FUNCTION tenantkit.can_assign_roles(p_role text, p_additional_roles text[]) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
BEGIN
    RETURN tenantkit.has_min_role(p_role)
       AND NOT EXISTS (
           SELECT 1
           FROM pg_catalog.unnest(COALESCE(p_additional_roles, '{}')) AS a (role)
           WHERE NOT tenantkit.has_min_role(a.role));
END
$$;

-- Trigger for tenant tables: the tenant column, named by the trigger's first
-- argument, never changes after insert (a row cannot move to another org,
-- whatever the policies say). Tenant tables attach it with
--   CREATE TRIGGER ... BEFORE UPDATE ON t FOR EACH ROW
--   EXECUTE FUNCTION tenantkit.refuse_tenant_change('org_id');
CREATE FUNCTION tenantkit.refuse_tenant_change() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = ''
AS $$
BEGIN
    IF pg_catalog.to_jsonb(NEW) -> TG_ARGV[0] IS DISTINCT FROM pg_catalog.to_jsonb(OLD) -> TG_ARGV[0] THEN
        RAISE EXCEPTION 'the tenant column %.% cannot be changed', TG_TABLE_NAME, TG_ARGV[0]
            USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END
$$;
