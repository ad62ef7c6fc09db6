-- 0006: rows of extensions no account owned, found fast when an account is given the extension
-- (they are then re-issued to it); and a fingerprint of Master.csv's first line, so a file
-- truncated and rewritten past the saved offset (logrotate copytruncate) is still seen as new.
CREATE INDEX call_log_ownerless ON call_log(extension) WHERE account_id IS NULL;
ALTER TABLE cdr_csv_state ADD COLUMN head TEXT NOT NULL DEFAULT '';
