/**
 * The failure vocabulary: the table says which codes a retry may help, the constructors
 * follow it, and whatever a handler throws becomes one failure (`failureFromError`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResourceUnreachableError } from './errors.ts';
import { failureCodes, failureFromError, finalFailure, retryableFailure, TaskError } from './failure.ts';
import { unlimitedRetryFailureCodes } from './task.ts';

test('the table holds the shared vocabulary, each code retryable or final', () => {
  const retryable = Object.entries(failureCodes).flatMap(([code, { retryable }]) => (retryable ? [code] : []));
  assert.deepEqual(retryable.sort(), [
    'handed-back',
    'internal',
    'lease-expired',
    'resource-unreachable',
    'store-unreachable',
    'submit-failed',
    'submit-limit',
    'worker-lost',
  ]);
  assert.deepEqual(
    Object.keys(failureCodes)
      .filter((code) => !retryable.includes(code))
      .sort(),
    [
      'canceled',
      'invalid-job-spec',
      'job-failed',
      'job-lost',
      'job-timed-out',
      'no-handler',
      'not-permitted',
      'resource-misconfigured',
      'submit-rejected',
    ],
  );
  for (const code of unlimitedRetryFailureCodes) {
    assert.ok(code in failureCodes, 'the codes the retry rule looks for are in the table');
    assert.equal(failureCodes[code].retryable, true, `${code} is retried`);
  }
});

test('retryableFailure and finalFailure make TaskErrors whose retryability follows the table', () => {
  const retry = retryableFailure('submit-failed', 'unreadable answer');
  assert.ok(retry instanceof TaskError);
  assert.deepEqual(
    [retry.code, retry.message, retry.retryable, retry.name],
    ['submit-failed', 'unreadable answer', true, 'TaskError'],
  );
  const final = finalFailure('invalid-job-spec', 'workdir must be an absolute path');
  assert.deepEqual(
    [final.code, final.message, final.retryable],
    ['invalid-job-spec', 'workdir must be an absolute path', false],
  );
  for (const [code, { retryable }] of Object.entries(failureCodes)) {
    const made = retryable ? retryableFailure(code as never, 'm') : finalFailure(code as never, 'm');
    assert.equal(made.retryable, retryable, code);
  }
});

test('a thrown TaskError becomes its failure as given, even against the table', () => {
  assert.deepEqual(failureFromError(finalFailure('submit-rejected', 'sbatch: invalid partition')), {
    code: 'submit-rejected',
    message: 'sbatch: invalid partition',
    retryable: false,
  });
  assert.deepEqual(failureFromError(new TaskError('internal', 'given as final', false)), {
    code: 'internal',
    message: 'given as final',
    retryable: false,
  });
});

test('a ResourceUnreachableError becomes a retryable resource-unreachable failure', () => {
  const error = new ResourceUnreachableError('cluster', 'cannot reach hpcuser@127.0.0.1:2223: connect ECONNREFUSED');
  assert.deepEqual(failureFromError(error), {
    code: 'resource-unreachable',
    message: 'cannot reach hpcuser@127.0.0.1:2223: connect ECONNREFUSED',
    retryable: true,
  });
});

test('anything else becomes a retryable internal failure with its message', () => {
  assert.deepEqual(failureFromError(new Error('connection terminated')), {
    code: 'internal',
    message: 'connection terminated',
    retryable: true,
  });
  assert.deepEqual(failureFromError(new RangeError('out of range')), {
    code: 'internal',
    message: 'out of range',
    retryable: true,
  });
  assert.deepEqual(failureFromError('a thrown string'), {
    code: 'internal',
    message: 'a thrown string',
    retryable: true,
  });
  assert.deepEqual(failureFromError(undefined), { code: 'internal', message: 'undefined', retryable: true });
});
