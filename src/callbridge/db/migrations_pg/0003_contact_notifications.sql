-- Every committed change to an account's contacts or their numbers is announced on the
-- callbridge_contacts channel (payload: the account id), so each instance drops what its
-- lookup cache holds for that account (callbridge.contacts.cache). PostgreSQL sends one
-- notification per account and transaction however many rows changed, at the commit.
CREATE FUNCTION notify_contacts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('callbridge_contacts', OLD.account_id::text);
    ELSE
        PERFORM pg_notify('callbridge_contacts', NEW.account_id::text);
        IF TG_OP = 'UPDATE' AND OLD.account_id <> NEW.account_id THEN
            PERFORM pg_notify('callbridge_contacts', OLD.account_id::text);
        END IF;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER contacts_changed AFTER INSERT OR UPDATE OR DELETE ON contacts
    FOR EACH ROW EXECUTE FUNCTION notify_contacts_changed();
CREATE TRIGGER contact_phones_changed AFTER INSERT OR UPDATE OR DELETE ON contact_phones
    FOR EACH ROW EXECUTE FUNCTION notify_contacts_changed();
