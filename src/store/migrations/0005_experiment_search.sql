-- Every filter of the experiment list answered from an index (issue 11): at 200,000
-- experiments a text search read the whole table (p50 375 ms) and a rare state walked the
-- gateway's index row by row.

-- Text search: `search_text` holds what `q` looks in, one field per line: the id, the name,
-- the application, each input value and the file name of each uploaded input. The writer of
-- experiments (state/experiment-state.ts, recordCreated) fills it; a trigram index answers
-- `search_text ilike '%text%'` (pg_trgm is a trusted extension from PostgreSQL 13 on).
create extension if not exists pg_trgm;
alter table experiments add column search_text text not null default '';
update experiments e set search_text = concat_ws(E'\n', e.id::text, e.name, e.application,
  (select string_agg(i.value, E'\n' order by i.key) from jsonb_each_text(e.inputs) i),
  (select string_agg(u.filename, E'\n' order by u.filename) from uploads u
    where u.id = any(array(select i.value::uuid from jsonb_each_text(e.inputs) i
      where i.value ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'))));
create index experiments_search on experiments using gin (search_text gin_trgm_ops);

-- Equality filters in the list's order (newest first), per gateway: an admin's list with a
-- state, application or resource reads its page straight from one of these.
create index experiments_by_gateway_state on experiments (gateway_id, state, created_at desc, id desc);
create index experiments_by_gateway_application on experiments (gateway_id, application, created_at desc, id desc);
create index experiments_by_gateway_resource on experiments (gateway_id, resource, created_at desc, id desc);

-- Clones of one experiment, newest first.
drop index experiments_by_parent;
create index experiments_by_parent on experiments (parent_id, created_at desc, id desc);
