-- 0018: a bulk import fills the two trigram indexes once per batch (one INSERT … SELECT each,
-- ContactStore.search_index_deferred) instead of a trigger per contact: the triggers' INSERT into
-- contacts_fts was a third of an import's time (docs/benchmarks.md). While a batch's transaction
-- holds a row in fts_deferred, the insert triggers stand aside; the row is removed before that
-- transaction commits, so no other write ever sees it. Updates and deletes keep their triggers.
CREATE TABLE fts_deferred (from_id INTEGER NOT NULL);

DROP TRIGGER contacts_fts_insert;
CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts
    WHEN NOT EXISTS (SELECT 1 FROM fts_deferred) BEGIN
    INSERT INTO contacts_fts(rowid, mobile, phones, name, organization, email, note)
    VALUES (new.id, new.mobile_phone, new.phone_numbers,
            trim(coalesce(new.firstname_key, '') || ' ' || coalesce(new.lastname_key, '')),
            new.organization_key, new.email_key, new.note);
END;

DROP TRIGGER contacts_mobile_fts_insert;
CREATE TRIGGER contacts_mobile_fts_insert AFTER INSERT ON contacts
    WHEN new.mobile_phone IS NOT NULL AND NOT EXISTS (SELECT 1 FROM fts_deferred) BEGIN
    INSERT INTO contacts_mobile_fts(rowid, mobile) VALUES (new.id, new.mobile_phone);
END;
