-- What one process kept in memory and several instances must share.

-- The rate limit's fixed windows, shared by every instance (web.ratelimit.SharedWindowLimiter).
-- UNLOGGED: no WAL per request; a database crash forgets the current windows.
CREATE UNLOGGED TABLE rate_windows (
    client       TEXT   NOT NULL,  -- "key:<key id>" or "ip:<address>"
    window_index BIGINT NOT NULL,  -- unix time // window length
    hits         BIGINT NOT NULL,
    PRIMARY KEY (client, window_index)
);

-- One-time tickets for browsers' event streams (events.tickets.SharedTicketBook): issued by one
-- instance, redeemed at whichever the load balancer picks. Only the ticket's hash is stored.
CREATE TABLE event_tickets (
    ticket_hash TEXT   PRIMARY KEY,
    account_id  BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    key_id      TEXT   NOT NULL,
    expires_at  DOUBLE PRECISION NOT NULL  -- unix time
);
CREATE INDEX event_tickets_expiry ON event_tickets(expires_at);
