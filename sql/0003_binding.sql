-- tenantkit 0003: a binding is only taken for one if it was made in the current
-- transaction.
--
-- The bind statement (sql/runtime/bind.sql) sets tenantkit.bound to the
-- transaction's start time next to the ids. A tenantkit.* value that outlives
-- its transaction can only have been set at session level by other SQL (`SET
-- tenantkit.org_id = ...`, `set_config(..., false)`, a role default): its
-- stamp, if any, is an earlier transaction's, and every function below reads
-- the ids as absent. That closes carry-over through a pooled connection, an
-- autocommit statement, or a transaction pooler's shared server connection,
-- with one comparison per statement. (Spoofing inside one's own transaction is
-- a different threat, answered by signed contexts.)

CREATE OR REPLACE VIEW tenantkit._bound_membership AS
    SELECT m.org_id, m.user_id, m.role, m.additional_roles
    FROM tenantkit.memberships AS m
    JOIN tenantkit.users AS u ON u.user_id = m.user_id
    WHERE m.org_id = nullif(pg_catalog.current_setting('tenantkit.org_id', true), '')::uuid
      AND m.user_id = nullif(pg_catalog.current_setting('tenantkit.user_id', true), '')::uuid
      -- The stamp, exactly as bind.sql computes it.
      AND pg_catalog.current_setting('tenantkit.bound', true)
          = EXTRACT(epoch FROM pg_catalog.now())::pg_catalog.numeric::pg_catalog.text
      AND m.status = 'active'
      AND u.enabled
      AND NOT u.locked;

-- The bound user: what the transaction carries, if this transaction bound it.
CREATE OR REPLACE FUNCTION tenantkit.current_user_id() RETURNS uuid
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = ''
AS $$
BEGIN
    IF pg_catalog.current_setting('tenantkit.bound', true)
       IS DISTINCT FROM
       EXTRACT(epoch FROM pg_catalog.now())::pg_catalog.numeric::pg_catalog.text THEN
        RETURN NULL;
    END IF;
    RETURN nullif(pg_catalog.current_setting('tenantkit.user_id', true), '')::uuid;
END
$$;
