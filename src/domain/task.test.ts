import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  keptAfterSubmit,
  keptAfterSubmitSql,
  rerunTaskStates,
  rerunTaskStatesSql,
  retryDelayMs,
  taskStateSql,
  taskStates,
  taskStatesBefore,
  terminalTaskStates,
} from './task.ts';

describe('task transition table', () => {
  // Each guard in state/task-state.ts and state/claim-tasks.ts, and the table's answer.
  it("a claim takes ready tasks only (claim-tasks.ts: `state = 'ready'`)", () => {
    assert.deepEqual(taskStatesBefore('running'), ['ready']);
  });

  it("outcomes apply to running tasks only (task-state.ts: `state = 'running'`)", () => {
    assert.deepEqual(taskStatesBefore('completed'), ['running']);
    assert.deepEqual(taskStatesBefore('failed'), ['running']);
  });

  it('a retry and a ready successor come from running and pending', () => {
    assert.deepEqual(taskStatesBefore('ready'), ['pending', 'running']);
  });

  it('a skip and a cancel end the waiting tasks only: a running task finishes', () => {
    assert.deepEqual(taskStatesBefore('skipped'), sqlList(taskStateSql.waiting));
    assert.deepEqual(taskStatesBefore('canceled'), sqlList(taskStateSql.waiting));
  });

  it('a cancel after the submit started keeps the monitor and stage-out (task-state.ts cancelOpenTasksOfMany)', () => {
    assert.deepEqual(sqlList(keptAfterSubmitSql), [...keptAfterSubmit]);
  });

  it('open is every state that is not terminal', () => {
    assert.deepEqual(
      sqlList(taskStateSql.open),
      taskStates.filter((state) => !terminalTaskStates.includes(state)),
    );
  });

  it('a rerun takes any state but ready (state/task-state.ts rerunTasks)', () => {
    assert.deepEqual(sqlList(rerunTaskStatesSql), [...rerunTaskStates]);
    assert.deepEqual(
      taskStates.filter((state) => !rerunTaskStates.includes(state)),
      ['ready', 'canceled'],
    );
  });

  it('terminal states lead nowhere within a run', () => {
    for (const state of terminalTaskStates) {
      assert.ok(
        taskStates.every((to) => !taskStatesBefore(to).includes(state)),
        state,
      );
    }
  });
});

describe('retryDelayMs', () => {
  it('doubles from 1 s and stops at 60 s', () => {
    assert.deepEqual([1, 2, 3, 4, 7, 8, 30].map(retryDelayMs), [1000, 2000, 4000, 8000, 60_000, 60_000, 60_000]);
    assert.equal(retryDelayMs(0), 1000);
  });
});

/** The states of a SQL literal list such as `('a', 'b')`. */
function sqlList(fragment: string): string[] {
  return fragment
    .replace(/^\(|\)$/g, '')
    .split(', ')
    .map((item) => item.replace(/^'|'$/g, ''));
}
