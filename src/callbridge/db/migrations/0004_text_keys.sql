-- 0004: Unicode matching keys. NOCASE folds ASCII only, so "Émile" was not found by "émile".
-- Each matched text gets a key column holding callbridge.text.fold() of it (NFKC + case folding),
-- written by the store on every write; searches compare keys with keys. cb_fold is that same
-- Python function, registered on the migrating connection only.

ALTER TABLE contacts ADD COLUMN firstname_key TEXT;
ALTER TABLE contacts ADD COLUMN lastname_key TEXT;
ALTER TABLE contacts ADD COLUMN organization_key TEXT;
ALTER TABLE contacts ADD COLUMN email_key TEXT;
UPDATE contacts SET firstname_key = cb_fold(firstname), lastname_key = cb_fold(lastname),
                    organization_key = cb_fold(organization), email_key = cb_fold(email);

DROP INDEX contacts_firstname;
DROP INDEX contacts_lastname;
DROP INDEX contacts_email;
CREATE INDEX contacts_firstname_key ON contacts(account_id, firstname_key);
CREATE INDEX contacts_lastname_key  ON contacts(account_id, lastname_key);
CREATE INDEX contacts_email_key     ON contacts(account_id, email_key);

-- The substring index holds the keys too, so "ÉMILE", "émile" and full-width forms meet.
DROP TRIGGER contacts_fts_insert;
DROP TRIGGER contacts_fts_update;
CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts BEGIN
    INSERT INTO contacts_fts(rowid, mobile, phones, name, organization, email, note)
    VALUES (new.id, new.mobile_phone, new.phone_numbers,
            trim(coalesce(new.firstname_key, '') || ' ' || coalesce(new.lastname_key, '')),
            new.organization_key, new.email_key, new.note);
END;
CREATE TRIGGER contacts_fts_update AFTER UPDATE OF
    mobile_phone, phone_numbers, firstname_key, lastname_key, organization_key, email_key, note
    ON contacts BEGIN
    DELETE FROM contacts_fts WHERE rowid = old.id;
    INSERT INTO contacts_fts(rowid, mobile, phones, name, organization, email, note)
    VALUES (new.id, new.mobile_phone, new.phone_numbers,
            trim(coalesce(new.firstname_key, '') || ' ' || coalesce(new.lastname_key, '')),
            new.organization_key, new.email_key, new.note);
END;
DELETE FROM contacts_fts;
INSERT INTO contacts_fts(rowid, mobile, phones, name, organization, email, note)
SELECT id, mobile_phone, phone_numbers,
       trim(coalesce(firstname_key, '') || ' ' || coalesce(lastname_key, '')),
       organization_key, email_key, note
FROM contacts;
