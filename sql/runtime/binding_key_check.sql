-- First use of a connection whose engine signs: one statement per app key,
-- after backend.sql. $1 the key id, $2 the app's HMAC of
-- 'tenantkit-binding-check|<key id>'. The app role may run it; another role
-- (which binds nothing anyway) gets 42501 and is not checked.
SELECT c.status FROM tenantkit.binding_key_check($1, $2) AS c
