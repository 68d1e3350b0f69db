-- The head event failed its last attempt: dead-letter it and move on. A
-- replayed event goes back to being dead (its replay request is cleared).
WITH dead AS (
    INSERT INTO tenantkit.webhook_dead_letters (endpoint_id, event_id, attempts, last_error)
    VALUES (%(endpoint_id)s::uuid, %(event_id)s, %(attempts)s, %(error)s)
    ON CONFLICT (endpoint_id, event_id) DO UPDATE
        SET attempts = tenantkit.webhook_dead_letters.attempts + EXCLUDED.attempts,
            last_error = EXCLUDED.last_error, dead_at = now(), replay_requested_at = NULL
)
UPDATE tenantkit.webhook_cursors
   SET last_event_id = CASE WHEN %(is_replay)s THEN last_event_id ELSE %(event_id)s END,
       head_event_id = NULL, attempts = 0, next_attempt_at = now(),
       last_attempt_at = now(), last_status_code = %(status_code)s, last_error = %(error)s
 WHERE endpoint_id = %(endpoint_id)s::uuid
