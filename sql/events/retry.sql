-- The head event failed and has attempts left: wait, then try it again.
UPDATE tenantkit.webhook_cursors
   SET head_event_id = %(event_id)s, attempts = %(attempts)s,
       next_attempt_at = now() + make_interval(secs => %(delay)s),
       last_attempt_at = now(), last_status_code = %(status_code)s, last_error = %(error)s
 WHERE endpoint_id = %(endpoint_id)s::uuid
