-- 0013: when each party of a call put it on hold and took it back (AMI Hold / Unhold), for the
-- call's story. CDRs do not record hold; these come from live events only.
CREATE TABLE call_holds (
    node         TEXT NOT NULL,
    linkedid     TEXT NOT NULL,
    uniqueid     TEXT NOT NULL,   -- the channel that asked for the hold (its phone's key)
    channel      TEXT NOT NULL,
    start        TEXT NOT NULL,   -- UTC 'YYYY-MM-DD HH:MM:SS'
    "end"        TEXT,            -- NULL: still on hold
    PRIMARY KEY (node, uniqueid, start)
);
CREATE INDEX call_holds_call ON call_holds(node, linkedid);
