-- 0003: the call log. Raw CDRs are kept as received (from AMI or Master.csv) and the call-log rows
-- are derived from them, so a replayed or backfilled CDR is recognised and never counted twice.

CREATE TABLE cdrs (
    id           INTEGER PRIMARY KEY,
    uniqueid     TEXT    NOT NULL,
    sequence     INTEGER NOT NULL,   -- restarts at 0 with Asterisk: start disambiguates
    start        TEXT    NOT NULL,   -- UTC 'YYYY-MM-DD HH:MM:SS'
    linkedid     TEXT    NOT NULL,
    src          TEXT,
    dst          TEXT,
    dcontext     TEXT,
    clid         TEXT,
    channel      TEXT,
    dstchannel   TEXT,
    lastapp      TEXT,
    answer       TEXT,
    end          TEXT,
    duration     INTEGER,
    billsec      INTEGER,
    disposition  TEXT,
    userfield    TEXT,
    source       TEXT    NOT NULL,   -- 'ami' or 'csv'
    built        INTEGER NOT NULL DEFAULT 0,  -- 1 once its call's rows were derived
    UNIQUE (uniqueid, sequence, start)
);
CREATE INDEX cdrs_linkedid ON cdrs(linkedid);
CREATE INDEX cdrs_unbuilt ON cdrs(linkedid) WHERE built = 0;

-- When the far end of a click-to-dial answered and hung up (from DialEnd/Hangup events): a CDR's
-- answer time on that leg is when the *device* answered, which is not talk time.
CREATE TABLE far_end_times (
    linkedid     TEXT PRIMARY KEY,
    answered_at  TEXT,
    ended_at     TEXT
);

-- Every click-to-dial callbridge started: who asked, from which extension, to which number.
CREATE TABLE dialed_calls (
    call_id      TEXT PRIMARY KEY,
    account_id   INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    extension    TEXT    NOT NULL,
    number       TEXT    NOT NULL,
    created_at   TEXT    NOT NULL
);

CREATE TABLE call_log (
    rid               INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id        INTEGER REFERENCES accounts(id) ON DELETE SET NULL,  -- NULL: no owner, not served
    linkedid          TEXT    NOT NULL,
    extension         TEXT    NOT NULL,
    call_timestamp    TEXT    NOT NULL,
    answer_timestamp  TEXT,
    end_timestamp     TEXT,
    duration          INTEGER NOT NULL,
    billsec           INTEGER NOT NULL,
    direction         TEXT    NOT NULL,
    disposition       TEXT    NOT NULL,
    cidname_outside   TEXT,
    cidnumber_outside TEXT,
    number_outside    TEXT,             -- digits, for the `number` filter
    cidext_inside     TEXT    NOT NULL,
    cidnumber_inside  TEXT,
    contact_uuid      TEXT,
    uniqueid          TEXT,
    call_id           TEXT,
    UNIQUE (linkedid, extension)
);
CREATE INDEX call_log_account_time ON call_log(account_id, call_timestamp, rid);

-- How far Master.csv has been read, so a restart reads only what is new.
CREATE TABLE cdr_csv_state (
    path    TEXT PRIMARY KEY,
    inode   INTEGER NOT NULL,
    offset  INTEGER NOT NULL
);
