/**
 * How `runBatchSubmit` reads a submit command's answer: adopted or submitted, a refusal
 * (final), any other failure or an unreadable answer (retryable), an unreachable server.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { JobSpec } from './port.ts';
import type { CommandResult, RunOptions } from '../shell/port.ts';
import { CommandOnlyShell } from '../../test/command-only-shell.ts';
import { ResourceUnreachableError } from '../domain/errors.ts';
import { TaskError } from '../domain/failure.ts';
import { runBatchSubmit, type BatchSubmitAnswers } from './remote-submit.ts';

/** Answers every command with `result` and remembers what it was asked. */
class AnsweringShell extends CommandOnlyShell {
  readonly calls: Array<{ argv: string[]; options?: RunOptions }> = [];
  constructor(private readonly result: Partial<CommandResult>) {
    super();
  }
  async run(argv: string[], options?: RunOptions): Promise<CommandResult> {
    this.calls.push({ argv, options });
    return { code: 0, stdout: '', stderr: '', ...this.result };
  }
}

const spec: JobSpec = {
  submissionKey: 'task-1.attempt-2',
  earlierSubmissionKeys: ['task-1.attempt-1'],
  workdir: '/scratch/w',
  jobName: 'j',
  nodes: 1,
  coresPerNode: 1,
  walltimeMinutes: 1,
  environmentSetup: [],
  argv: ['true'],
};
const answers: BatchSubmitAnswers = {
  isUnreachable: (message) => /connection refused/.test(message),
  unreachable: (message) => new ResourceUnreachableError('cluster', message),
  refusal: (result) => `refused: ${result.stderr.trim()}`,
  parseId: (word) => (/^\d+$/.test(word) ? word : null),
};
const submit = (result: Partial<CommandResult>) =>
  runBatchSubmit(new AnsweringShell(result), spec, '#!/bin/bash\n', 'SCRIPT', answers);
const taskError = (code: string, retryable: boolean) => (error: unknown) =>
  error instanceof TaskError && error.code === code && error.retryable === retryable;

describe('runBatchSubmit', () => {
  test('runs the submit script once with the key, the script path and the earlier keys, the job script on stdin', async () => {
    const shell = new AnsweringShell({ stdout: 'submitted task-1.attempt-2 42\n' });
    assert.deepEqual(await runBatchSubmit(shell, spec, '#!/bin/bash\n', 'SCRIPT', answers), {
      nativeId: '42',
      adopted: false,
      submissionKey: 'task-1.attempt-2',
      details: {},
    });
    assert.deepEqual(
      shell.calls.map((call) => call.argv),
      [
        [
          'bash',
          '-c',
          'SCRIPT',
          'drover-submit',
          'task-1.attempt-2',
          '/scratch/w/.drover-job/task-1.attempt-2/job.sh',
          'task-1.attempt-1',
        ],
      ],
    );
    assert.equal(shell.calls[0].options?.input, '#!/bin/bash\n');
  });

  test('an adopted job keeps the key it was found under', async () => {
    assert.deepEqual(await submit({ stdout: 'adopted task-1.attempt-1 41\n' }), {
      nativeId: '41',
      adopted: true,
      submissionKey: 'task-1.attempt-1',
      details: {},
    });
  });

  test('exit 5 is a final submit-rejected with the refusal; another exit a retryable submit-failed', async () => {
    await assert.rejects(
      submit({ code: 5, stderr: 'no such queue\n' }),
      (error: unknown) =>
        taskError('submit-rejected', false)(error) && (error as Error).message === 'refused: no such queue',
    );
    await assert.rejects(submit({ code: 6, stderr: 'another submit still runs' }), taskError('submit-failed', true));
  });

  test('an answer without a plain key and a job id is a retryable submit-failed', async () => {
    for (const stdout of [
      '',
      'submitted task-1.attempt-2 not-an-id\n',
      'submitted -x 42\n',
      'queued task-1.attempt-2 42\n',
    ]) {
      await assert.rejects(submit({ stdout }), taskError('submit-failed', true), stdout);
    }
  });

  test('a server that does not answer is ResourceUnreachableError, whatever the exit code', async () => {
    await assert.rejects(submit({ code: 5, stderr: 'connection refused' }), ResourceUnreachableError);
  });
});
