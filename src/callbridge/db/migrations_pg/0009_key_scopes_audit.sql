-- PostgreSQL 0009: SQLite's 0015 (key scopes, expiry, last use; the audit trail).
ALTER TABLE api_keys ADD COLUMN scopes TEXT;
ALTER TABLE api_keys ADD COLUMN expires_at TEXT;
ALTER TABLE api_keys ADD COLUMN last_used_at TEXT;
ALTER TABLE api_keys ADD COLUMN expiry_noted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE admin_keys ADD COLUMN expires_at TEXT;
ALTER TABLE admin_keys ADD COLUMN last_used_at TEXT;
ALTER TABLE admin_keys ADD COLUMN expiry_noted INTEGER NOT NULL DEFAULT 0;

CREATE TABLE audit_log (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            TEXT NOT NULL,
    account_uuid  TEXT,
    account_name  TEXT,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    target        TEXT,
    detail        TEXT
);
CREATE INDEX audit_log_at ON audit_log(at);
CREATE INDEX audit_log_account ON audit_log(account_uuid, id);
