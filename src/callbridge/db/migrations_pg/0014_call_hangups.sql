-- 0014: who left each call first while others were still on it (the first AMI Hangup of a call
-- with more than one channel up): for an answered call, the party that hung up. For the call's
-- story; CDRs do not say it. Live events only, like call_holds.
CREATE TABLE call_hangups (
    node         TEXT NOT NULL,
    linkedid     TEXT NOT NULL,
    uniqueid     TEXT NOT NULL,
    channel      TEXT NOT NULL,
    at           TEXT NOT NULL,   -- UTC 'YYYY-MM-DD HH:MM:SS'
    cause        TEXT,            -- Asterisk's Cause-txt ('Normal Clearing', 'User busy' …)
    PRIMARY KEY (node, linkedid)
);
