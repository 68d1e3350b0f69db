-- The head event was accepted (2xx): the line moves on; a replayed one stops being dead.
WITH replayed AS (
    DELETE FROM tenantkit.webhook_dead_letters
    WHERE %(is_replay)s AND endpoint_id = %(endpoint_id)s::uuid AND event_id = %(event_id)s
)
UPDATE tenantkit.webhook_cursors
   SET last_event_id = CASE WHEN %(is_replay)s THEN last_event_id ELSE %(event_id)s END,
       head_event_id = NULL, attempts = 0, next_attempt_at = now(),
       last_attempt_at = now(), last_success_at = now(),
       last_delivered_event_id = %(event_id)s, last_status_code = %(status_code)s,
       last_error = NULL, delivered_count = delivered_count + 1
 WHERE endpoint_id = %(endpoint_id)s::uuid
