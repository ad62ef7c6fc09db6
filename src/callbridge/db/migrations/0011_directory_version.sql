-- 0011: a counter bumped by every change to extensions or to an account's name or region. Each
-- callbridge process keeps the (small) extension directory in memory for the AMI handlers' and
-- the call log's synchronous lookups, and reloads it when this number moves: a change made by
-- the CLI or by another instance is seen within a second.
CREATE TABLE directory_version (version INTEGER NOT NULL);
INSERT INTO directory_version VALUES (0);
CREATE TRIGGER directory_extension_added AFTER INSERT ON extensions BEGIN
    UPDATE directory_version SET version = version + 1;
END;
CREATE TRIGGER directory_extension_changed AFTER UPDATE ON extensions BEGIN
    UPDATE directory_version SET version = version + 1;
END;
CREATE TRIGGER directory_extension_removed AFTER DELETE ON extensions BEGIN
    UPDATE directory_version SET version = version + 1;
END;
CREATE TRIGGER directory_account_changed AFTER UPDATE OF name, region ON accounts BEGIN
    UPDATE directory_version SET version = version + 1;
END;
CREATE TRIGGER directory_account_removed AFTER DELETE ON accounts BEGIN
    UPDATE directory_version SET version = version + 1;
END;
