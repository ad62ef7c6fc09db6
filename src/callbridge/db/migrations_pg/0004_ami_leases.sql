-- Which instance reads each Asterisk node's events into the call log (callbridge.ami.lease):
-- renewed every second, taken over by another instance once it runs out (database clock).
CREATE TABLE ami_leases (
    node       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,              -- the instance's id (random, per process)
    expires_at DOUBLE PRECISION NOT NULL,  -- unix time, the database's clock
    taken_at   DOUBLE PRECISION NOT NULL
);
