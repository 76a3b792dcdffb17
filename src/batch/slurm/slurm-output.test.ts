/**
 * The Slurm parsers on output captured from the test cluster (Slurm 22.05.8), times
 * printed with SLURM_TIME_FORMAT=%s.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  isSlurmAccountingDisabledMessage,
  isSlurmUnreachableMessage,
  parseArrayElementRecords,
  parseJobNames,
  parseMaxArraySize,
  parseSacct,
  parseSbatchParsable,
  parseSlurmExitCode,
  parseSlurmNodeList,
  parseSlurmReason,
  parseSlurmTime,
  parseSqueue,
  sbatchErrorMessage,
  toObservation,
} from './slurm-output.ts';

/** `squeue --me -h -t all -o '%i|%T|%N|%S|%e|%r'` with a job running, one timed out, one pending behind it. */
const squeueOutput = `82|CANCELLED|vm|1795369614|1795369616|None
84|CANCELLED||1795369616|1795369616|Resources
80|COMPLETED|vm|1795369614|1795369614|None
81|FAILED|vm|1795369614|1795369614|NonZeroExitCode
83|TIMEOUT|vm|1795369614|1795369692|TimeLimit
10|PENDING||1795369055|1795369175|Resources
9|RUNNING|vm|1795368935|1795369055|None
12|PENDING||N/A|N/A|Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority partitions
`;

/** `sacct -P -n -j 80,81,82,83,84 -o JobID,State,ExitCode,NodeList,Start,End,Reason` (without -X: step rows too). */
const sacctOutput = `80|COMPLETED|0:0|vm|1795369614|1795369614|None
81|FAILED|3:0|vm|1795369614|1795369614|None
82|CANCELLED by 1001|0:0|vm|1795369614|1795369616|None
82.batch|CANCELLED|0:15|vm|1795369614|1795369616|
83|TIMEOUT|0:0|vm|1795369614|1795369692|None
83.batch|CANCELLED|0:15|vm|1795369614|1795369692|
84|CANCELLED by 1001|0:0|None assigned|1795369616|1795369616|None
`;

describe('parsers', () => {
  test('parseSqueue keeps a reason that is a whole sentence', () => {
    const rows = parseSqueue(squeueOutput);
    assert.equal(rows.length, 8);
    assert.deepEqual(rows[3], {
      jobId: '81',
      state: 'FAILED',
      nodeList: 'vm',
      start: '1795369614',
      end: '1795369614',
      reason: 'NonZeroExitCode',
    });
    assert.equal(
      rows[7].reason,
      'Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority partitions',
    );
    assert.equal(parseSlurmTime(rows[7].start), undefined);
  });

  test('parseSacct skips step rows', () => {
    const rows = parseSacct(sacctOutput);
    assert.deepEqual(
      rows.map((row) => row.jobId),
      ['80', '81', '82', '83', '84'],
    );
    assert.deepEqual(rows[4], {
      jobId: '84',
      state: 'CANCELLED by 1001',
      exitCode: '0:0',
      nodeList: 'None assigned',
      start: '1795369616',
      end: '1795369616',
      reason: 'None',
    });
  });

  test('parseJobNames reads squeue %i|%j and sacct JobID|JobName', () => {
    assert.deepEqual(parseJobNames('80|cap-ok\n81|cap-exit3\n81.batch|batch\n'), [
      { jobId: '80', name: 'cap-ok' },
      { jobId: '81', name: 'cap-exit3' },
    ]);
    assert.deepEqual(parseJobNames(''), []);
  });

  test('parseSlurmExitCode: the code, or 128 + the signal', () => {
    assert.equal(parseSlurmExitCode('0:0'), 0);
    assert.equal(parseSlurmExitCode('3:0'), 3);
    assert.equal(parseSlurmExitCode('0:15'), 143);
    assert.equal(parseSlurmExitCode('0:9'), 137);
    assert.equal(parseSlurmExitCode(''), null);
  });

  test("times, node lists and reasons: Slurm's words for none are absent", () => {
    assert.deepEqual(parseSlurmTime('1795369614'), new Date(1795369614_000));
    for (const none of ['Unknown', 'N/A', 'None', '', '0']) assert.equal(parseSlurmTime(none), undefined);
    assert.equal(parseSlurmNodeList('vm'), 'vm');
    assert.equal(parseSlurmNodeList('None assigned'), undefined);
    assert.equal(parseSlurmNodeList(''), undefined);
    assert.equal(parseSlurmReason('None'), undefined);
    assert.equal(parseSlurmReason('Priority'), 'Priority');
  });

  test('parseSbatchParsable: the id, with or without a cluster name', () => {
    assert.equal(parseSbatchParsable('616\n'), '616');
    assert.equal(parseSbatchParsable('616;drover-test\n'), '616');
    assert.equal(parseSbatchParsable('sbatch: error: x\n'), null);
  });

  test("parseMaxArraySize reads scontrol's configuration; parseArrayElementRecords the find command's records", () => {
    const config =
      'MailProg                = /bin/mail\nMaxArraySize            = 1001\nMaxJobCount             = 10000\n';
    assert.equal(parseMaxArraySize(config), 1001);
    assert.equal(parseMaxArraySize('MaxJobCount = 10000\n'), null);
    assert.deepEqual(
      parseArrayElementRecords('drover-array-element k.attempt-1 drover-array-ab 7\n12|k.attempt-1\n'),
      new Map([['k.attempt-1', { name: 'drover-array-ab', index: 7 }]]),
    );
  });
});

describe('messages', () => {
  test('sbatch refusals keep their words, without the prefix', () => {
    assert.equal(
      sbatchErrorMessage(
        'sbatch: error: invalid partition specified: nope\nsbatch: error: Batch job submission failed: Invalid partition name specified\n',
      ),
      'invalid partition specified: nope; Batch job submission failed: Invalid partition name specified',
    );
    assert.equal(sbatchErrorMessage(''), 'sbatch failed without a message');
  });

  test('a controller that does not answer is told apart from a refusal', () => {
    for (const message of [
      'slurm_load_jobs error: Unable to contact slurm controller (connect failure)',
      'sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)',
      'scancel: error: Kill job error on job id 5: Unable to contact slurm controller (connect failure)',
      'slurm_load_jobs error: Socket timed out on send/recv operation',
      'sacct: error: Problem talking to the database: Connection refused',
    ]) {
      assert.equal(isSlurmUnreachableMessage(message), true, message);
    }
    for (const message of [
      'sbatch: error: Batch job submission failed: Invalid partition name specified',
      'sbatch: error: Batch job submission failed: Requested time limit is invalid (missing or exceeds some limit)',
      'sbatch: error: Memory specification can not be satisfied',
    ]) {
      assert.equal(isSlurmUnreachableMessage(message), false, message);
    }
    assert.equal(isSlurmAccountingDisabledMessage('Slurm accounting storage is disabled'), true);
  });
});

test('toObservation leaves out what Slurm left empty, and keeps a null exit code', () => {
  assert.deepEqual(
    toObservation({ nativeId: '9', state: 'queued', nativeState: 'PENDING', reason: undefined, nodeList: '' }),
    {
      nativeId: '9',
      state: 'queued',
      nativeState: 'PENDING',
    },
  );
  const startedAt = new Date(1795368935_000);
  assert.deepEqual(
    toObservation({
      nativeId: '83',
      state: 'timed-out',
      nativeState: 'TIMEOUT',
      exitCode: null,
      reason: 'TimeLimit',
      startedAt,
      nodeList: 'vm',
    }),
    {
      nativeId: '83',
      state: 'timed-out',
      nativeState: 'TIMEOUT',
      exitCode: null,
      reason: 'TimeLimit',
      startedAt,
      nodeList: 'vm',
    },
  );
});
