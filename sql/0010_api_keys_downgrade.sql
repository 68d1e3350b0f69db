-- tenantkit 0010 downgrade: no key principal (0005's current_membership, 0001's
-- _bound_permissions). Refused while a tenant policy uses api_key() (it calls
-- bound_api_key_id()): drop or regenerate those policies first.
DROP FUNCTION tenantkit.bound_api_key_id();
DROP FUNCTION tenantkit.current_api_key_id();

CREATE OR REPLACE VIEW tenantkit.current_membership WITH (security_barrier) AS
    SELECT b.org_id, b.user_id, b.role, b.additional_roles
    FROM tenantkit._bound_membership AS b;

CREATE OR REPLACE VIEW tenantkit._bound_permissions AS
    SELECT DISTINCT p.permission
    FROM tenantkit._bound_member AS b
    JOIN tenantkit.roles AS r
      ON r.mapping_id = b.mapping_id
     AND (r.name = b.role OR (b.multi_role AND r.name = ANY (b.additional_roles)))
    CROSS JOIN LATERAL pg_catalog.unnest(r.permissions) AS p (permission);

DROP VIEW tenantkit._bound_key;
DROP VIEW tenantkit._verified_key_binding;
