-- 0010: admin keys (callbridge keys create --admin). They manage accounts, keys and extensions
-- over /admin/…, and belong to no account, so they read no account's data.
CREATE TABLE admin_keys (
    id          TEXT PRIMARY KEY,   -- public key id, the key's visible prefix (cb_<id>_…)
    key_hash    TEXT NOT NULL,      -- sha256 of the whole key; the key is never stored
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
