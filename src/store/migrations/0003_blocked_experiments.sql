-- Each poll that gets through to a resource asks whether any of its experiments are
-- blocked (so that they resume, whichever controller saw the outage): keep that cheap.
create index experiments_blocked on experiments (gateway_id, resource) where state = 'blocked';
