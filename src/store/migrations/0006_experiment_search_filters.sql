-- The experiment list's slow shapes at 200,000 experiments (issue 11): a text search
-- combined with other filters joined every trigram match back to experiments (p50 117 ms
-- for the operator's state + application + text), and a user's common word probed
-- experiment_search once per experiment of theirs (p50 89 ms).

-- Search rows carry what never changes about their experiment: the gateway and owner
-- (visibility), the application and resource (filters) and the creation time (the list's
-- order and cursor). A search then narrows and orders its matches in experiment_search
-- alone and reads only the page's experiments. The state is left out on purpose: it
-- changes many times per experiment, and experiment_search is written once.
create extension if not exists btree_gin;
alter table experiment_search
  add column gateway_id text,
  add column owner_id text,
  add column application text,
  add column resource text,
  add column created_at timestamptz;
update experiment_search s
set gateway_id = e.gateway_id, owner_id = e.owner_id, application = e.application, resource = e.resource,
  created_at = e.created_at
from experiments e
where e.id = s.experiment_id;
alter table experiment_search
  alter column gateway_id set not null,
  alter column owner_id set not null,
  alter column application set not null,
  alter column resource set not null,
  alter column created_at set not null;

-- One GIN index for the trigrams and the equality filters (btree_gin, a trusted
-- extension): a user's search, or an application's, intersects them in the index.
-- search_text stays out of every btree: an input value may be longer than a btree entry.
drop index experiment_search_text;
create index experiment_search_text on experiment_search
  using gin (owner_id, application, resource, search_text gin_trgm_ops);

-- The list's order per gateway and per owner: a common word is found by walking these
-- newest first and stopping at a page of matches.
create index experiment_search_by_gateway on experiment_search (gateway_id, created_at desc, experiment_id desc);
create index experiment_search_by_owner on experiment_search (owner_id, created_at desc, experiment_id desc);

-- No parallel workers for reads of these tables: a list reads a page, and a Gather Merge
-- over two workers walking the list overshot it (1,091 probes of experiment_search for a
-- page of 51 against 202 without workers, at 200,000 experiments on 2 cores). Nothing
-- else scans them in bulk.
alter table experiments set (parallel_workers = 0);
alter table experiment_search set (parallel_workers = 0);

-- The planner picks between the GIN index (a rare text: its matches, sorted) and these (a
-- common one) by how often the text is found in the sampled rows of search_text's
-- statistics. With the default 100 rows, a word in 0.1 % of rows is in one of them about
-- one ANALYZE in ten, and then estimated at 1 %: main's list walked 78,000 rows for `q=needle`
-- (582 ms, seen at 200,000 experiments). 1,000 rows resolve 0.1 %, for about 0.4 ms more
-- planning per searched word.
alter table experiment_search alter column search_text set statistics 1000;
analyze experiment_search;
