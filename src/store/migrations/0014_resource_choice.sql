-- The `auto` resource choice reads how long the last completed jobs on each candidate
-- resource ran (state/resource-outlook.ts): newest first, without scanning every job.
create index jobs_completed_by_resource on jobs (gateway_id, resource, ended_at desc) where state = 'completed';
