/**
 * The one mapping from a request error's meaning to its HTTP answer: every request error
 * class has a status, and each answers with the problem type, title, detail and fields the
 * API has always sent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as errors from '../domain/errors.ts';
import {
  ConflictError,
  ForbiddenError,
  IdempotencyKeyReusedError,
  LimitReachedError,
  NotFoundError,
  QuotaExceededError,
  RequestError,
  UnsupportedMediaError,
  ValidationError,
} from '../domain/errors.ts';
import { requestErrorProblem, requestErrorStatuses } from './problem.ts';

test('every request error class exported by the domain has a status', () => {
  const classes = Object.values(errors).filter(
    (value) => typeof value === 'function' && value.prototype instanceof RequestError,
  );
  assert.ok(classes.length >= 7);
  for (const errorClass of classes)
    assert.ok(requestErrorStatuses.has(errorClass as never), `${errorClass.name} has a status`);
  assert.equal(requestErrorStatuses.size, classes.length, 'no status for a class that is gone');
});

test('each class answers with its status and title, and its own or default problem type', () => {
  const field = { field: 'name', message: 'already used' };
  const cases: Array<
    [
      errors.RequestError,
      { type: string; title: string; status: number; detail: string; errors?: errors.FieldProblem[] },
    ]
  > = [
    [
      new ValidationError('invalid cursor'),
      { type: 'urn:drover:problem:invalid-request', title: 'Bad Request', status: 400, detail: 'invalid cursor' },
    ],
    [
      new ValidationError(
        'invalid experiment',
        [{ field: 'inputs.n', message: 'must be at least 1' }],
        'invalid-experiment',
      ),
      {
        type: 'urn:drover:problem:invalid-experiment',
        title: 'Bad Request',
        status: 400,
        detail: 'invalid experiment',
        errors: [{ field: 'inputs.n', message: 'must be at least 1' }],
      },
    ],
    [
      new ForbiddenError('only a gateway admin may do this'),
      {
        type: 'urn:drover:problem:forbidden',
        title: 'Forbidden',
        status: 403,
        detail: 'only a gateway admin may do this',
      },
    ],
    [
      new ForbiddenError('gateway g is disabled', [], 'gateway-disabled'),
      { type: 'urn:drover:problem:gateway-disabled', title: 'Forbidden', status: 403, detail: 'gateway g is disabled' },
    ],
    [
      new NotFoundError('experiment 42'),
      { type: 'urn:drover:problem:not-found', title: 'Not Found', status: 404, detail: 'experiment 42 not found' },
    ],
    [
      new ConflictError('user "a" exists', [field]),
      {
        type: 'urn:drover:problem:conflict',
        title: 'Conflict',
        status: 409,
        detail: 'user "a" exists',
        errors: [field],
      },
    ],
    [
      new ConflictError('only a created experiment can be launched', [], 'invalid-state'),
      {
        type: 'urn:drover:problem:invalid-state',
        title: 'Conflict',
        status: 409,
        detail: 'only a created experiment can be launched',
      },
    ],
    [
      new QuotaExceededError('over your quota', [{ field: 'body', message: 'exceeds the upload quota' }]),
      {
        type: 'urn:drover:problem:upload-quota-exceeded',
        title: 'Content Too Large',
        status: 413,
        detail: 'over your quota',
        errors: [{ field: 'body', message: 'exceeds the upload quota' }],
      },
    ],
    [
      new UnsupportedMediaError('send the file as the request body'),
      {
        type: 'urn:drover:problem:unsupported-media-type',
        title: 'Unsupported Media Type',
        status: 415,
        detail: 'send the file as the request body',
      },
    ],
    [
      new IdempotencyKeyReusedError('key k answered another request'),
      {
        type: 'urn:drover:problem:idempotency-key-reused',
        title: 'Unprocessable Content',
        status: 422,
        detail: 'key k answered another request',
        errors: [{ field: 'Idempotency-Key', message: 'use a new key for a new request' }],
      },
    ],
    [
      new LimitReachedError('too many writes'),
      {
        type: 'urn:drover:problem:too-many-requests',
        title: 'Too Many Requests',
        status: 429,
        detail: 'too many writes',
      },
    ],
    [
      new LimitReachedError('queue q allows 1', [{ field: 'queue', message: 'at most 1' }], 'queue-limit'),
      {
        type: 'urn:drover:problem:queue-limit',
        title: 'Too Many Requests',
        status: 429,
        detail: 'queue q allows 1',
        errors: [{ field: 'queue', message: 'at most 1' }],
      },
    ],
  ];
  for (const [error, problem] of cases) {
    assert.deepEqual(requestErrorProblem(error), { errors: undefined, ...problem }, error.name);
  }
  const covered = new Set(cases.map(([error]) => error.constructor));
  for (const errorClass of requestErrorStatuses.keys())
    assert.ok(covered.has(errorClass), `${errorClass.name} is covered here`);
});

test('request errors carry no HTTP status of their own', () => {
  const error = new ConflictError('x');
  assert.ok(!('status' in error), 'the status belongs to the API, not the domain');
});
