-- Webhook endpoints with their delivery status (tenantkit/events/endpoints.py).
-- :endpoint_id NULL lists them all. Pending events are counted up to 10,001
-- ("more than 10,000"), so a long outage costs a bounded scan; lag is the age
-- of the oldest pending event (ids follow commit order, so it is the first).
SELECT e.endpoint_id::text AS endpoint_id, e.url, e.description, e.event_types,
       e.org_id::text AS org_id, e.enabled, e.created_at, e.updated_at,
       CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret_expires_at
       END AS previous_secret_expires_at,
       c.last_event_id, c.attempts, c.next_attempt_at, c.last_attempt_at, c.last_success_at,
       c.last_delivered_event_id, c.last_status_code, c.last_error, c.delivered_count,
       (SELECT count(*) FROM (
            SELECT 1 FROM tenantkit.events AS ev
            WHERE ev.event_id > c.last_event_id
              AND (cardinality(e.event_types) = 0 OR ev.event_type = ANY (e.event_types))
              AND (e.org_id IS NULL OR ev.org_id = e.org_id)
            LIMIT 10001) AS p) AS pending_events,
       COALESCE(extract(epoch FROM now() - (
            SELECT ev.committed_at FROM tenantkit.events AS ev
            WHERE ev.event_id > c.last_event_id
              AND (cardinality(e.event_types) = 0 OR ev.event_type = ANY (e.event_types))
              AND (e.org_id IS NULL OR ev.org_id = e.org_id)
            ORDER BY ev.event_id
            LIMIT 1)), 0)::float8 AS lag_seconds,
       (SELECT count(*) FROM tenantkit.webhook_dead_letters AS d
        WHERE d.endpoint_id = e.endpoint_id AND d.replay_requested_at IS NULL) AS dead_letters,
       (SELECT count(*) FROM tenantkit.webhook_dead_letters AS d
        WHERE d.endpoint_id = e.endpoint_id AND d.replay_requested_at IS NOT NULL) AS replays_queued
FROM tenantkit.webhook_endpoints AS e
JOIN tenantkit.webhook_cursors AS c ON c.endpoint_id = e.endpoint_id
WHERE CAST(:endpoint_id AS uuid) IS NULL OR e.endpoint_id = CAST(:endpoint_id AS uuid)
ORDER BY e.created_at, e.endpoint_id
