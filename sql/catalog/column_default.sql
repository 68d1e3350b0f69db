-- The deparsed default of one column (NULL: no default, or no such column).
SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS default_expr
FROM pg_catalog.pg_attribute AS a
JOIN pg_catalog.pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = :table_oid
  AND a.attname = :column_name
  AND NOT a.attisdropped
