-- First use of a connection whose engine does not sign: is signing required
-- here? binding_key_check() answers 'off' when signed binding is off, and
-- 'unknown' for the NULL key id when it is on (an unsigned engine would then
-- see no tenant rows: it is refused instead, with what to run). Another role
-- than the app role gets 42501, a schema before 0006 has no such function:
-- neither binds anything signed, so neither is checked.
SELECT c.status FROM tenantkit.binding_key_check(NULL, NULL) AS c
