-- Seconds until the earliest endpoint in backoff is due again (NULL: none waits).
SELECT extract(epoch FROM min(c.next_attempt_at) - now())::float8
FROM tenantkit.webhook_cursors AS c
JOIN tenantkit.webhook_endpoints AS e ON e.endpoint_id = c.endpoint_id
WHERE e.enabled AND c.next_attempt_at > now()
  AND (%(allow_http)s OR starts_with(e.url, 'https://'))
