-- The head of an endpoint's line: a queued replay first, else the next event
-- after the cursor that passes the endpoint's filters; with the newest event id
-- of the same snapshot, so a line with nothing matching can skip ahead to it
-- (ids follow commit order: nothing at or below it can still appear).
SELECT h.event_id, h.event_type, h.org_id, h.payload, h.occurred_at, h.committed_at,
       h.is_replay, (SELECT max(ev.event_id) FROM tenantkit.events AS ev) AS newest
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (
    SELECT * FROM (
        (SELECT ev.event_id, ev.event_type, ev.org_id::text AS org_id, ev.payload,
                ev.occurred_at, ev.committed_at, true AS is_replay
         FROM tenantkit.webhook_dead_letters AS d
         JOIN tenantkit.events AS ev ON ev.event_id = d.event_id
         WHERE d.endpoint_id = %(endpoint_id)s::uuid AND d.replay_requested_at IS NOT NULL
         ORDER BY d.event_id
         LIMIT 1)
        UNION ALL
        (SELECT ev.event_id, ev.event_type, ev.org_id::text, ev.payload,
                ev.occurred_at, ev.committed_at, false
         FROM tenantkit.events AS ev
         WHERE ev.event_id > %(after)s
           AND (cardinality(%(event_types)s::text[]) = 0
                OR ev.event_type = ANY (%(event_types)s::text[]))
           AND (%(org_id)s::uuid IS NULL OR ev.org_id = %(org_id)s::uuid)
         ORDER BY ev.event_id
         LIMIT 1)
    ) AS candidates
    ORDER BY is_replay DESC
    LIMIT 1
) AS h ON true
