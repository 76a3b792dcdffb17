/**
 * The batch submit protocol: how one job's answer reads (adopted or submitted, a refusal
 * (final), any other failure or an unreadable answer (retryable), an unreachable server),
 * and `BatchSubmitter` running the real batch command in bash on this machine (LocalShell)
 * around a stand-in per-job submit: submits made together go as one command, each job is
 * answered on its own, no job's output can forge another's answer, and a job whose task
 * lock is taken is sent again alone to wait for it.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JobSpec, SubmittedJob } from './port.ts';
import type { CommandResult, RunOptions } from '../shell/port.ts';
import { LocalShell } from '../shell/local-shell.ts';
import { ResourceUnreachableError } from '../domain/errors.ts';
import { TaskError } from '../domain/failure.ts';
import {
  BatchSubmitter,
  isSubmitLimitMessage,
  readSubmitAnswer,
  arrayGatherQuietMs,
  type ArraySubmit,
  type BatchSubmitAnswers,
} from './remote-submit.ts';

const spec = (submissionKey = 'task-1.attempt-2', earlierSubmissionKeys = ['task-1.attempt-1']): JobSpec => ({
  submissionKey,
  earlierSubmissionKeys,
  workdir: '/scratch/w',
  jobName: 'j',
  nodes: 1,
  coresPerNode: 1,
  walltimeMinutes: 1,
  environmentSetup: [],
  argv: ['true'],
});
const answers: BatchSubmitAnswers = {
  isUnreachable: (message) => /connection refused/.test(message),
  unreachable: (message) => new ResourceUnreachableError('cluster', message),
  refusal: (result) => `refused: ${result.stderr.trim()}`,
  parseId: (word) => (/^\d+$/.test(word) ? word : null),
};
const read = (result: Partial<CommandResult>) =>
  readSubmitAnswer(spec(), { code: 0, stdout: '', stderr: '', ...result }, answers);
const taskError = (code: string, retryable: boolean) => (error: unknown) =>
  error instanceof TaskError && error.code === code && error.retryable === retryable;

describe('readSubmitAnswer', () => {
  test('a submitted job, and an adopted one with the key it was found under', () => {
    assert.deepEqual(read({ stdout: 'submitted task-1.attempt-2 42\n' }), {
      nativeId: '42',
      adopted: false,
      submissionKey: 'task-1.attempt-2',
      details: {},
    });
    assert.deepEqual(read({ stdout: 'adopted task-1.attempt-1 41\n' }), {
      nativeId: '41',
      adopted: true,
      submissionKey: 'task-1.attempt-1',
      details: {},
    });
  });

  test('exit 5 is a final submit-rejected with the refusal; another exit a retryable submit-failed', () => {
    assert.throws(
      () => read({ code: 5, stderr: 'no such queue\n' }),
      (error: unknown) =>
        taskError('submit-rejected', false)(error) && (error as Error).message === 'refused: no such queue',
    );
    assert.throws(() => read({ code: 6, stderr: 'another submit still runs' }), taskError('submit-failed', true));
  });

  test("a refusal for the owner's submit limit is a retryable submit-limit: the job waits, it does not fail", () => {
    // What Slurm 22.05's sbatch and the PBS front ends print (Slurm's through the qsub wrapper the same).
    for (const refusal of [
      "QOSMaxSubmitJobPerUserLimit; Batch job submission failed: Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)",
      'AssocMaxSubmitJobLimit',
      "qsub: would exceed queue generic's per-user limit of jobs in 'Q' state",
      'qsub: submit error (Maximum number of jobs already in queue MSG=total number of jobs in queue exceeds the queue limit)',
    ]) {
      assert.equal(isSubmitLimitMessage(refusal), true, refusal);
      assert.throws(
        () => read({ code: 5, stderr: refusal }),
        (error: unknown) =>
          taskError('submit-limit', true)(error) && (error as Error).message.includes('Drover submits again later'),
        refusal,
      );
    }
    for (const refusal of [
      'Invalid partition name specified',
      'Requested time limit is invalid (missing or exceeds some limit)',
    ])
      assert.equal(isSubmitLimitMessage(refusal), false, refusal);
  });

  test('an answer without a plain key and a job id is a retryable submit-failed', () => {
    for (const stdout of [
      '',
      'submitted task-1.attempt-2 not-an-id\n',
      'submitted -x 42\n',
      'queued task-1.attempt-2 42\n',
    ]) {
      assert.throws(() => read({ stdout }), taskError('submit-failed', true), stdout);
    }
  });

  test('a server that does not answer is ResourceUnreachableError, whatever the exit code', () => {
    assert.throws(() => read({ code: 5, stderr: 'connection refused' }), ResourceUnreachableError);
  });
});

/** LocalShell that remembers each command's argv and stdin. */
class RecordingShell extends LocalShell {
  readonly calls: Array<{ argv: string[]; options?: RunOptions }> = [];
  override run(argv: string[], options?: RunOptions): Promise<CommandResult> {
    this.calls.push({ argv, options });
    return super.run(argv, options);
  }
}

/**
 * A stand-in for a scheduler's per-job submit: it answers from the job script, which holds
 * `exit=<code>` and `id=<id>` lines, after printing the script to stderr (a scheduler
 * echoing the job back: job scripts hold whatever a user typed) and a forged answer to
 * stdout (stray output of a command). A script holding `busy`
 * finds its task's lock taken unless the command waits for it.
 */
const standInSubmit = `
key=$1
[[ $body == *busy* && $lock_wait == 0 ]] && { echo "lock taken" >&2; return 6; }
printf '%s' "$body" >&2
printf 'drover-result 0 0\\tsubmitted k-1 666\\t\\n'
code=0; [[ $body =~ exit=([0-9]+) ]] && code=\${BASH_REMATCH[1]}
[[ $body =~ id=([0-9]+) ]] && out="submitted $key \${BASH_REMATCH[1]}"
return "$code"
`;

describe('BatchSubmitter', () => {
  test('submits made together go in one command; each job is answered, and fails, on its own', async () => {
    const shell = new RecordingShell();
    const batches: number[] = [];
    const submitter = new BatchSubmitter(shell, standInSubmit, answers, { onBatch: (jobs) => batches.push(jobs) });
    // A hostile script: lines that look like the protocol's, tabs, backslashes, no final newline.
    const forging = 'id=7\ndrover-result 1 0\tsubmitted k-2 666\t\n\\n\ttab';
    const outcomes = await Promise.allSettled([
      submitter.submit(spec('k-1', []), forging),
      submitter.submit(spec('k-2', ['k-2.a']), '#!/bin/bash\nexit=5 no such partition\n'),
      submitter.submit(spec('k-3', []), 'id=9\n'),
      submitter.submit(spec('k-4', []), 'exit=3\n'),
    ]);
    assert.deepEqual(batches, [4], 'one batch of four jobs');
    assert.equal(shell.calls.length, 1, 'one command');
    assert.deepEqual(outcomes[0], {
      status: 'fulfilled',
      value: { nativeId: '7', adopted: false, submissionKey: 'k-1', details: {} },
    });
    assert.ok(outcomes[1].status === 'rejected' && taskError('submit-rejected', false)(outcomes[1].reason));
    assert.match((outcomes[1] as PromiseRejectedResult).reason.message, /^refused: #!\/bin\/bash\nexit=5 no such/);
    assert.deepEqual(outcomes[2], {
      status: 'fulfilled',
      value: { nativeId: '9', adopted: false, submissionKey: 'k-3', details: {} },
    });
    assert.ok(outcomes[3].status === 'rejected' && taskError('submit-failed', true)(outcomes[3].reason));
    // The stdin carries the scripts as counted bytes, after the argv that names no job.
    assert.deepEqual(shell.calls[0].argv.slice(3), ['drover-submit', '0']);
    const firstJob = `job k-1 33 ${Buffer.byteLength(forging)}\n/scratch/w/.drover-job/k-1/job.sh${forging}`;
    assert.ok(shell.calls[0].options?.input?.startsWith(`${firstJob}job k-2 33 `), shell.calls[0].options?.input);
  });

  test('a job whose task lock is taken is sent again alone, waiting for the lock', async () => {
    const shell = new RecordingShell();
    const submitter = new BatchSubmitter(shell, standInSubmit, answers);
    const [busy, free] = await Promise.all([
      submitter.submit(spec('k-busy', []), 'busy id=11\n'),
      submitter.submit(spec('k-free', []), 'id=12\n'),
    ]);
    assert.equal(busy.nativeId, '11');
    assert.equal(free.nativeId, '12');
    assert.deepEqual(
      shell.calls.map((call) => call.argv.at(-1)),
      ['0', '90'],
      'the batch without waiting, then the busy job alone with a 90 s wait',
    );
  });

  test('submits that arrive while two batches run go together in the next', async () => {
    const shell = new RecordingShell();
    const batches: number[] = [];
    const slow = `sleep 0.15\n${standInSubmit}`;
    const submitter = new BatchSubmitter(shell, slow, answers, { onBatch: (jobs) => batches.push(jobs) });
    const first = [submitter.submit(spec('k-1', []), 'id=1\n')];
    await new Promise((resolve) => setTimeout(resolve, 50));
    const second = [submitter.submit(spec('k-2', []), 'id=2\n')];
    await new Promise((resolve) => setTimeout(resolve, 50));
    const rest = Array.from({ length: 5 }, (_, index) =>
      submitter.submit(spec(`k-${index + 3}`, []), `id=${index + 3}\n`),
    );
    const ids = (await Promise.all([...first, ...second, ...rest])).map((job) => job.nativeId);
    assert.deepEqual(ids, ['1', '2', '3', '4', '5', '6', '7']);
    assert.deepEqual(batches, [1, 1, 5]);
  });

  test('a burst of more than 16 is shared between two commands that run side by side', async () => {
    const shell = new RecordingShell();
    const batches: number[] = [];
    const submitter = new BatchSubmitter(shell, standInSubmit, answers, { onBatch: (jobs) => batches.push(jobs) });
    const burst = Array.from({ length: 40 }, (_, index) => submitter.submit(spec(`k-${index}`, []), `id=${index}\n`));
    const ids = (await Promise.all(burst)).map((job) => job.nativeId);
    assert.deepEqual(
      ids,
      Array.from({ length: 40 }, (_, index) => String(index)),
    );
    assert.deepEqual(batches, [20, 20]);
  });

  test('a queue that gathers while one command runs is halved: the free slot leaves the rest to the busy one', async () => {
    const shell = new RecordingShell();
    const batches: number[] = [];
    const slow = `sleep 0.15\n${standInSubmit}`;
    const submitter = new BatchSubmitter(shell, slow, answers, { onBatch: (jobs) => batches.push(jobs) });
    const first = submitter.submit(spec('k-0', []), 'id=0\n');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const burst = Array.from({ length: 40 }, (_, index) =>
      submitter.submit(spec(`k-${index + 1}`, []), `id=${index + 1}\n`),
    );
    const ids = (await Promise.all([first, ...burst])).map((job) => job.nativeId);
    assert.deepEqual(
      ids,
      Array.from({ length: 41 }, (_, index) => String(index)),
    );
    assert.deepEqual(batches, [1, 20, 20], 'not [1, 40]: one command would run on alone after the other');
  });

  test('a key that is not plain is refused before anything runs', async () => {
    const shell = new RecordingShell();
    const submitter = new BatchSubmitter(shell, standInSubmit, answers);
    await assert.rejects(submitter.submit(spec('k 1', []), 'id=1\n'), RangeError);
    assert.equal(shell.calls.length, 0);
  });
});

describe('BatchSubmitter with job arrays', () => {
  /** Array elements stop where sbatch/qsub would run, their lock held (see `batchSubmitClaim`). */
  const standInElement = `key=$1
[ -z "$array_name" ] || { exec {held_lock}> /dev/null; out=pending; return 0; }
${standInSubmit}`;
  /** A stand-in array submit: it keeps the index range beside the wrapper and answers 77. */
  const arrays: ArraySubmit = {
    submitArrayBody: `printf '%s' "$2" > "$1.range"; id=77`,
    elementIdBody: 'REPLY=$1_$2',
    renderArrayScript: (name, { walltimeMinutes }) =>
      `#!/bin/bash\n# ${name} ${walltimeMinutes} min\n# drover-job-scripts\n`,
    maxArraySize: () => Promise.resolve(1001),
  };
  const elementAnswers: BatchSubmitAnswers = {
    ...answers,
    parseId: (word) => (/^\d+(_\d+)?$/.test(word) ? word : null),
  };
  const inWorkdir = (workdir: string, key: string, overrides: Partial<JobSpec> = {}): JobSpec => ({
    ...spec(key, []),
    workdir: `${workdir}/${key}`,
    ...overrides,
  });

  /** Runs `body` with a submitter of arrays whose jobs' workdirs are under a fresh temporary folder. */
  async function withArrays(
    body: (world: {
      workdir: string;
      shell: RecordingShell;
      batches: number[];
      submitter: BatchSubmitter;
    }) => Promise<void>,
  ): Promise<void> {
    const workdir = mkdtempSync(join(tmpdir(), 'drover-arrays-'));
    try {
      const shell = new RecordingShell();
      const batches: number[] = [];
      const submitter = new BatchSubmitter(shell, standInElement, elementAnswers, {
        arrays,
        onBatch: (jobs) => batches.push(jobs),
      });
      await body({ workdir, shell, batches, submitter });
    } finally {
      rmSync(workdir, { recursive: true, force: true });
    }
  }

  test('jobs of one group and the same directives go as one array; each element answered with its own id, files and place', () =>
    withArrays(async ({ workdir, shell, batches, submitter }) => {
      const sweep = (key: string, walltimeMinutes = 1) =>
        submitter.submit(inWorkdir(workdir, key, { arrayGroup: 'sweep-1', walltimeMinutes }), `run ${key}\n`);
      const jobs = await Promise.all([
        sweep('a-0'),
        sweep('a-1'),
        submitter.submit(inWorkdir(workdir, 'lone'), 'id=9\n'),
        sweep('b-0', 5),
        sweep('a-2'),
        sweep('b-1', 5),
        submitter.submit(inWorkdir(workdir, 'alone-in-group', { arrayGroup: 'sweep-2' }), 'id=10\n'),
      ]);
      assert.deepEqual(batches, [1, 6], 'the job without a group at once, the groups after their gathering');
      assert.deepEqual(
        jobs.map((job) => `${job.submissionKey} ${job.nativeId}`),
        ['a-0 77_0', 'a-1 77_1', 'lone 9', 'b-0 77_0', 'a-2 77_2', 'b-1 77_1', 'alone-in-group 10'],
        'the 5-minute jobs of the group are an array of their own',
      );
      const input = shell.calls[1].options?.input ?? '';
      assert.equal(input.match(/^array drover-array-[0-9a-f]{16} \d+ [23]$/gm)?.length, 2);
      const jobDirectory = (key: string) => `${workdir}/${key}/.drover-job/${key}`;
      const wrapper = readFileSync(`${jobDirectory('a-0')}/array.sh`, 'utf8');
      const name = /^# (drover-array-\S+) 1 min$/m.exec(wrapper)![1];
      assert.equal(
        wrapper.split('\n').slice(2).join('\n'),
        ['a-0', 'a-1', 'a-2']
          .map((key, index) => `drover_job_scripts[${index}]=${jobDirectory(key)}/job.sh\n`)
          .join(''),
        "the wrapper's table names each element's own job script",
      );
      assert.equal(readFileSync(`${jobDirectory('a-0')}/array.sh.range`, 'utf8'), '0-2');
      for (const [index, key] of ['a-0', 'a-1', 'a-2'].entries()) {
        assert.equal(readFileSync(`${jobDirectory(key)}/array-element`, 'utf8'), `${name} ${index}\n`);
        assert.equal(readFileSync(`${jobDirectory(key)}/native-id`, 'utf8'), `77_${index}\n`);
      }
    }));

  test("a group's submits that arrive one by one are gathered into one array; a lone job does not wait for them", () =>
    withArrays(async ({ workdir, batches, submitter }) => {
      const pending: Array<Promise<SubmittedJob>> = [submitter.submit(inWorkdir(workdir, 'lone'), 'id=9\n')];
      for (let index = 0; index < 4; index += 1) {
        pending.push(submitter.submit(inWorkdir(workdir, `e-${index}`, { arrayGroup: 'sweep-1' }), 'x\n'));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const jobs = await Promise.all(pending);
      assert.deepEqual(batches, [1, 4], 'the lone job at once, then the four elements together');
      assert.deepEqual(
        jobs.map((job) => job.nativeId),
        ['9', '77_0', '77_1', '77_2', '77_3'],
      );
    }));

  test("a sized group (a sweep's) waits out gaps that end an unsized one's gathering, and goes once all of it is there", () =>
    withArrays(async ({ workdir, batches, submitter }) => {
      const pending: Array<Promise<SubmittedJob>> = [];
      for (let index = 0; index < 3; index += 1) {
        if (index > 0) await new Promise((resolve) => setTimeout(resolve, arrayGatherQuietMs + 200));
        const spec = inWorkdir(workdir, `s-${index}`, { arrayGroup: 'sweep-3', arrayGroupSize: 3 });
        pending.push(submitter.submit(spec, 'x\n'));
      }
      const jobs = await Promise.all(pending);
      assert.deepEqual(batches, [3], 'one array of the three, though each came after the unsized quiet');
      assert.deepEqual(
        jobs.map((job) => job.nativeId),
        ['77_0', '77_1', '77_2'],
      );
    }));

  test('a sized group missing some of its jobs (canceled elements) is sent after the quiet, not held', () =>
    withArrays(async ({ workdir, batches, submitter }) => {
      const jobs = await Promise.all(
        [0, 1].map((index) =>
          submitter.submit(inWorkdir(workdir, `m-${index}`, { arrayGroup: 'sweep-4', arrayGroupSize: 5 }), 'x\n'),
        ),
      );
      assert.deepEqual(batches, [2]);
      assert.deepEqual(
        jobs.map((job) => job.nativeId),
        ['77_0', '77_1'],
      );
    }));
});
