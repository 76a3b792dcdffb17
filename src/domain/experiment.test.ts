import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  activeExperimentStates,
  activeExperimentStatesSql,
  experimentOutcome,
  experimentStates,
  terminalExperimentStates,
  type ExperimentState,
} from './experiment.ts';
import { jobStates } from './job.ts';

describe('experimentOutcome', () => {
  const facts = { state: 'executing' as ExperimentState, taskFailure: null, jobState: null, exitCode: null };
  const taskFailure = { code: 'submit-rejected' as const, message: 'sbatch said no' };

  it('completes an experiment whose tasks completed and whose job completed, or that has no job', () => {
    assert.deepEqual(experimentOutcome({ ...facts, jobState: 'completed', exitCode: 0 }), { to: 'completed' });
    assert.deepEqual(experimentOutcome(facts), { to: 'completed' });
  });

  it('cancels a canceling experiment whatever its tasks and job did', () => {
    for (const jobState of [null, ...jobStates]) {
      assert.deepEqual(
        experimentOutcome({ ...facts, state: 'canceling', taskFailure, jobState }),
        { to: 'canceled' },
        String(jobState),
      );
    }
  });

  it('cancels an experiment whose job was canceled outside Drover, before looking at failures', () => {
    assert.deepEqual(experimentOutcome({ ...facts, taskFailure, jobState: 'canceled' }), { to: 'canceled' });
  });

  it("fails with the first failed task's failure, before looking at the job", () => {
    assert.deepEqual(experimentOutcome({ ...facts, taskFailure, jobState: 'failed', exitCode: 3 }), {
      to: 'failed',
      failure: taskFailure,
    });
  });

  it('fails with the cause of a job that did not succeed', () => {
    assert.deepEqual(experimentOutcome({ ...facts, jobState: 'failed', exitCode: 3 }), {
      to: 'failed',
      failure: { code: 'job-failed', message: 'the job exited with code 3' },
    });
    assert.deepEqual(experimentOutcome({ ...facts, jobState: 'timed-out' }), {
      to: 'failed',
      failure: { code: 'job-timed-out', message: 'the job ran past its walltime and was stopped' },
    });
    assert.deepEqual(experimentOutcome({ ...facts, jobState: 'lost' }), {
      to: 'failed',
      failure: { code: 'job-lost', message: 'the job vanished from its resource without an exit code' },
    });
  });
});

describe('experiment state groups', () => {
  it('active is every launched state that is not terminal', () => {
    assert.deepEqual(
      activeExperimentStates,
      experimentStates.filter((state) => state !== 'created' && !terminalExperimentStates.includes(state)),
    );
  });

  it('the SQL fragment lists the active states', () => {
    assert.deepEqual(sqlList(activeExperimentStatesSql), activeExperimentStates);
  });
});

/** The states of a SQL literal list such as `('a', 'b')`. */
function sqlList(fragment: string): string[] {
  return fragment
    .replace(/^\(|\)$/g, '')
    .split(', ')
    .map((item) => item.replace(/^'|'$/g, ''));
}
