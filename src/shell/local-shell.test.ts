/**
 * LocalShell's file calls never follow a link a job planted in its folder, and never hang
 * on a FIFO: what a job leaves is read or copied into Drover's storage only when it is a
 * regular file of the job's own.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm, symlink, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalShell } from './local-shell.ts';

const shell = new LocalShell();
let job: string;
let storage: string;
before(async () => {
  job = await mkdtemp(join(tmpdir(), 'drover-job-'));
  storage = await mkdtemp(join(tmpdir(), 'drover-storage-'));
  await writeFile(join(job, 'real.txt'), 'mine');
  await symlink('/etc/passwd', join(job, 'stdout.txt'));
  await symlink('real.txt', join(job, 'inside.txt'));
  await mkdir(join(job, 'results'));
  await symlink('/etc', join(job, 'linked-folder'));
  execFileSync('mkfifo', [join(job, 'pipe.txt')]);
});
after(async () => {
  await rm(job, { recursive: true, force: true });
  await rm(storage, { recursive: true, force: true });
});

describe('LocalShell and links', () => {
  it('readFile refuses a link (out of the folder or in it) and a FIFO, and reads a regular file', async () => {
    await assert.rejects(shell.readFile(join(job, 'stdout.txt')), /symbolic link/);
    await assert.rejects(shell.readFile(join(job, 'inside.txt')), /symbolic link/);
    await assert.rejects(shell.readFile(join(job, 'pipe.txt')), /not a regular file/);
    assert.equal((await shell.readFile(join(job, 'real.txt')))?.toString(), 'mine');
    assert.equal(await shell.readFile(join(job, 'missing.txt')), null);
  });

  it('download refuses a link and copies nothing', async () => {
    await assert.rejects(shell.download(join(job, 'stdout.txt'), join(storage, 'stdout.txt')), /symbolic link/);
    await assert.rejects(shell.download(join(job, 'pipe.txt'), join(storage, 'pipe.txt')), /not a regular file/);
    assert.deepEqual(await readdir(storage), []);
    await shell.download(join(job, 'real.txt'), join(storage, 'real.txt'));
    assert.deepEqual(await readdir(storage), ['real.txt']);
  });

  it('glob lists regular files only: no link, to a file or a folder', async () => {
    assert.deepEqual(await shell.glob(job, ['*.txt', 'linked-folder/*', '**/passwd']), ['real.txt']);
  });
});
