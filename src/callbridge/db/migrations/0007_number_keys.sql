-- 0007: international numbers. Each account gets a home region (new accounts: CALLBRIDGE_REGION),
-- and every stored matching key is re-keyed with callbridge.contacts.phone.phone_key for it:
-- E.164 when the number is possible there ("+15559999999", "+4571999999"), else its digits. Keys
-- were the old rule's digits ("5559999999"), which phone_key reads back to the same number, so
-- nothing is lost. cb_phone_key and cb_default_region are Python functions registered on the
-- migrating connection only (callbridge.db.migrate). The numbers contacts show are unchanged.

ALTER TABLE accounts ADD COLUMN region TEXT NOT NULL DEFAULT 'US';
UPDATE accounts SET region = cb_default_region();

UPDATE contact_phones SET number = cb_phone_key(number,
    (SELECT region FROM accounts a WHERE a.id = contact_phones.account_id));

UPDATE call_log SET number_outside = cb_phone_key(number_outside,
    (SELECT region FROM accounts a WHERE a.id = call_log.account_id))
WHERE number_outside IS NOT NULL AND account_id IS NOT NULL;
