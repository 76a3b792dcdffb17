import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  activeJobStates,
  activeJobStatesSql,
  jobStates,
  jobStatesBefore,
  terminalJobStates,
  terminalJobStatesSql,
} from './job.ts';

describe('job state groups', () => {
  it('active and terminal split the states', () => {
    assert.deepEqual([...activeJobStates, ...terminalJobStates], [...jobStates]);
  });

  it('the SQL fragments list the groups', () => {
    assert.deepEqual(sqlList(activeJobStatesSql), activeJobStates);
    assert.deepEqual(sqlList(terminalJobStatesSql), terminalJobStates);
  });

  it('the active fragment is the predicate of the jobs_active index, so queries on it use the index', () => {
    const migration = readFileSync(new URL('../store/migrations/0001_initial.sql', import.meta.url), 'utf8');
    assert.match(
      migration,
      new RegExp(
        `create index jobs_active on jobs \\(gateway_id, resource\\) where state in ${escape(activeJobStatesSql)};`,
      ),
    );
  });
});

describe('job transition table', () => {
  it('a terminal state is reached from every active state and left for none', () => {
    for (const state of terminalJobStates) assert.deepEqual(jobStatesBefore(state), activeJobStates, state);
    for (const state of terminalJobStates)
      assert.ok(
        jobStates.every((to) => !jobStatesBefore(to).includes(state)),
        state,
      );
  });

  it('an observation never moves a job backwards', () => {
    assert.deepEqual(jobStatesBefore('queued'), ['submitting']);
    assert.deepEqual(jobStatesBefore('running'), ['submitting', 'queued']);
  });
});

/** The states of a SQL literal list such as `('a', 'b')`. */
function sqlList(fragment: string): string[] {
  return fragment
    .replace(/^\(|\)$/g, '')
    .split(', ')
    .map((item) => item.replace(/^'|'$/g, ''));
}

function escape(text: string): string {
  return text.replace(/[()]/g, '\\$&');
}
