-- The worker cannot sign for this endpoint (its secret's key is missing): not an
-- attempt, so nothing is dead-lettered; look again later.
UPDATE tenantkit.webhook_cursors
   SET next_attempt_at = now() + make_interval(secs => %(delay)s), last_error = %(error)s
 WHERE endpoint_id = %(endpoint_id)s::uuid
