-- A change to the extension directory (extensions, or an account's name or region) is also
-- announced on callbridge_directory at its commit, so every instance reloads its in-memory
-- directory at once (callbridge.accounts.store.ExtensionDirectory) instead of at its next
-- once-a-second poll, which stays as the fallback.
CREATE OR REPLACE FUNCTION bump_directory_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE directory_version SET version = version + 1;
    PERFORM pg_notify('callbridge_directory', '');
    RETURN NULL;
END $$;
