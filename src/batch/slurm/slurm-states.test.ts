/** The Slurm state table: every state maps to a Drover job state, read by its first word. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isFinishedSlurmState, slurmJobState, slurmJobStates } from './slurm-states.ts';
import { jobStates } from '../../domain/job.ts';

describe('slurmJobStates', () => {
  test('maps every state to a Drover job state', () => {
    for (const [nativeState, state] of Object.entries(slurmJobStates)) {
      assert.ok((jobStates as readonly string[]).includes(state), `${nativeState} → ${state}`);
    }
  });

  test('reads states by their first word, as sacct prints them', () => {
    assert.equal(slurmJobState('PENDING'), 'queued');
    assert.equal(slurmJobState('RUNNING'), 'running');
    assert.equal(slurmJobState('COMPLETING'), 'running');
    assert.equal(slurmJobState('COMPLETED'), 'completed');
    assert.equal(slurmJobState('FAILED'), 'failed');
    assert.equal(slurmJobState('OUT_OF_MEMORY'), 'failed');
    assert.equal(slurmJobState('PREEMPTED'), 'failed');
    assert.equal(slurmJobState('TIMEOUT'), 'timed-out');
    assert.equal(slurmJobState('CANCELLED by 1001'), 'canceled');
    assert.equal(slurmJobState('CANCELLED+'), 'canceled');
    assert.equal(slurmJobState('SOMETHING_NEW'), undefined);
    assert.equal(slurmJobState('toString'), undefined);
  });

  test('knows which states are final', () => {
    assert.equal(isFinishedSlurmState('CANCELLED by 1001'), true);
    assert.equal(isFinishedSlurmState('TIMEOUT'), true);
    assert.equal(isFinishedSlurmState('COMPLETING'), false);
    assert.equal(isFinishedSlurmState('PENDING'), false);
  });
});
