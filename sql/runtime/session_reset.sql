-- Clears what an earlier user of a pooled connection left behind; run only
-- when checkout_probe.sql found something. One statement per line (sent in one
-- round trip, each in the pipeline). Like DISCARD ALL, minus what it cannot
-- do inside the pipeline; DEALLOCATE ALL also drops the driver's prepared
-- statements, so the client forgets them too. RESET ALL skips the role,
-- hence RESET ROLE.
CLOSE ALL
UNLISTEN *
SELECT pg_catalog.pg_advisory_unlock_all()
DISCARD TEMP
DISCARD SEQUENCES
DEALLOCATE ALL
RESET ALL
RESET ROLE
