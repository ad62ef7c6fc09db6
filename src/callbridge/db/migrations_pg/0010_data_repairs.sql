-- PostgreSQL 0010: SQLite's 0016 (one-time data repairs, recorded once done).
CREATE TABLE data_repairs (
    name     TEXT PRIMARY KEY,
    done_at  TEXT NOT NULL,
    changed  INTEGER NOT NULL DEFAULT 0
);
