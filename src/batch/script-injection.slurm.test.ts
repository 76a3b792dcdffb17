/**
 * The Slurm tier for script injection: hostile values submitted through the real Slurm and
 * PBS (qsub wrapper) adapters. Slurm must show exactly the partition, time limit and
 * output paths Drover asked for (scontrol and sacct), the program must receive the exact
 * bytes, and no smuggled command may run.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { BatchScheduler, JobSpec, TrackedJob } from './port.ts';
import { connectToTestCluster } from '../../test/test-cluster.ts';
import { SlurmScheduler } from './slurm/slurm-scheduler.ts';
import { PbsScheduler } from './pbs/pbs-scheduler.ts';

const shell = connectToTestCluster();
const root = `/home/hpcuser/drover-scratch/injection-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const marker = `${root}/pwned`;
after(async () => {
  await shell.run(['rm', '-rf', '--', root]);
  shell.close();
});

/** Each tries to move the job to `long` with a long time limit and other output paths, or to run a command. */
const hostileValues = [
  `label\n#SBATCH --partition=long\n#SBATCH --time=50:00\n#SBATCH --output=${root}/evil.out #`,
  `\r\n#PBS -q long\r\n#PBS -l walltime=00:50:00\n#PBS -o ${root}/evil.out\n#BSUB -q long`,
  `x\ntouch ${marker}\n$(touch ${marker})\`touch ${marker}\``,
  `\u0085#SBATCH --partition=long\u2028#SBATCH -t 50 '"\\ $HOME {{label}} é 😀 \x1b[31m\t\v\f\x7f`,
  '#SBATCH --partition=long',
];

/** Writes every argument, NUL-terminated, to argv.bin in the workdir. */
const recorder = ['bash', '-c', 'printf "%s\\0" "$@" > argv.bin', 'drover-argv'];

interface Sample {
  kind: string;
  scheduler: BatchScheduler;
  /** The partition Drover asks for, and the directory name of this adapter's jobs. */
  queue: string;
}

const samples: Sample[] = [
  { kind: 'slurm', scheduler: new SlurmScheduler({ shell, resource: 'cluster' }), queue: 'debug' },
  { kind: 'pbs', scheduler: new PbsScheduler({ shell, resource: 'cluster' }), queue: 'debug' },
];

/** `scontrol -o show job` as key=value pairs (values up to the next ` Key=`). */
function parseScontrol(line: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const match of line.trim().matchAll(/(\S+?)=(.*?)(?= \S+?=|$)/g)) fields[match[1]] = match[2];
  return fields;
}

async function waitForEnd(scheduler: BatchScheduler, job: TrackedJob): Promise<string> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const state = (await scheduler.poll([job])).get(job.nativeId)?.state;
    if (state && !['queued', 'running', 'submitting'].includes(state)) return state;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  throw new Error(`job ${job.nativeId} did not end within 120 s`);
}

/** Partition|Timelimit|State as sacct has it, once slurmdbd has the whole record (it lags the job's end). */
async function accountedJob(nativeId: string): Promise<string> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const accounted = await shell.run(['sacct', '-X', '-P', '-n', '-j', nativeId, '-o', 'Partition,Timelimit,State']);
    assert.equal(accounted.code, 0, accounted.stderr);
    const line = accounted.stdout.trim();
    if (!line.startsWith('|') || Date.now() > deadline) return line;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

describe('hostile values on the real cluster', { concurrency: true }, () => {
  for (const { kind, scheduler, queue } of samples) {
    it(
      `${kind}: Slurm runs exactly the job Drover asked for, and the program gets the exact bytes`,
      { timeout: 180_000 },
      async () => {
        const workdir = `${root}/${kind}`;
        await shell.makeDirectory(workdir);
        const spec: JobSpec = {
          submissionKey: `injection-${kind}-${randomBytes(4).toString('hex')}.attempt-1`,
          workdir,
          jobName: 'drover-injection',
          queue,
          nodes: 1,
          coresPerNode: 1,
          walltimeMinutes: 2,
          environmentSetup: [],
          argv: [...recorder, ...hostileValues],
          environment: { DROVER_LABEL: hostileValues[0] },
        };
        const submitted = await scheduler.submit(spec);
        const shown = await shell.run(['scontrol', '-o', 'show', 'job', submitted.nativeId]);
        assert.equal(shown.code, 0, shown.stderr);
        const job = parseScontrol(shown.stdout);
        assert.deepEqual(
          {
            Partition: job.Partition,
            TimeLimit: job.TimeLimit,
            StdOut: job.StdOut,
            StdErr: job.StdErr,
            WorkDir: job.WorkDir,
          },
          {
            Partition: queue,
            TimeLimit: '00:02:00',
            StdOut: `${workdir}/stdout.txt`,
            StdErr: `${workdir}/stderr.txt`,
            WorkDir: kind === 'slurm' ? workdir : job.WorkDir,
          },
          `${kind}: scontrol shows another job than Drover asked for`,
        );
        const tracked: TrackedJob = {
          nativeId: submitted.nativeId,
          workdir,
          submissionKey: spec.submissionKey,
          details: submitted.details,
        };
        assert.equal(await waitForEnd(scheduler, tracked), 'completed');
        const received = await shell.readFile(`${workdir}/argv.bin`);
        assert.deepEqual(
          received,
          Buffer.from(hostileValues.map((value) => `${value}\0`).join(''), 'utf8'),
          `${kind}: the program received other bytes`,
        );
        assert.equal(await accountedJob(submitted.nativeId), `${queue}|00:02:00|COMPLETED`);
        assert.equal(await shell.readFile(marker), null, 'a smuggled command ran');
        assert.equal(await shell.readFile(`${root}/evil.out`), null, 'a smuggled output path was used');
      },
    );
  }
});
