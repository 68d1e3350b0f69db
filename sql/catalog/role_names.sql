-- The role and permission names of every role mapping: what a rule may name.
-- Read as the owner (tenantkit's tables ENABLE, not FORCE, row-level security).
SELECT ARRAY(SELECT DISTINCT r.name FROM tenantkit.roles AS r ORDER BY 1) AS roles,
       ARRAY(
           SELECT DISTINCT p.permission
           FROM tenantkit.roles AS r
           CROSS JOIN LATERAL pg_catalog.unnest(r.permissions) AS p (permission)
           ORDER BY 1
       ) AS permissions
