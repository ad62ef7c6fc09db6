-- Several Asterisk nodes (see SQLite's migration 0012): the node of each extension, raw CDR,
-- far-end time and call-log row; a call is unique per node.
ALTER TABLE extensions ADD COLUMN node TEXT;
ALTER TABLE cdrs ADD COLUMN node TEXT NOT NULL DEFAULT 'default';
ALTER TABLE cdrs DROP CONSTRAINT cdrs_uniqueid_sequence_start_key;
ALTER TABLE cdrs ADD UNIQUE (node, uniqueid, sequence, start);
DROP INDEX cdrs_linkedid;
DROP INDEX cdrs_unbuilt;
CREATE INDEX cdrs_linkedid ON cdrs(node, linkedid);
CREATE INDEX cdrs_unbuilt ON cdrs(node, linkedid) WHERE built = 0;
ALTER TABLE far_end_times ADD COLUMN node TEXT NOT NULL DEFAULT 'default';
ALTER TABLE far_end_times DROP CONSTRAINT far_end_times_pkey;
ALTER TABLE far_end_times ADD PRIMARY KEY (node, linkedid);
ALTER TABLE call_log ADD COLUMN node TEXT NOT NULL DEFAULT 'default';
ALTER TABLE call_log DROP CONSTRAINT call_log_linkedid_extension_key;
ALTER TABLE call_log ADD UNIQUE (node, linkedid, extension);
