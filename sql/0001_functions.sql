-- tenantkit 0001: the functions policies call.
--
-- Every function is STABLE, pins `search_path = ''` and names every table with
-- its schema, so a caller's temp table (pg_temp is searched first for
-- relations) cannot change an answer. Functions that read tenantkit's tables
-- are SECURITY DEFINER: the app role cannot read memberships directly, and the
-- definer (the owner) is not subject to the tables' RLS (ENABLE without FORCE).
--
-- Settings are read as nullif(current_setting(name, true), ''): once a custom
-- setting has been used in a session it reads '' rather than NULL, forever.
-- Policies wrap each call in (SELECT ...) so it runs once per statement.

-- The bound user: only what the transaction carries, unverified.
CREATE FUNCTION tenantkit.current_user_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = ''
AS $$
    SELECT nullif(pg_catalog.current_setting('tenantkit.user_id', true), '')::uuid
$$;

-- The bound org, but only if the bound user is an active, enabled, unlocked
-- member of it right now. Membership is re-read on every statement: a removal
-- or a disabled user takes effect on the next transaction, whatever the token says.
CREATE FUNCTION tenantkit.current_org_id() RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
    SELECT m.org_id
    FROM tenantkit.memberships AS m
    JOIN tenantkit.users AS u ON u.user_id = m.user_id
    WHERE m.org_id = nullif(pg_catalog.current_setting('tenantkit.org_id', true), '')::uuid
      AND m.user_id = nullif(pg_catalog.current_setting('tenantkit.user_id', true), '')::uuid
      AND m.status = 'active'
      AND u.enabled
      AND NOT u.locked
$$;

-- The bound membership with its org's role mapping; no row unless current_org_id() would be set.
CREATE FUNCTION tenantkit._bound_member()
    RETURNS TABLE (role text, additional_roles text[], mapping_id uuid, multi_role boolean)
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
    SELECT m.role, m.additional_roles, rm.mapping_id, rm.multi_role
    FROM tenantkit.memberships AS m
    JOIN tenantkit.users AS u ON u.user_id = m.user_id
    JOIN tenantkit.orgs AS o ON o.org_id = m.org_id
    JOIN tenantkit.role_mappings AS rm
      ON rm.name = o.custom_role_mapping_name
      OR (o.custom_role_mapping_name IS NULL AND rm.is_default)
    WHERE m.org_id = nullif(pg_catalog.current_setting('tenantkit.org_id', true), '')::uuid
      AND m.user_id = nullif(pg_catalog.current_setting('tenantkit.user_id', true), '')::uuid
      AND m.status = 'active'
      AND u.enabled
      AND NOT u.locked
$$;

CREATE FUNCTION tenantkit.current_role() RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
    SELECT b.role FROM tenantkit._bound_member() AS b
$$;

-- PropelAuth's "minimum role": in a single-role hierarchy the bound role ranks
-- at or above p_role; in a multi-role mapping it equals the exact-role check.
-- An unknown role is never satisfied.
CREATE FUNCTION tenantkit.has_min_role(p_role text) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
    SELECT COALESCE((
        SELECT CASE
                   WHEN b.multi_role THEN p_role = b.role OR p_role = ANY (b.additional_roles)
                   ELSE cur.rank <= req.rank
               END
        FROM tenantkit._bound_member() AS b
        JOIN tenantkit.roles AS cur ON cur.mapping_id = b.mapping_id AND cur.name = b.role
        LEFT JOIN tenantkit.roles AS req ON req.mapping_id = b.mapping_id AND req.name = p_role
    ), false)
$$;

-- PropelAuth's "exact role": the assigned role, or an additional role in a multi-role mapping.
CREATE FUNCTION tenantkit.has_role(p_role text) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
    SELECT COALESCE((
        SELECT p_role = b.role OR (b.multi_role AND p_role = ANY (b.additional_roles))
        FROM tenantkit._bound_member() AS b
    ), false)
$$;

-- The permissions of the bound role (plus additional roles in a multi-role mapping).
CREATE FUNCTION tenantkit._bound_permissions() RETURNS text[]
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
    SELECT COALESCE(pg_catalog.array_agg(DISTINCT p.permission), '{}')
    FROM tenantkit._bound_member() AS b
    JOIN tenantkit.roles AS r
      ON r.mapping_id = b.mapping_id
     AND (r.name = b.role OR (b.multi_role AND r.name = ANY (b.additional_roles)))
    CROSS JOIN LATERAL pg_catalog.unnest(r.permissions) AS p (permission)
$$;

CREATE FUNCTION tenantkit.has_permission(p_permission text) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
    SELECT COALESCE(p_permission = ANY (tenantkit._bound_permissions()), false)
$$;

-- Unlike PropelAuth's client helper, an empty list is never satisfied: a policy
-- asking for "all of nothing" is a mistake, and failing closed surfaces it.
CREATE FUNCTION tenantkit.has_all_permissions(p_permissions text[]) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
    SELECT COALESCE(
        pg_catalog.cardinality(p_permissions) > 0
        AND p_permissions <@ tenantkit._bound_permissions(),
        false)
$$;

-- Is p_user_id an active member of the bound (verified) org?
CREATE FUNCTION tenantkit.is_member(p_user_id uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
    SELECT EXISTS (
        SELECT 1
        FROM tenantkit.memberships AS m
        WHERE m.org_id = tenantkit.current_org_id()
          AND m.user_id = p_user_id
          AND m.status = 'active'
    )
$$;

-- No one grants a role above their own: every role given must satisfy has_min_role.
CREATE FUNCTION tenantkit.can_assign_roles(p_role text, p_additional_roles text[]) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = ''
AS $$
    SELECT tenantkit.has_min_role(p_role)
       AND NOT EXISTS (
           SELECT 1
           FROM pg_catalog.unnest(COALESCE(p_additional_roles, '{}')) AS a (role)
           WHERE NOT tenantkit.has_min_role(a.role)
       )
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
