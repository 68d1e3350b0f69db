-- tenantkit 0012 downgrade: 0006's user binding, 0010's key binding and its
-- member UNION ALL key current_membership (each verifying its own signature,
-- reading settings.signed_binding per statement); no view defined per mode.
CREATE OR REPLACE VIEW tenantkit._verified_binding AS
    SELECT c.user_id, c.org_id
    FROM (SELECT nullif(pg_catalog.current_setting('tenantkit.user_id', true), '')::uuid
                     AS user_id,
                 nullif(pg_catalog.current_setting('tenantkit.org_id', true), '')::uuid
                     AS org_id,
                 pg_catalog.string_to_array(
                     pg_catalog.current_setting('tenantkit.signature', true), ':') AS sig
          OFFSET 0) AS c
    WHERE pg_catalog.current_setting('tenantkit.bound', true)
          = EXTRACT(epoch FROM pg_catalog.now())::pg_catalog.numeric::pg_catalog.text
      AND (NOT (SELECT s.signed_binding FROM tenantkit.settings AS s) OR EXISTS (
          SELECT 1
          FROM tenantkit.binding_keys AS k
          WHERE k.key_id = c.sig[1]
            AND k.retired_at IS NULL
            AND pg_catalog.cardinality(c.sig) = 4
            AND c.sig[2]::pg_catalog.int8 >= EXTRACT(epoch FROM pg_catalog.now())
            AND c.sig[3]::pg_catalog.int4 IN (0, pg_catalog.pg_backend_pid())
            AND pg_catalog.encode(pg_catalog.sha256(k.outer_pad || pg_catalog.sha256(
                    k.inner_pad || pg_catalog.convert_to(
                        'tenantkit-binding-v1|' || c.user_id::pg_catalog.text || '|'
                        || c.org_id::pg_catalog.text || '|' || c.sig[1] || '|' || c.sig[2]
                        || '|' || c.sig[3], 'UTF8'))), 'hex') = c.sig[4]));

CREATE OR REPLACE VIEW tenantkit._verified_key_binding AS
    SELECT c.api_key_id, c.org_id
    FROM (SELECT nullif(pg_catalog.current_setting('tenantkit.api_key_id', true), '')::uuid
                     AS api_key_id,
                 nullif(pg_catalog.current_setting('tenantkit.org_id', true), '')::uuid
                     AS org_id,
                 nullif(pg_catalog.current_setting('tenantkit.user_id', true), '') AS user_id,
                 pg_catalog.string_to_array(
                     pg_catalog.current_setting('tenantkit.signature', true), ':') AS sig
          OFFSET 0) AS c
    WHERE c.api_key_id IS NOT NULL
      AND c.user_id IS NULL
      AND pg_catalog.current_setting('tenantkit.bound', true)
          = EXTRACT(epoch FROM pg_catalog.now())::pg_catalog.numeric::pg_catalog.text
      AND (NOT (SELECT s.signed_binding FROM tenantkit.settings AS s) OR EXISTS (
          SELECT 1
          FROM tenantkit.binding_keys AS k
          WHERE k.key_id = c.sig[1]
            AND k.retired_at IS NULL
            AND pg_catalog.cardinality(c.sig) = 4
            AND c.sig[2]::pg_catalog.int8 >= EXTRACT(epoch FROM pg_catalog.now())
            AND c.sig[3]::pg_catalog.int4 IN (0, pg_catalog.pg_backend_pid())
            AND pg_catalog.encode(pg_catalog.sha256(k.outer_pad || pg_catalog.sha256(
                    k.inner_pad || pg_catalog.convert_to(
                        'tenantkit-apikey-v1|' || c.api_key_id::pg_catalog.text || '|'
                        || c.org_id::pg_catalog.text || '|' || c.sig[1] || '|' || c.sig[2]
                        || '|' || c.sig[3], 'UTF8'))), 'hex') = c.sig[4]));

CREATE OR REPLACE VIEW tenantkit.current_membership WITH (security_barrier) AS
    SELECT c.org_id, c.user_id, c.role, c.additional_roles
    FROM (SELECT b.org_id, b.user_id, b.role, b.additional_roles
          FROM tenantkit._bound_membership AS b
          UNION ALL
          SELECT k.org_id, NULL::pg_catalog.uuid, NULL::pg_catalog.text,
                 NULL::pg_catalog.text[]
          FROM tenantkit._bound_key AS k) AS c;

DROP VIEW tenantkit._verified_principal;
DROP TRIGGER _redefine_verified_principal ON tenantkit.settings;
DROP FUNCTION tenantkit._redefine_verified_principal();
DROP FUNCTION tenantkit._define_verified_principal();
