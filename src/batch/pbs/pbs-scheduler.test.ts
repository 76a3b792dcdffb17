/**
 * PbsScheduler's poll of array elements on answers a real cluster gives but the test
 * cluster (Slurm's qsub wrapper) does not: PBS Pro's bare `qstat` lists an array once, as
 * `123[].server` in state B once some elements began, and never its elements one by one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TrackedJob } from '../port.ts';
import type { CommandResult, RunOptions } from '../../shell/port.ts';
import { CommandOnlyShell } from '../../../test/command-only-shell.ts';
import { PbsScheduler } from './pbs-scheduler.ts';

/** Answers the poll's qstat (wrapped to read output tails) and its read of job files. */
class PbsProShell extends CommandOnlyShell {
  readonly programs: string[] = [];
  constructor(
    private readonly qstat: string,
    private readonly records: Record<string, string>,
  ) {
    super();
  }
  async run(argv: string[], options?: RunOptions): Promise<CommandResult> {
    this.programs.push(argv[3] ?? argv[0]);
    if (argv[3] === 'drover-status') return { code: 0, stdout: `${this.qstat}\n${argv[4]}\n`, stderr: '' };
    assert.equal(argv[3], 'drover-read');
    const lines = (options?.input ?? '')
      .split('\n')
      .filter((directory) => directory !== '')
      .map((directory) => this.records[directory] ?? '0\t\t0\t0\t\t\t\t');
    return { code: 0, stdout: `${lines.join('\n')}\n`, stderr: '' };
  }
}

const element = (index: number): TrackedJob => ({
  nativeId: `123[${index}].pbs-server`,
  workdir: `/scratch/e-${index}`,
  submissionKey: `k-${index}`,
  details: {},
});

test("PBS Pro's array row: a begun element runs, one that has not waits, one that ended is read from its files", async () => {
  const shell = new PbsProShell(
    [
      'Job id            Name             User              Time Use S Queue',
      '----------------  ---------------- ----------------  -------- - -----',
      '123[].pbs-server  drover-array-ab  gateway                  0 B workq',
    ].join('\n'),
    {
      // exists, exit code, walltime, canceled, node, started, ended, native id
      '/scratch/e-0/.drover-job/k-0': '1\t\t0\t0\tnode-1\t1796220000\t\t123[0].pbs-server',
      '/scratch/e-1/.drover-job/k-1': '1\t\t0\t0\t\t\t\t123[1].pbs-server',
      '/scratch/e-2/.drover-job/k-2': '1\t3\t0\t0\tnode-1\t1796220000\t1796220060\t123[2].pbs-server',
    },
  );
  const observations = await new PbsScheduler({ shell, resource: 'cluster' }).poll([0, 1, 2].map(element));
  assert.deepEqual(shell.programs, ['drover-status', 'drover-read'], 'qstat, then one read of the files');
  assert.deepEqual(observations.get('123[0].pbs-server'), {
    nativeId: '123[0].pbs-server',
    state: 'running',
    nativeState: 'R',
    startedAt: new Date(1796220000 * 1000),
    nodeList: 'node-1',
  });
  assert.deepEqual(observations.get('123[1].pbs-server'), {
    nativeId: '123[1].pbs-server',
    state: 'queued',
    nativeState: 'Q',
  });
  assert.equal(observations.get('123[2].pbs-server')?.state, 'failed');
  assert.equal(observations.get('123[2].pbs-server')?.exitCode, 3);
});

test('an element that never began, of an array qstat no longer lists, is over as its files say', async () => {
  const shell = new PbsProShell('', { '/scratch/e-1/.drover-job/k-1': '1\t\t0\t0\t\t\t\t123[1].pbs-server' });
  const observations = await new PbsScheduler({ shell, resource: 'cluster' }).poll([element(1)]);
  assert.equal(observations.get('123[1].pbs-server')?.state, 'lost');
});
