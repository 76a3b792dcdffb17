/**
 * retryOnConflict: a serialization failure or deadlock runs the work again, up to 5
 * attempts; any other error, and the fifth conflict, go to the caller.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { retryOnConflict } from './port.ts';

/** An error as node-postgres throws it, with its SQLSTATE. */
function sqlError(code: string): Error {
  return Object.assign(new Error(`SQLSTATE ${code}`), { code });
}

describe('retryOnConflict', () => {
  test('returns what the work returns, running it once', async () => {
    let runs = 0;
    assert.equal(await retryOnConflict(async () => ++runs), 1);
    assert.equal(runs, 1);
  });

  test('runs the work again after a serialization failure or a deadlock', async () => {
    for (const code of ['40001', '40P01']) {
      let runs = 0;
      const result = await retryOnConflict(async () => {
        runs += 1;
        if (runs < 3) throw sqlError(code);
        return 'done';
      });
      assert.equal(result, 'done');
      assert.equal(runs, 3);
    }
  });

  test('gives up after the fifth conflict, with its error', async () => {
    let runs = 0;
    await assert.rejects(
      retryOnConflict(async () => {
        runs += 1;
        throw sqlError('40001');
      }),
      { code: '40001' },
    );
    assert.equal(runs, 5);
  });

  test('any other error is not retried', async () => {
    for (const error of [sqlError('23505'), new Error('plain'), 'not even an Error']) {
      let runs = 0;
      await assert.rejects(
        retryOnConflict(async () => {
          runs += 1;
          throw error;
        }),
        (thrown) => thrown === error,
      );
      assert.equal(runs, 1);
    }
  });
});
