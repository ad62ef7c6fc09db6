-- 0002: the PBX extensions each account may dial from (click-to-dial).

CREATE TABLE extensions (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    -- One PBX, one numbering plan: an extension belongs to exactly one account.
    extension   TEXT    NOT NULL UNIQUE,
    mobile      TEXT,               -- digits only; rung through the trunk with the devices
    name        TEXT,
    did         TEXT,               -- digits of the direct number, shown in the call log
    created_at  TEXT    NOT NULL
);
CREATE INDEX extensions_account ON extensions(account_id);
