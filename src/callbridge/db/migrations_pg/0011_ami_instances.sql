-- The instances alive now (callbridge.ami.lease.Spread): each renews its row every second with
-- its node leases; an instance reads at most its fair share of the nodes, ceil(nodes / live).
CREATE TABLE ami_instances (
    instance   TEXT PRIMARY KEY,
    seen_until DOUBLE PRECISION NOT NULL   -- unix time, the database's clock
);
