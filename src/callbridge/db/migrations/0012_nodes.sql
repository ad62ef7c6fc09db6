-- 0012: several Asterisk nodes (CALLBRIDGE_AMI). Each extension is served by one node; raw CDRs,
-- far-end times and call-log rows carry the node they came from, and a call is unique per node
-- (two Asterisks number their calls independently: the same linkedid can happen on both).
-- Everything stored before belongs to the node of the single-node settings, named 'default'.
ALTER TABLE extensions ADD COLUMN node TEXT;  -- NULL: the first node configured

CREATE TABLE cdrs_new (
    id           INTEGER PRIMARY KEY,
    node         TEXT    NOT NULL DEFAULT 'default',
    uniqueid     TEXT    NOT NULL,
    sequence     INTEGER NOT NULL,
    start        TEXT    NOT NULL,
    linkedid     TEXT    NOT NULL,
    src          TEXT,
    dst          TEXT,
    dcontext     TEXT,
    clid         TEXT,
    channel      TEXT,
    dstchannel   TEXT,
    lastapp      TEXT,
    answer       TEXT,
    "end"        TEXT,
    duration     INTEGER,
    billsec      INTEGER,
    disposition  TEXT,
    userfield    TEXT,
    source       TEXT    NOT NULL,
    built        INTEGER NOT NULL DEFAULT 0,
    UNIQUE (node, uniqueid, sequence, start)
);
INSERT INTO cdrs_new(id, uniqueid, sequence, start, linkedid, src, dst, dcontext, clid, channel,
                     dstchannel, lastapp, answer, "end", duration, billsec, disposition,
                     userfield, source, built)
    SELECT id, uniqueid, sequence, start, linkedid, src, dst, dcontext, clid, channel, dstchannel,
           lastapp, answer, "end", duration, billsec, disposition, userfield, source, built
    FROM cdrs;
DROP TABLE cdrs;
ALTER TABLE cdrs_new RENAME TO cdrs;
CREATE INDEX cdrs_linkedid ON cdrs(node, linkedid);
CREATE INDEX cdrs_unbuilt ON cdrs(node, linkedid) WHERE built = 0;

CREATE TABLE far_end_times_new (
    node         TEXT NOT NULL DEFAULT 'default',
    linkedid     TEXT NOT NULL,
    answered_at  TEXT,
    ended_at     TEXT,
    PRIMARY KEY (node, linkedid)
);
INSERT INTO far_end_times_new(linkedid, answered_at, ended_at)
    SELECT linkedid, answered_at, ended_at FROM far_end_times;
DROP TABLE far_end_times;
ALTER TABLE far_end_times_new RENAME TO far_end_times;

CREATE TABLE call_log_new (
    rid               INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id        INTEGER REFERENCES accounts(id) ON DELETE SET NULL,
    node              TEXT    NOT NULL DEFAULT 'default',
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
    number_outside    TEXT,
    cidext_inside     TEXT    NOT NULL,
    cidnumber_inside  TEXT,
    contact_uuid      TEXT,
    uniqueid          TEXT,
    call_id           TEXT,
    UNIQUE (node, linkedid, extension)
);
INSERT INTO call_log_new(rid, account_id, linkedid, extension, call_timestamp, answer_timestamp,
                         end_timestamp, duration, billsec, direction, disposition,
                         cidname_outside, cidnumber_outside, number_outside, cidext_inside,
                         cidnumber_inside, contact_uuid, uniqueid, call_id)
    SELECT rid, account_id, linkedid, extension, call_timestamp, answer_timestamp, end_timestamp,
           duration, billsec, direction, disposition, cidname_outside, cidnumber_outside,
           number_outside, cidext_inside, cidnumber_inside, contact_uuid, uniqueid, call_id
    FROM call_log;
DROP TABLE call_log;
ALTER TABLE call_log_new RENAME TO call_log;
CREATE INDEX call_log_account_time ON call_log(account_id, call_timestamp, rid);
CREATE INDEX call_log_ownerless ON call_log(extension) WHERE account_id IS NULL;
