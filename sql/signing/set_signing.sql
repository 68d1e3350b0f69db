-- Turns signed binding on or off ($1). On requires a live key: otherwise no
-- binding could verify and every tenant would see nothing.
UPDATE tenantkit.settings SET signed_binding = $1::boolean
WHERE NOT $1::boolean
   OR EXISTS (SELECT 1 FROM tenantkit.binding_keys WHERE retired_at IS NULL)
