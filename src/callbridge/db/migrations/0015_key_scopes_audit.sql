-- 0015: least privilege. A key's scopes (space-separated; NULL: every account scope, which is what
-- keys made before scopes existed keep), when it expires, and when it was last used (written at
-- most once a minute per key). expiry_noted: the key's expiry is in the audit trail.
ALTER TABLE api_keys ADD COLUMN scopes TEXT;
ALTER TABLE api_keys ADD COLUMN expires_at TEXT;
ALTER TABLE api_keys ADD COLUMN last_used_at TEXT;
ALTER TABLE api_keys ADD COLUMN expiry_noted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE admin_keys ADD COLUMN expires_at TEXT;
ALTER TABLE admin_keys ADD COLUMN last_used_at TEXT;
ALTER TABLE admin_keys ADD COLUMN expiry_noted INTEGER NOT NULL DEFAULT 0;

-- Who changed what, when: keys, accounts, extensions, webhook endpoints, imports. The account is
-- named by its public id and name, not a foreign key: its entries outlive its deletion.
CREATE TABLE audit_log (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    at            TEXT NOT NULL,        -- ISO 8601 UTC, milliseconds
    account_uuid  TEXT,
    account_name  TEXT,
    actor         TEXT NOT NULL,        -- "key:<id>", "admin-key:<id>", "cli:<user>", "system"
    action        TEXT NOT NULL,        -- e.g. key.created, webhook.removed
    target        TEXT,                 -- what it acted on (a key id, an extension, a URL)
    detail        TEXT                  -- JSON object, or NULL
);
CREATE INDEX audit_log_at ON audit_log(at);
CREATE INDEX audit_log_account ON audit_log(account_uuid, id);
