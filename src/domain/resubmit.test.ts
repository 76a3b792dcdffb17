import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decideResubmit, resubmitCause } from './resubmit.ts';
import type { JobSettings, QueueSpec } from './resource.ts';

const settings: JobSettings = { queue: 'debug', nodes: 1, coresPerNode: 1, walltimeMinutes: 10, memoryMb: 1000 };
const queue: QueueSpec = { name: 'debug', maxWalltimeMinutes: 30, maxCores: 4, maxMemoryMb: 3000 };
const policy = { attempts: 2 };

describe('resubmitCause', () => {
  const job = (state: 'timed-out' | 'failed' | 'completed', nativeState: string | null, exitCode: number | null) => ({
    state,
    nativeState,
    exitCode,
  });

  it('reads a timeout as walltime on every kind of resource', () => {
    for (const kind of ['local', 'slurm', 'pbs'] as const)
      assert.equal(resubmitCause(kind, job('timed-out', 'TIMEOUT', null), settings), 'walltime');
  });

  it("reads Slurm's OUT_OF_MEMORY as memory, and no other failure", () => {
    assert.equal(resubmitCause('slurm', job('failed', 'OUT_OF_MEMORY', 0), settings), 'memory');
    assert.equal(resubmitCause('slurm', job('failed', 'OOM', 0), settings), 'memory');
    assert.equal(resubmitCause('slurm', job('failed', 'FAILED', 137), settings), null);
    assert.equal(resubmitCause('slurm', job('completed', 'COMPLETED', 0), settings), null);
  });

  it('reads a killed PBS job as memory only when it asked for a memory limit; never a local one', () => {
    assert.equal(resubmitCause('pbs', job('failed', 'C', 265), settings), 'memory');
    assert.equal(resubmitCause('pbs', job('failed', 'C', 137), settings), 'memory');
    assert.equal(resubmitCause('pbs', job('failed', 'C', 137), { ...settings, memoryMb: undefined }), null);
    assert.equal(resubmitCause('pbs', job('failed', 'C', 1), settings), null);
    assert.equal(resubmitCause('local', job('failed', 'exited', 137), settings), null);
  });
});

describe('decideResubmit', () => {
  it('multiplies the walltime by the factor (default 2), within the queue maximum', () => {
    const first = decideResubmit('walltime', settings, queue, policy, 0);
    assert.ok(first.resubmit);
    assert.equal(first.settings.walltimeMinutes, 20);
    assert.equal(first.settings.memoryMb, 1000, 'memory unchanged');
    assert.equal(
      first.message,
      'the job ran past its walltime: resubmitted with walltime 10 min -> 20 min (automatic resubmit 1 of 2)',
    );
    const second = decideResubmit('walltime', first.settings, queue, policy, 1);
    assert.ok(second.resubmit);
    assert.equal(second.settings.walltimeMinutes, 30, 'cut to the queue maximum');
    assert.deepEqual(second.data.from, { walltimeMinutes: 20, memoryMb: 1000 });
    assert.deepEqual(second.data.to, { walltimeMinutes: 30, memoryMb: 1000 });
  });

  it('multiplies the memory by its own factor, within the queue maximum', () => {
    const decision = decideResubmit('memory', settings, queue, { attempts: 3, memoryFactor: 4 }, 0);
    assert.ok(decision.resubmit);
    assert.equal(decision.settings.memoryMb, 3000);
    assert.equal(decision.settings.walltimeMinutes, 10);
    assert.match(
      decision.message,
      /ran out of memory: resubmitted with memory 1000 MB -> 3000 MB \(automatic resubmit 1 of 3\)$/,
    );
  });

  it('refuses, saying why: no policy, the cap, the queue maximum, no memory asked for', () => {
    const refusal = (decision: ReturnType<typeof decideResubmit>) => (decision.resubmit ? null : decision.refusal);
    assert.equal(
      refusal(decideResubmit('walltime', settings, queue, undefined, 0)),
      'not resubmitted: the application sets no automatic resubmit',
    );
    assert.equal(
      refusal(decideResubmit('walltime', settings, queue, policy, 2)),
      "not resubmitted: 2 of 2 automatic resubmits used (the application's cap)",
    );
    assert.equal(
      refusal(decideResubmit('walltime', { ...settings, walltimeMinutes: 30 }, queue, policy, 0)),
      'not resubmitted: its walltime of 30 min is the most queue debug allows',
    );
    assert.equal(
      refusal(decideResubmit('memory', { ...settings, memoryMb: 3000 }, queue, policy, 0)),
      'not resubmitted: its memory of 3000 MB is the most queue debug allows',
    );
    assert.match(
      refusal(decideResubmit('memory', { ...settings, memoryMb: undefined }, queue, policy, 0))!,
      /asked for no memory limit/,
    );
  });

  it('has no memory maximum on a queue that sets none', () => {
    const decision = decideResubmit('memory', settings, { ...queue, maxMemoryMb: undefined }, policy, 0);
    assert.ok(decision.resubmit);
    assert.equal(decision.settings.memoryMb, 2000);
  });
});
