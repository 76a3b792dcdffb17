-- Indexes for the controller's passes, which must stay cheap with thousands of jobs.

-- Each poll that gets through to a resource asks whether any of its experiments are
-- blocked (so that they resume, whichever controller saw the outage).
create index experiments_blocked on experiments (gateway_id, resource) where state = 'blocked';

-- "The latest job of an experiment" (completing monitor tasks, the API): with (experiment_id)
-- alone, a planner without statistics (PGlite has no autovacuum) walked jobs_pkey backwards
-- for each task, reading half the table each time: 22 s per pass at 9,500 jobs (bench/README.md).
drop index jobs_by_experiment;
create index jobs_by_experiment on jobs (experiment_id, id desc);
