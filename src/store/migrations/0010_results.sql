-- Headline values (issue 12): the values an application declares (catalogue
-- `headlineValues`), read from its JSON outputs after stage-out and kept with the
-- experiment, so that its page, the list and the CLI show them without reading files.
-- A list of { name, label, unit, value } in the declared order; null until stage-out.
alter table experiments add column headline_values jsonb;
