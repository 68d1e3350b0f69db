-- First use of a connection whose engine signs: the server backend's pid
-- (unequal to the client's behind a pooler, whose server connection changes
-- between transactions) and the server's clock (signatures expire by it).
-- The third column is what a signature binds: the pid again on plain
-- PostgreSQL, Citus's global pid on Citus (0014's tenantkit.binding_backend()).
SELECT pg_catalog.pg_backend_pid(), EXTRACT(epoch FROM pg_catalog.clock_timestamp()),
       tenantkit.binding_backend()
