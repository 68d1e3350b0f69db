-- Adds (or re-activates) a binding key: $1 key id, $2 and $3 HMAC's inner and
-- outer padded keys. Run as the owner. A second live key is how rotation works.
INSERT INTO tenantkit.binding_keys (key_id, inner_pad, outer_pad)
VALUES ($1, $2, $3)
ON CONFLICT (key_id) DO UPDATE
    SET inner_pad = EXCLUDED.inner_pad, outer_pad = EXCLUDED.outer_pad, retired_at = NULL
