-- Retires binding key $1: its signatures bind nothing from the next statement on.
UPDATE tenantkit.binding_keys SET retired_at = pg_catalog.now()
WHERE key_id = $1 AND retired_at IS NULL
