-- The delivery worker (tenantkit/events/worker.py), psycopg parameters.
-- One endpoint that is due and has something to deliver, locked for this
-- worker until its transaction ends; SKIP LOCKED lets other workers take the
-- other endpoints, so no endpoint is ever delivered to by two workers at once.
-- %(endpoint_id)s NULL: any endpoint; else only that one (a worker staying on it).
SELECT c.endpoint_id::text AS endpoint_id, c.last_event_id, c.head_event_id, c.attempts,
       e.url, e.event_types, e.org_id::text AS org_id, e.secret,
       CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret END AS previous_secret
FROM tenantkit.webhook_cursors AS c
JOIN tenantkit.webhook_endpoints AS e ON e.endpoint_id = c.endpoint_id
WHERE e.enabled
  AND c.next_attempt_at <= now()
  AND (%(allow_http)s OR starts_with(e.url, 'https://'))
  AND (%(endpoint_id)s::uuid IS NULL OR c.endpoint_id = %(endpoint_id)s::uuid)
  AND (c.last_event_id < (SELECT max(ev.event_id) FROM tenantkit.events AS ev)
       OR EXISTS (SELECT 1 FROM tenantkit.webhook_dead_letters AS d
                  WHERE d.endpoint_id = c.endpoint_id AND d.replay_requested_at IS NOT NULL))
ORDER BY c.next_attempt_at
LIMIT 1
FOR UPDATE OF c SKIP LOCKED
