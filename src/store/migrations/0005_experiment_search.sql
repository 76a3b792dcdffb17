-- Every filter of the experiment list answered from an index (issue 11): at 200,000
-- experiments a text search read the whole table (p50 375 ms) and a rare state walked the
-- gateway's index row by row.

-- Text search: what `q` looks in, one field per line: the id, the name, the application,
-- each input value and the file name of each uploaded input. Written once with the
-- experiment (state/experiment-state.ts, recordCreatedMany) and never updated, in a table of
-- its own: experiments rows change state many times, and each change of an indexed column
-- would rewrite the row's trigram index entries too. A trigram index answers
-- `search_text ilike '%text%'` (pg_trgm is a trusted extension from PostgreSQL 13 on).
create extension if not exists pg_trgm;
create table experiment_search (
  experiment_id uuid primary key references experiments (id) on delete cascade,
  search_text text not null
);
insert into experiment_search (experiment_id, search_text)
select e.id, concat_ws(E'\n', e.id::text, e.name, e.application,
  (select string_agg(i.value, E'\n' order by i.key) from jsonb_each_text(e.inputs) i),
  (select string_agg(u.filename, E'\n' order by u.filename) from uploads u
    where u.id = any(array(select i.value::uuid from jsonb_each_text(e.inputs) i
      where i.value ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'))))
from experiments e;
create index experiment_search_text on experiment_search using gin (search_text gin_trgm_ops);

-- Equality filters in the list's order (newest first), per gateway: an admin's list with a
-- state, application or resource reads its page straight from one of these.
create index experiments_by_gateway_state on experiments (gateway_id, state, created_at desc, id desc);
create index experiments_by_gateway_application on experiments (gateway_id, application, created_at desc, id desc);
create index experiments_by_gateway_resource on experiments (gateway_id, resource, created_at desc, id desc);

-- Clones of one experiment, newest first.
drop index experiments_by_parent;
create index experiments_by_parent on experiments (parent_id, created_at desc, id desc);
