-- Which nodes each live instance prefers to read (CALLBRIDGE_PREFER_NODES, comma-separated):
-- the others leave those nodes to it (callbridge.ami.lease.Spread).
ALTER TABLE ami_instances ADD COLUMN prefers TEXT NOT NULL DEFAULT '';
