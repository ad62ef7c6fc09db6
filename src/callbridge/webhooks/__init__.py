"""Outgoing webhooks: per-account subscriptions, a durable outbox, signed deliveries."""
