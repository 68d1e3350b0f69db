-- Nothing after the cursor passes the endpoint's filters: move past it.
UPDATE tenantkit.webhook_cursors
   SET last_event_id = %(newest)s
 WHERE endpoint_id = %(endpoint_id)s::uuid AND last_event_id < %(newest)s
