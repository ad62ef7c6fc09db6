-- Each webhook endpoint is sent in a lane of its own (callbridge.webhooks.sender): a pass reads the
-- first few due deliveries of each endpoint, never one endpoint's whole backlog.
CREATE INDEX webhook_deliveries_lane ON webhook_deliveries(webhook_id, next_attempt_at, id)
    WHERE status = 'pending';
