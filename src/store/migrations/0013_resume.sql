-- Resume and automatic resubmit (issue 13). A failed experiment can be resumed: the failed
-- task and what follows it run again, in place, as run `run` of the experiment; a job that
-- ran out of walltime or memory can be resubmitted with more, `resubmits` times in a run.
alter table experiments
  add column run int not null default 1 check (run >= 1),
  add column resubmits int not null default 0 check (resubmits >= 0);

-- The attempts of a task up to this one belong to earlier runs: a rerun submit looks up
-- (and may adopt) only the jobs of attempts after it, never the failed job of a run before.
alter table tasks add column run_first_attempt int not null default 0 check (run_first_attempt >= 0);

-- Why a job that ran out of walltime or memory was not resubmitted (the application's cap,
-- the queue's limit): its experiment's failure message says so.
alter table jobs add column resubmit_refusal text;
