import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { JobSpec } from './port.ts';
import { TaskError } from '../domain/failure.ts';
import { checkBatchJobSpec, jobDirectoryOf, renderBatchJobBody, walltimeLimitMinutes } from './job-script.ts';

/** A spec no attempt can submit fails for good: a final `invalid-job-spec`, never a retry. */
const invalidJobSpec = (error: unknown) =>
  error instanceof TaskError && error.code === 'invalid-job-spec' && error.retryable === false;

const temporaryDirectories: string[] = [];
after(async () => {
  for (const directory of temporaryDirectories) await fs.rm(directory, { recursive: true, force: true });
});

async function makeSpec(argv: string[], overrides: Partial<JobSpec> = {}): Promise<JobSpec> {
  const workdir = await fs.mkdtemp(path.join(os.tmpdir(), 'drover-body-'));
  temporaryDirectories.push(workdir);
  return {
    submissionKey: `task-${Math.random().toString(36).slice(2)}.attempt-1`,
    workdir,
    jobName: 'body-test',
    nodes: 1,
    coresPerNode: 1,
    walltimeMinutes: 1,
    environmentSetup: [],
    argv,
    ...overrides,
  };
}

/** Runs the body the way a scheduler would (bash, the script from a file), from another directory. */
async function runBody(
  spec: JobSpec,
  onStart?: (pid: number) => void,
): Promise<{ code: number | null; stdout: string }> {
  const scriptPath = path.join(spec.workdir, 'job.sh');
  await fs.writeFile(scriptPath, ['#!/bin/bash', ...renderBatchJobBody(spec)].join('\n'));
  const child = spawn('bash', [scriptPath], { cwd: os.tmpdir(), stdio: ['ignore', 'pipe', 'ignore'] });
  onStart?.(child.pid!);
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', (exitCode) => resolve(exitCode)));
  return { code, stdout };
}

async function readJobFile(spec: JobSpec, name: string): Promise<string | null> {
  return fs.readFile(path.join(jobDirectoryOf(spec.workdir, spec.submissionKey), name), 'utf8').catch(() => null);
}

describe('renderBatchJobBody', () => {
  test('runs the argv in the workdir with the environment and setup, and records how it ended', async () => {
    const tricky = `it's $(touch pwned) \`touch pwned\` * "q" \\ \n ; touch pwned`;
    const spec = await makeSpec(['bash', '-c', 'pwd; printf "%s\\n" "$VALUE" "$FROM_SETUP" "$@"', 'job', tricky, ''], {
      environment: { VALUE: tricky },
      environmentSetup: ['FROM_SETUP=ready', 'export FROM_SETUP'],
    });
    const before = Math.floor(Date.now() / 1000);
    const { code, stdout } = await runBody(spec);
    assert.equal(code, 0);
    assert.equal(stdout, `${spec.workdir}\n${tricky}\nready\n${tricky}\n\n`);
    assert.equal(await readJobFile(spec, 'exit-code'), '0\n');
    assert.equal(await readJobFile(spec, 'node'), `${os.hostname()}\n`);
    assert.ok(Number(await readJobFile(spec, 'started-at')) >= before);
    assert.ok(Number(await readJobFile(spec, 'ended-at')) >= Number(await readJobFile(spec, 'started-at')));
    assert.equal(await readJobFile(spec, 'walltime-exceeded'), null);
    await assert.rejects(fs.stat(path.join(spec.workdir, 'pwned')));
  });

  test("records a failing command's exit code, and the script exits with it", async () => {
    const spec = await makeSpec(['bash', '-c', 'exit 3']);
    assert.equal((await runBody(spec)).code, 3);
    assert.equal(await readJobFile(spec, 'exit-code'), '3\n');
  });

  test('a failing setup line is recorded too', async () => {
    const spec = await makeSpec(['true'], { environmentSetup: ['set -e', 'false'] });
    assert.equal((await runBody(spec)).code, 1);
    assert.equal(await readJobFile(spec, 'exit-code'), '1\n');
  });

  test('SIGTERM to the script and its command (as a scheduler sends it) records 143, no walltime-exceeded before the limit', async () => {
    const spec = await makeSpec(['bash', '-c', 'echo $$ > command.pid; exec sleep 30']);
    let pid = 0;
    const running = runBody(spec, (started) => {
      pid = started;
    });
    // Wait for the command to start, then signal the script and the command, like scancel does.
    const deadline = Date.now() + 5_000;
    while (!(await fs.readFile(path.join(spec.workdir, 'command.pid'), 'utf8').catch(() => '')).endsWith('\n')) {
      assert.ok(Date.now() < deadline, 'the command did not start');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    for (const child of await descendants(pid)) process.kill(child, 'SIGTERM');
    process.kill(pid, 'SIGTERM');
    assert.equal((await running).code, 143);
    assert.equal(await readJobFile(spec, 'exit-code'), '143\n');
    assert.equal(await readJobFile(spec, 'walltime-exceeded'), null);
  });

  test('a signal that arrives while the script records its ending does not stop the recording', async () => {
    // A scheduler signals every process of the job at once, so the command may end first and
    // the script get its TERM while it writes its files: an `mv` that sends that TERM to the
    // script makes the moment certain (the exports, PATH included, apply after the start).
    const shims = await fs.mkdtemp(path.join(os.tmpdir(), 'drover-mv-shim-'));
    temporaryDirectories.push(shims);
    await fs.writeFile(path.join(shims, 'mv'), '#!/bin/bash\nkill -TERM "$PPID"\nexec /bin/mv "$@"\n', { mode: 0o755 });
    const spec = await makeSpec(['bash', '-c', 'exit 3'], { environment: { PATH: `${shims}:${process.env.PATH}` } });
    assert.equal((await runBody(spec)).code, 3);
    assert.equal(await readJobFile(spec, 'exit-code'), '3\n');
    assert.notEqual(await readJobFile(spec, 'ended-at'), null);
  });

  test("a requeued run forgets the previous run's ending", async () => {
    const spec = await makeSpec(['bash', '-c', 'test -e marker || { touch marker; exit 4; }']);
    assert.equal((await runBody(spec)).code, 4);
    assert.equal((await runBody(spec)).code, 0);
    assert.equal(await readJobFile(spec, 'exit-code'), '0\n');
  });
});

describe('checkBatchJobSpec', () => {
  const valid: JobSpec = {
    submissionKey: 'task-1.attempt-1',
    workdir: '/home/user/work_dir',
    jobName: 'job',
    nodes: 1,
    coresPerNode: 1,
    walltimeMinutes: 1,
    environmentSetup: [],
    argv: ['true'],
  };
  test('accepts plain values', () => {
    assert.doesNotThrow(() => checkBatchJobSpec(valid));
  });
  for (const [field, value] of [
    ['submissionKey', 'a,b'],
    ['submissionKey', '-x'],
    ['submissionKey', 'a b'],
    ['jobName', 'a b'],
    ['workdir', 'relative'],
    ['workdir', '/with space'],
    ['workdir', '/pct%j'],
    ['workdir', "/quote's"],
    ['workdir', '/a/../b'],
    ['queue', 'debug;rm'],
    ['account', 'a b'],
    ['nodes', 0],
    ['coresPerNode', 1.5],
    ['memoryMb', -1],
    ['walltimeMinutes', 0],
    ['argv', []],
    ['environment', { lower: 'x' }],
  ] as const) {
    test(`rejects ${field} = ${JSON.stringify(value)}`, () => {
      assert.throws(() => checkBatchJobSpec({ ...valid, [field]: value }), invalidJobSpec);
    });
  }
});

test('walltimeLimitMinutes rounds up to whole minutes, at least one', () => {
  assert.equal(walltimeLimitMinutes(0.05), 1);
  assert.equal(walltimeLimitMinutes(1), 1);
  assert.equal(walltimeLimitMinutes(1.0000000001), 1);
  assert.equal(walltimeLimitMinutes(1.5), 2);
  assert.equal(walltimeLimitMinutes(60), 60);
  assert.throws(() => walltimeLimitMinutes(Number.NaN), invalidJobSpec);
});

/** Pids of the processes below `pid`, from /proc. */
async function descendants(pid: number): Promise<number[]> {
  const parents = new Map<number, number>();
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await fs.readFile(`/proc/${entry}/stat`, 'utf8').catch(() => null);
    if (stat) parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
  }
  const found: number[] = [];
  const visit = (parent: number) => {
    for (const [child, itsParent] of parents)
      if (itsParent === parent) {
        found.push(child);
        visit(child);
      }
  };
  visit(pid);
  return found;
}
