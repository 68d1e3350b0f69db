-- tenantkit 0003: placeholder (filled in by the hardening work).
SELECT 1;
