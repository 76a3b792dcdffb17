import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalShell } from '../shell/local-shell.ts';
import { CountingShell } from '../../test/conformance/scheduler-suite.ts';
import { observeFinishedJob, parseBatchJobRecord, readBatchJobRecords, type BatchJobRecord } from './job-files.ts';

const temporaryDirectories: string[] = [];
after(async () => {
  for (const directory of temporaryDirectories) await fs.rm(directory, { recursive: true, force: true });
});

describe('readBatchJobRecords and observeFinishedJob', () => {
  test('reads many job directories in one command, in order', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'drover-records-'));
    temporaryDirectories.push(root);
    const write = async (name: string, files: Record<string, string>) => {
      await fs.mkdir(path.join(root, name), { recursive: true });
      for (const [file, text] of Object.entries(files)) await fs.writeFile(path.join(root, name, file), text);
    };
    await write('ok', {
      'exit-code': '0\n',
      node: 'vm\n',
      'started-at': '1795368741\n',
      'ended-at': '1795368750\n',
      'native-id': '42\n',
    });
    await write('timeout', { 'exit-code': '143\n', 'walltime-exceeded': '' });
    await write('canceled', { canceled: '' });
    await write('killed', { 'started-at': '1795368741\n' });
    const counting = new CountingShell(new LocalShell());
    const names = ['ok', 'timeout', 'canceled', 'killed', 'missing'];
    const records = await readBatchJobRecords(
      counting,
      names.map((name) => path.join(root, name)),
    );
    assert.equal(counting.programs.length, 1);
    assert.deepEqual(records[0], {
      exists: true,
      exitCode: 0,
      walltimeExceeded: false,
      canceled: false,
      node: 'vm',
      startedAt: new Date(1795368741_000),
      endedAt: new Date(1795368750_000),
      nativeId: '42',
    });
    assert.deepEqual(
      records.map((record, index) => ({ name: names[index], ...pick(observeFinishedJob('1', record, 'C')) })),
      [
        { name: 'ok', state: 'completed', nativeState: 'C', exitCode: 0 },
        { name: 'timeout', state: 'timed-out', nativeState: 'C', exitCode: 143 },
        { name: 'canceled', state: 'canceled', nativeState: 'C', exitCode: null },
        { name: 'killed', state: 'lost', nativeState: 'vanished', exitCode: null },
        { name: 'missing', state: 'lost', nativeState: 'vanished', exitCode: null },
      ],
    );
    assert.equal(records[4].exists, false);
  });

  test('an exit code of 0 wins over a canceled marker; a canceled marker over walltime-exceeded', () => {
    const record = (overrides: Partial<BatchJobRecord>): BatchJobRecord => ({
      exists: true,
      exitCode: null,
      walltimeExceeded: false,
      canceled: false,
      ...overrides,
    });
    assert.equal(observeFinishedJob('1', record({ exitCode: 0, canceled: true }), 'C').state, 'completed');
    assert.equal(
      observeFinishedJob('1', record({ exitCode: 143, canceled: true, walltimeExceeded: true }), 'C').state,
      'canceled',
    );
    assert.equal(observeFinishedJob('1', record({ exitCode: 2 }), 'C').state, 'failed');
  });

  test('a job stopped by a signal outside Drover (qdel, the system) fails, naming the signal', () => {
    const record = (exitCode: number): BatchJobRecord => ({
      exists: true,
      exitCode,
      walltimeExceeded: false,
      canceled: false,
    });
    const stopped = observeFinishedJob('1', record(143), 'C');
    assert.equal(stopped.state, 'failed');
    assert.equal(stopped.reason, 'stopped by signal 15 (SIGTERM)');
    assert.equal(observeFinishedJob('1', record(137), 'C').reason, 'stopped by signal 9 (SIGKILL)');
    assert.equal(observeFinishedJob('1', record(140), 'C').reason, 'stopped by signal 12');
    assert.equal(observeFinishedJob('1', record(3), 'C').reason, undefined, 'an exit code of its own names no signal');
    assert.equal(observeFinishedJob('1', record(128), 'C').reason, undefined);
  });

  test('parseBatchJobRecord ignores unreadable values', () => {
    assert.deepEqual(parseBatchJobRecord('1\tx\t0\t0\t\tsoon\t\t'), {
      exists: true,
      exitCode: null,
      walltimeExceeded: false,
      canceled: false,
    });
  });
});

function pick(observation: { state: string; nativeState: string; exitCode?: number | null }) {
  return { state: observation.state, nativeState: observation.nativeState, exitCode: observation.exitCode };
}
