-- 0019: who hung up each call: the first party that talked whose own side hung up (AMI
-- HangupRequest) while another was still on it. For the call's story; CDRs do not say it. Live
-- events only, like call_holds.
CREATE TABLE call_hangups (
    node         TEXT NOT NULL,
    linkedid     TEXT NOT NULL,
    uniqueid     TEXT NOT NULL,
    channel      TEXT NOT NULL,
    at           TEXT NOT NULL,   -- UTC 'YYYY-MM-DD HH:MM:SS'
    cause        TEXT,            -- Asterisk's Cause-txt ('Normal Clearing', 'User busy' …)
    PRIMARY KEY (node, linkedid)
);
