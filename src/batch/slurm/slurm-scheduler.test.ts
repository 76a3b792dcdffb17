/**
 * SlurmScheduler's decisions on answers captured from the test cluster, replayed by a
 * scripted Shell: the cases the real cluster shows rarely or never on demand (slurmdbd
 * behind or down, accounting disabled, hundreds of finished jobs). The slurm tier runs the
 * same adapter against the real cluster.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { TrackedJob } from '../port.ts';
import type { CommandResult, RunOptions } from '../../shell/port.ts';
import { CommandOnlyShell } from '../../../test/command-only-shell.ts';
import { ResourceUnreachableError } from '../../domain/errors.ts';
import { TaskError } from '../../domain/failure.ts';
import { SlurmScheduler } from './slurm-scheduler.ts';

/** A spec no attempt can submit fails for good: a final `invalid-job-spec`, never a retry. */
const invalidJobSpec = (error: unknown) =>
  error instanceof TaskError && error.code === 'invalid-job-spec' && error.retryable === false;

type Answer = Partial<CommandResult> | ((argv: string[], options?: RunOptions) => Partial<CommandResult>);

/**
 * A Shell that answers commands by their program (`squeue`, `sacct`, or a `bash -c`
 * script's $0). A poll's status command, wrapped to read the jobs' output tails
 * (output-tail.ts, `drover-status <marker> <bytes> <command...>`), is answered as the
 * command inside it, followed by the marker line and no output of any job.
 */
class ScriptedShell extends CommandOnlyShell {
  readonly commands: string[][] = [];
  constructor(private readonly answers: Record<string, Answer>) {
    super();
  }

  async run(argv: string[], options?: RunOptions): Promise<CommandResult> {
    this.commands.push(argv);
    const status = statusCommandOf(argv);
    const asked = status ? status.command : argv;
    const answer = this.answers[programOf(asked)];
    assert.ok(answer, `unexpected command ${argv.join(' ')}`);
    const result = {
      code: 0,
      stdout: '',
      stderr: '',
      ...(typeof answer === 'function' ? answer(asked, options) : answer),
    };
    return status ? { ...result, stdout: `${result.stdout}\n${status.marker}\n` } : result;
  }
  programs(): string[] {
    return this.commands.map((argv) => programOf(statusCommandOf(argv)?.command ?? argv));
  }
}

/** The status command and marker of a poll's wrapped command, or null for any other command. */
function statusCommandOf(argv: string[]): { marker: string; command: string[] } | null {
  return argv[0] === 'bash' && argv[3] === 'drover-status' ? { marker: argv[4], command: argv.slice(6) } : null;
}

function programOf(argv: string[]): string {
  return argv[0] === 'bash' ? argv[3] : argv.find((word) => word !== 'env' && !word.includes('='))!;
}

const job = (nativeId: string): TrackedJob => ({
  nativeId,
  workdir: '/scratch/w',
  submissionKey: `key-${nativeId}`,
  details: {},
});
/** One line of the job-record reader: exists, exit-code, walltime-exceeded, canceled, node, started-at, ended-at, native-id. */
const record = (exitCode: string, extra = '') => `1\t${exitCode}\t0\t0\tvm\t1795369614\t1795369620\t${extra}`;

describe('SlurmScheduler.poll', () => {
  test('active jobs cost one squeue and nothing else', async () => {
    const shell = new ScriptedShell({
      squeue: { stdout: '9|RUNNING|vm|1795368935|1795369055|None\n10|PENDING||1795369055|1795369175|Resources\n' },
    });
    const observations = await new SlurmScheduler({ shell, resource: 'c' }).poll([job('9'), job('10')]);
    assert.deepEqual(shell.programs(), ['squeue']);
    assert.deepEqual(observations.get('9'), {
      nativeId: '9',
      state: 'running',
      nativeState: 'RUNNING',
      startedAt: new Date(1795368935_000),
      nodeList: 'vm',
    });
    assert.deepEqual(observations.get('10'), {
      nativeId: '10',
      state: 'queued',
      nativeState: 'PENDING',
      reason: 'Resources',
    });
  });

  test("finished jobs are settled by sacct, with squeue's reason while it still lists them", async () => {
    const shell = new ScriptedShell({
      squeue: {
        stdout: '81|FAILED|vm|1795369614|1795369614|NonZeroExitCode\n83|TIMEOUT|vm|1795369614|1795369692|TimeLimit\n',
      },
      sacct: {
        stdout:
          '81|FAILED|3:0|vm|1795369614|1795369614|None\n83|TIMEOUT|0:0|vm|1795369614|1795369692|None\n' +
          '80|COMPLETED|0:0|vm|1795369614|1795369614|None\n84|CANCELLED by 1001|0:0|None assigned|1795369616|1795369616|None\n',
      },
    });
    const observations = await new SlurmScheduler({ shell, resource: 'c' }).poll(['80', '81', '83', '84'].map(job));
    assert.deepEqual(shell.programs(), ['squeue', 'sacct']);
    assert.equal(
      shell.commands[1].join(' '),
      'env SLURM_TIME_FORMAT=%s sacct -X -P -n -j 80,81,83,84 -o JobID,State,ExitCode,NodeList,Start,End,Reason',
    );
    assert.deepEqual(observations.get('81'), {
      nativeId: '81',
      state: 'failed',
      nativeState: 'FAILED',
      exitCode: 3,
      reason: 'NonZeroExitCode',
      startedAt: new Date(1795369614_000),
      endedAt: new Date(1795369614_000),
      nodeList: 'vm',
    });
    assert.equal(observations.get('83')?.state, 'timed-out');
    assert.equal(observations.get('83')?.reason, 'TimeLimit');
    assert.equal(observations.get('83')?.exitCode, null);
    assert.equal(observations.get('80')?.state, 'completed');
    assert.equal(observations.get('80')?.exitCode, 0);
    assert.deepEqual(observations.get('84'), {
      nativeId: '84',
      state: 'canceled',
      nativeState: 'CANCELLED',
      exitCode: null,
      reason: 'canceled by uid 1001',
      endedAt: new Date(1795369616_000),
    });
  });

  test("when slurmdbd lags behind squeue, squeue's state stands and the job files give the exit code", async () => {
    const shell = new ScriptedShell({
      squeue: { stdout: '81|FAILED|vm|1795369614|1795369614|NonZeroExitCode\n' },
      sacct: { stdout: '81|RUNNING|0:0|vm|1795369614|Unknown|None\n' },
      'drover-read': (argv, options) => {
        assert.equal(options?.input, '/scratch/w/.drover-job/key-81\n');
        return { stdout: `${record('3')}\n` };
      },
    });
    const observations = await new SlurmScheduler({ shell, resource: 'c' }).poll([job('81')]);
    assert.deepEqual(shell.programs(), ['squeue', 'sacct', 'drover-read']);
    assert.equal(observations.get('81')?.state, 'failed');
    assert.equal(observations.get('81')?.nativeState, 'FAILED');
    assert.equal(observations.get('81')?.exitCode, 3);
  });

  test('a cancel that slurmdbd has not recorded yet waits for sacct to say who canceled, for a minute at most', async () => {
    const now = Math.floor(Date.now() / 1000);
    const poll = async (endedSecondsAgo: number) => {
      const ended = now - endedSecondsAgo;
      const shell = new ScriptedShell({
        squeue: { stdout: `84|CANCELLED|vm|${ended - 30}|${ended}|None\n` },
        sacct: { stdout: `84|RUNNING|0:0|vm|${ended - 30}|Unknown|None\n` },
        'drover-read': { stdout: `${record('143')}\n` },
      });
      return (await new SlurmScheduler({ shell, resource: 'c' }).poll([job('84')])).get('84');
    };
    assert.equal(await poll(5), undefined, 'left for a later poll');
    const late = await poll(90);
    assert.equal(late?.state, 'canceled', 'after a minute, squeue settles it');
    assert.equal(late?.reason, undefined);
  });

  test('with slurmdbd down, a forgotten job is settled by its files or left out, never lost', async () => {
    const shell = new ScriptedShell({
      squeue: { stdout: '' },
      sacct: { code: 1, stderr: 'sacct: error: Problem talking to the database: Connection refused\n' },
      'drover-read': { stdout: `${record('0')}\n${record('')}\n` },
    });
    const observations = await new SlurmScheduler({ shell, resource: 'c' }).poll([job('1'), job('2')]);
    assert.equal(observations.get('1')?.state, 'completed');
    assert.equal(observations.get('1')?.nativeState, 'vanished');
    assert.equal(observations.has('2'), false);
  });

  test('without accounting, a job that neither Slurm nor its files know is lost', async () => {
    const shell = new ScriptedShell({
      squeue: { stdout: '' },
      sacct: { code: 1, stderr: 'Slurm accounting storage is disabled\n' },
      'drover-read': { stdout: `${record('')}\n` },
    });
    const observations = await new SlurmScheduler({ shell, resource: 'c' }).poll([job('2')]);
    assert.equal(observations.get('2')?.state, 'lost');
  });

  test('asks sacct about 500 jobs at a time', async () => {
    const shell = new ScriptedShell({
      squeue: { stdout: '' },
      sacct: (argv) => ({
        stdout: argv[argv.indexOf('-j') + 1]
          .split(',')
          .map((id) => `${id}|COMPLETED|0:0|vm|1|2|None`)
          .join('\n'),
      }),
    });
    const jobs = Array.from({ length: 1200 }, (_, index) => job(String(index + 1)));
    const observations = await new SlurmScheduler({ shell, resource: 'c' }).poll(jobs);
    assert.deepEqual(shell.programs(), ['squeue', 'sacct', 'sacct', 'sacct']);
    assert.equal(observations.size, 1200);
  });

  test('a controller that does not answer throws ResourceUnreachableError', async () => {
    const shell = new ScriptedShell({
      squeue: { code: 1, stderr: 'slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n' },
    });
    await assert.rejects(new SlurmScheduler({ shell, resource: 'c' }).poll([job('1')]), ResourceUnreachableError);
  });

  test('ids that a Slurm client could read as options are refused', async () => {
    const shell = new ScriptedShell({});
    await assert.rejects(new SlurmScheduler({ shell, resource: 'c' }).poll([job('--me')]), RangeError);
    await assert.rejects(new SlurmScheduler({ shell, resource: 'c' }).cancel(job('-u')), RangeError);
    assert.deepEqual(shell.commands, []);
  });
});

describe('SlurmScheduler.submit and find', () => {
  const spec = {
    submissionKey: 'task-1.attempt-1',
    workdir: '/scratch/w',
    jobName: 'j',
    nodes: 1,
    coresPerNode: 1,
    walltimeMinutes: 1,
    environmentSetup: [],
    argv: ['true'],
  };

  /** The batch command's answer for its one job (see batchSubmitCommand): a `drover-result` line. */
  const batchAnswer = (result: Partial<CommandResult>): Partial<CommandResult> => {
    const escape = (text: string) =>
      text.replace(/[\\\n\r\t]/g, (c) => ({ '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' })[c]!);
    return {
      stdout: `drover-result 0 ${result.code ?? 0}\t${escape(result.stdout ?? '')}\t${escape(result.stderr ?? '')}\n`,
    };
  };

  test('sends the rendered script on stdin as data, with the key, script path and earlier keys', async () => {
    const inputs: string[] = [];
    const shell = new ScriptedShell({
      'drover-submit': (argv, options) => {
        inputs.push(String(options?.input ?? ''));
        return batchAnswer({ stdout: 'submitted task-1.attempt-1 42\n' });
      },
    });
    const scheduler = new SlurmScheduler({ shell, resource: 'c' });
    assert.deepEqual(await scheduler.submit(spec), {
      nativeId: '42',
      adopted: false,
      submissionKey: 'task-1.attempt-1',
      details: {},
    });
    const [argv] = shell.commands;
    assert.deepEqual(argv.slice(3), ['drover-submit', '0']);
    assert.ok(!argv[2].includes('task-1'), 'the fixed script holds no user data');
    const path = '/scratch/w/.drover-job/task-1.attempt-1/job.sh';
    assert.ok(inputs[0].startsWith(`job task-1.attempt-1 ${path.length} `), inputs[0].slice(0, 80));
    assert.ok(inputs[0].includes(`\n${path}#!/bin/bash`), 'the script path, then the rendered script');

    const retry = {
      ...spec,
      submissionKey: 'task-1.attempt-3',
      earlierSubmissionKeys: ['task-1.attempt-1', 'task-1.attempt-2'],
    };
    await scheduler.submit(retry).catch(() => {});
    assert.match(inputs[1], /^job task-1\.attempt-3 \d+ \d+ task-1\.attempt-1 task-1\.attempt-2\n/);
    await assert.rejects(scheduler.submit({ ...retry, earlierSubmissionKeys: ['-x'] }), invalidJobSpec);
  });

  test('adopts, refuses, and tells an unreachable controller apart', async () => {
    const answer = (result: Partial<CommandResult>) =>
      new SlurmScheduler({
        shell: new ScriptedShell({ 'drover-submit': () => batchAnswer(result) }),
        resource: 'c',
      }).submit(spec);
    assert.deepEqual(await answer({ stdout: 'adopted task-1.attempt-0 42\n' }), {
      nativeId: '42',
      adopted: true,
      submissionKey: 'task-1.attempt-0',
      details: {},
    });
    await assert.rejects(
      answer({ code: 5, stderr: 'sbatch: error: Batch job submission failed: Invalid partition name specified\n' }),
      (error: unknown) =>
        error instanceof TaskError &&
        error.code === 'submit-rejected' &&
        !error.retryable &&
        error.message === 'Batch job submission failed: Invalid partition name specified',
    );
    await assert.rejects(
      answer({
        code: 5,
        stderr: 'sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)\n',
      }),
      ResourceUnreachableError,
    );
    await assert.rejects(
      answer({ code: 3, stderr: 'mkdir: Permission denied' }),
      (error: unknown) => error instanceof TaskError && error.code === 'submit-failed',
    );
    for (const stdout of ['what?\n', 'adopted 42\n', 'adopted bad/key 42\n']) {
      await assert.rejects(
        answer({ stdout }),
        (error: unknown) => error instanceof TaskError && error.code === 'submit-failed',
      );
    }
  });

  test("find asks squeue under the task's submit lock, then sacct over all time, and prefers the earlier key", async () => {
    const shell = new ScriptedShell({
      'drover-find': { stdout: '' },
      sacct: { stdout: '90|b.attempt-1\n88|a.attempt-1\n89|a.attempt-1\n' },
    });
    const found = await new SlurmScheduler({ shell, resource: 'c' }).find({
      workdir: '/w',
      submissionKeys: ['a.attempt-1', 'b.attempt-1', 'bad key'],
    });
    assert.deepEqual(found, { nativeId: '88', adopted: true, submissionKey: 'a.attempt-1', details: {} });
    assert.match(shell.commands[0][2], /flock -s -w 90 9/);
    assert.deepEqual(
      shell.commands.map((argv) => (argv[0] === 'bash' ? argv.slice(3) : argv).join(' ')),
      [
        'drover-find /w a.attempt-1 b.attempt-1',
        'sacct -X -P -n --name=a.attempt-1,b.attempt-1 -S 2000-01-01 -o JobID,JobName',
      ],
    );
    assert.equal(
      await new SlurmScheduler({ shell, resource: 'c' }).find({ workdir: '/w', submissionKeys: ['bad key'] }),
      null,
    );
  });

  test("find adopts an array element by its array's name and its index, which its job directory records", async () => {
    // The find command prints the records, then squeue's lines: the pending rest of the
    // array collapsed (`40_[2-3]`), elements that started one a line.
    const shell = new ScriptedShell({
      'drover-find': {
        stdout: 'drover-array-element b.attempt-1 drover-array-1f 3\n40_[2-3]|drover-array-1f\n40_0|drover-array-1f\n',
      },
    });
    const found = await new SlurmScheduler({ shell, resource: 'c' }).find({
      workdir: '/w',
      submissionKeys: ['a.attempt-1', 'b.attempt-1'],
    });
    assert.deepEqual(found, { nativeId: '40_3', adopted: true, submissionKey: 'b.attempt-1', details: {} });
    assert.equal(shell.commands.length, 1, 'squeue knew it: no sacct');
    // Only sacct knows it any more: its rows are the elements'.
    const accounted = new ScriptedShell({
      'drover-find': { stdout: 'drover-array-element a.attempt-1 drover-array-2e 1\n' },
      sacct: { stdout: '41_0|drover-array-2e\n41_1|drover-array-2e\n' },
    });
    assert.deepEqual(
      await new SlurmScheduler({ shell: accounted, resource: 'c' }).find({
        workdir: '/w',
        submissionKeys: ['a.attempt-1'],
      }),
      { nativeId: '41_1', adopted: true, submissionKey: 'a.attempt-1', details: {} },
    );
    assert.equal(
      accounted.commands[1].find((word) => word.startsWith('--name=')),
      '--name=drover-array-2e',
    );
  });
});
