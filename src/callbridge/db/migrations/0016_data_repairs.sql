-- 0016: one-time repairs of stored data that a schema step can't express (they need callbridge's
-- own rules, in Python), each recorded here once done so it runs once. The first:
-- contacts.repair.SHOWN_NUMBERS (foreign numbers stored with the shown form of before 4f5e799).
CREATE TABLE data_repairs (
    name     TEXT PRIMARY KEY,
    done_at  TEXT NOT NULL,
    changed  INTEGER NOT NULL DEFAULT 0
);
