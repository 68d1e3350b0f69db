-- tenantkit 0001: integrity rules that must hold whoever writes, enforced in
-- the database. Errors use SQLSTATE class 'TK' so callers can map them:
--   TK001 org max_users reached          TK004 user's max orgs reached
--   TK002 email domain not allowed       TK005 role unknown in the org's mapping
--   TK003 isolated org rule              TK009 append-only table

CREATE FUNCTION tenantkit._normalize_org() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = ''
AS $$
BEGIN
    NEW.name := pg_catalog.btrim(NEW.name);
    -- "Acme, Inc." -> "acme-inc"
    NEW.url_safe_org_name := pg_catalog.lower(pg_catalog.btrim(
        pg_catalog.regexp_replace(NEW.name, '[^[:alnum:]]+', '-', 'g'), '-'));
    NEW.domain := nullif(pg_catalog.lower(pg_catalog.btrim(NEW.domain)), '');
    NEW.extra_domains := ARRAY(
        SELECT DISTINCT pg_catalog.lower(pg_catalog.btrim(d))
        FROM pg_catalog.unnest(NEW.extra_domains) AS d
        WHERE pg_catalog.btrim(d) <> ''
        ORDER BY 1);
    IF TG_OP = 'UPDATE' THEN
        NEW.updated_at := pg_catalog.now();
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER orgs_normalize BEFORE INSERT OR UPDATE ON tenantkit.orgs
    FOR EACH ROW EXECUTE FUNCTION tenantkit._normalize_org();

-- Emails are stored lower-cased, so uniqueness per isolation scope is case-blind.
CREATE FUNCTION tenantkit._normalize_user() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = ''
AS $$
BEGIN
    NEW.email := pg_catalog.lower(pg_catalog.btrim(NEW.email));
    NEW.username := nullif(pg_catalog.btrim(NEW.username), '');
    RETURN NEW;
END
$$;
CREATE TRIGGER users_normalize BEFORE INSERT OR UPDATE OF email, username ON tenantkit.users
    FOR EACH ROW EXECUTE FUNCTION tenantkit._normalize_user();

-- Every role given must exist in the org's role mapping.
CREATE FUNCTION tenantkit._check_roles(p_org_id uuid, p_role text, p_additional_roles text[])
    RETURNS void
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_unknown text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM tenantkit.orgs WHERE org_id = p_org_id) THEN
        RETURN;  -- the foreign key reports the missing org (not an unknown role)
    END IF;
    SELECT want.role INTO v_unknown
    FROM pg_catalog.unnest(pg_catalog.array_prepend(p_role, COALESCE(p_additional_roles, '{}')))
         AS want (role)
    WHERE NOT EXISTS (
        SELECT 1
        FROM tenantkit.orgs AS o
        JOIN tenantkit.role_mappings AS rm
          ON rm.name = o.custom_role_mapping_name
          OR (o.custom_role_mapping_name IS NULL AND rm.is_default)
        JOIN tenantkit.roles AS r ON r.mapping_id = rm.mapping_id AND r.name = want.role
        WHERE o.org_id = p_org_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'role % does not exist in this org''s role mapping',
            COALESCE(pg_catalog.quote_literal(v_unknown), 'NULL')
            USING ERRCODE = 'TK005', COLUMN = 'role';
    END IF;
END
$$;

-- Membership rules that must hold under concurrency. The org row is locked
-- (NO KEY UPDATE, so foreign-key checks of app tables are not blocked) before
-- counting, which serialises concurrent adds to one org: with max_users = 10,
-- 50 concurrent adds give exactly 10 members.
CREATE FUNCTION tenantkit._check_membership() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_org       tenantkit.orgs;
    v_user      tenantkit.users;
    v_count     bigint;
    v_max_orgs  integer;
    v_domain    text;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        NEW.updated_at := pg_catalog.now();
    END IF;
    IF TG_OP = 'INSERT' OR NEW.role IS DISTINCT FROM OLD.role
       OR NEW.additional_roles IS DISTINCT FROM OLD.additional_roles THEN
        PERFORM tenantkit._check_roles(NEW.org_id, NEW.role, NEW.additional_roles);
    END IF;

    -- Only a membership becoming active can break a limit.
    IF NEW.status <> 'active' OR (TG_OP = 'UPDATE' AND OLD.status = 'active'
                                  AND OLD.org_id = NEW.org_id AND OLD.user_id = NEW.user_id) THEN
        RETURN NEW;
    END IF;

    SELECT * INTO v_org FROM tenantkit.orgs WHERE org_id = NEW.org_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN NEW;  -- the foreign key reports the missing org
    END IF;
    SELECT * INTO v_user FROM tenantkit.users WHERE user_id = NEW.user_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN NEW;
    END IF;

    IF v_org.max_users IS NOT NULL THEN
        SELECT pg_catalog.count(*) INTO v_count
        FROM tenantkit.memberships
        WHERE org_id = NEW.org_id AND status = 'active' AND user_id <> NEW.user_id;
        IF v_count >= v_org.max_users THEN
            RAISE EXCEPTION 'org has reached its max_users limit of %', v_org.max_users
                USING ERRCODE = 'TK001', COLUMN = 'max_users';
        END IF;
    END IF;

    IF v_org.domain_restrict THEN
        v_domain := pg_catalog.split_part(v_user.email, '@', 2);
        IF v_domain <> v_org.domain AND NOT v_domain = ANY (v_org.extra_domains) THEN
            RAISE EXCEPTION 'org only admits users whose email domain is one of its domains'
                USING ERRCODE = 'TK002', COLUMN = 'email';
        END IF;
    END IF;

    IF v_user.isolated_org_id IS DISTINCT FROM
       (CASE WHEN v_org.isolated THEN v_org.org_id END) THEN
        RAISE EXCEPTION '%', CASE WHEN v_org.isolated
                THEN 'isolated org only admits users created inside it'
                ELSE 'a user of an isolated org cannot join another org' END
            USING ERRCODE = 'TK003', COLUMN = 'user_id';
    END IF;

    SELECT max_orgs_per_user INTO v_max_orgs FROM tenantkit.settings;
    IF v_max_orgs IS NOT NULL THEN
        SELECT pg_catalog.count(*) INTO v_count
        FROM tenantkit.memberships
        WHERE user_id = NEW.user_id AND status = 'active' AND org_id <> NEW.org_id;
        IF v_count >= v_max_orgs THEN
            RAISE EXCEPTION 'user has reached the maximum of % orgs per user', v_max_orgs
                USING ERRCODE = 'TK004', COLUMN = 'user_id';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER memberships_check BEFORE INSERT OR UPDATE ON tenantkit.memberships
    FOR EACH ROW EXECUTE FUNCTION tenantkit._check_membership();

-- Lower-cases the email, checks roles, and retires an expired pending invite
-- for the same (org, email) so it does not block a fresh one.
CREATE FUNCTION tenantkit._prepare_invite() RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    NEW.email := pg_catalog.lower(pg_catalog.btrim(NEW.email));
    PERFORM tenantkit._check_roles(NEW.org_id, NEW.role, NEW.additional_roles);
    UPDATE tenantkit.invites
       SET state = 'expired'
     WHERE org_id = NEW.org_id
       AND email = NEW.email
       AND state = 'pending'
       AND expires_at <= pg_catalog.now();
    RETURN NEW;
END
$$;
CREATE TRIGGER invites_prepare BEFORE INSERT ON tenantkit.invites
    FOR EACH ROW EXECUTE FUNCTION tenantkit._prepare_invite();

CREATE FUNCTION tenantkit._refuse_change() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = ''
AS $$
BEGIN
    RAISE EXCEPTION '%.% is append-only: % is not allowed', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'TK009';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON tenantkit.audit_log
    FOR EACH ROW EXECUTE FUNCTION tenantkit._refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON tenantkit.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION tenantkit._refuse_change();
