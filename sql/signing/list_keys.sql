-- The binding keys (never their pads) and whether signing is on.
SELECT k.key_id, k.created_at, k.retired_at, s.signed_binding
FROM tenantkit.binding_keys AS k CROSS JOIN tenantkit.settings AS s
ORDER BY k.created_at, k.key_id
