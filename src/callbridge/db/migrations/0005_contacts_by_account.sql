-- 0005: contacts of an account in id order, for streamed and paged whole-account lists (keyset
-- paging: WHERE account_id = ? AND id > ? ORDER BY id, index-only). A secondary index holds the
-- rowid, so (account_id) alone is ordered by (account_id, id).
CREATE INDEX contacts_account ON contacts(account_id);
