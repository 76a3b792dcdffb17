/** The PBS state table: every letter maps to a Drover job state or to `finished`. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pbsJobState, pbsJobStates } from './pbs-states.ts';
import { jobStates } from '../../domain/job.ts';

describe('pbsJobStates', () => {
  test('maps every letter to a Drover job state or to finished', () => {
    for (const [letter, state] of Object.entries(pbsJobStates)) {
      assert.ok(state === 'finished' || (jobStates as readonly string[]).includes(state), `${letter} → ${state}`);
    }
    assert.equal(pbsJobState('Q'), 'queued');
    assert.equal(pbsJobState('R'), 'running');
    assert.equal(pbsJobState('E'), 'running');
    assert.equal(pbsJobState('C'), 'finished');
    assert.equal(pbsJobState('U'), undefined);
  });
});
