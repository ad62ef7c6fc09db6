-- What the CDR's application was given (Dial's dial string): the number an extension dialled out,
-- which Asterisk keeps there when a transfer rewrites the CDR's dst (docs/call-log.md, "Numbers").
ALTER TABLE cdrs ADD COLUMN lastdata TEXT;
