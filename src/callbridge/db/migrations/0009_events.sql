-- 0009: screen-pop. The durable per-account journal of call events (the live stream resumes
-- from it) and the webhook subscriptions with their outbox (docs/screen-pop.md).

-- Each account's events are numbered 1, 2, 3 … (ids are never reused, also after pruning):
-- last_id is the high-water mark, pruned_through the highest id retention has deleted, so a
-- client resuming from before it is told it missed events instead of silently skipping them.
CREATE TABLE event_counters (
    account_id     INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    last_id        INTEGER NOT NULL DEFAULT 0,
    pruned_through INTEGER NOT NULL DEFAULT 0
);

-- body is the event exactly as streamed ({"id","type","time","data"}): a replay sends the
-- stored text, so a resumed client sees byte-identical events.
CREATE TABLE events (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    id         INTEGER NOT NULL,
    type       TEXT NOT NULL,
    extension  TEXT,
    stored_at  REAL NOT NULL,   -- unix time, for retention
    body       TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
) WITHOUT ROWID;
CREATE INDEX events_stored_at ON events(stored_at);

CREATE TABLE webhooks (
    id              INTEGER PRIMARY KEY,
    uuid            TEXT NOT NULL UNIQUE,
    account_id      INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    url             TEXT NOT NULL,
    types           TEXT NOT NULL,  -- JSON list of patterns: "call.*", "call.ringing"
    -- The signing key must be read back to sign, so it can't be hashed like an API key; it is
    -- shown to the client once, at creation, and never in a listing or a log line.
    secret          TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    last_success_at TEXT,           -- an endpoint is disabled only after a day with none
    disabled_at     TEXT,
    disabled_reason TEXT
);
CREATE INDEX webhooks_account ON webhooks(account_id);

-- The outbox: a row per (event, endpoint), written in the transaction that stored the event,
-- so a delivery can't be lost between the two; msg_id is the webhook-id header of every try.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY,
    webhook_id      INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    msg_id          TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',  -- pending, delivered, failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,                     -- unix time
    created_at      TEXT NOT NULL,
    last_attempt_at TEXT,
    last_status     INTEGER,                           -- the endpoint's HTTP status
    last_error      TEXT,
    last_response   TEXT,                              -- at most 1 KiB of its body
    last_ms         REAL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_of ON webhook_deliveries(webhook_id, id);
