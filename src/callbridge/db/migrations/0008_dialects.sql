-- 0008: the AgentVoice and Relatel dialects over the same contacts (docs/contacts.md).
-- Accounts get a UUID: AgentVoice's organization_id (x-organization-id must name it).
ALTER TABLE accounts ADD COLUMN uuid TEXT;
UPDATE accounts SET uuid = cb_uuid4();
CREATE UNIQUE INDEX accounts_uuid ON accounts(uuid);

-- The union of the dialects' fields: AgentVoice's CRM identity (unique per account) and the API
-- key that created the contact (its user_id).
ALTER TABLE contacts ADD COLUMN crm_id TEXT;
ALTER TABLE contacts ADD COLUMN crm_source TEXT;
ALTER TABLE contacts ADD COLUMN created_by TEXT;
CREATE UNIQUE INDEX contacts_crm ON contacts(account_id, crm_source, crm_id) WHERE crm_id IS NOT NULL;

-- Relatel shows a contact's integer id, "stable for the contact's life and never reused"; SQLite
-- hands a deleted highest rowid out again, so new ids come from a high-water mark instead.
CREATE TABLE contact_id_counter (last INTEGER NOT NULL);
INSERT INTO contact_id_counter SELECT coalesce(max(id), 0) FROM contacts;
