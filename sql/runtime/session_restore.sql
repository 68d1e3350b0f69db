-- Puts back the baseline recorded by session_baseline.sql; $1 names, $2 values.
-- set_config parses each value as the server would (lists like search_path too).
SELECT pg_catalog.set_config(s.name, s.setting, false)
FROM ROWS FROM (pg_catalog.unnest($1::text[]), pg_catalog.unnest($2::text[])) AS s (name, setting)
