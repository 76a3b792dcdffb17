/**
 * Bad input gets a clear problem+json error, creates nothing, and user input never
 * reaches a shell: it arrives at the program as the exact string.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startTestDrover, waitForState, type TestDrover } from './harness.ts';

let drover: TestDrover;
before(async () => {
  drover = await startTestDrover({ bodyLimitBytes: 64 * 1024 });
  // A test fixture application: writes the argv it received to argv.json.
  const app = await drover.call('POST', '/api/v1/applications', {
    name: 'argv-dump',
    title: 'Argument dump (test fixture)',
    inputs: [{ name: 'value', type: 'string', required: true }],
    outputs: ['argv.json'],
    deployments: {
      '*': {
        command: [
          'node',
          '-e',
          "require('fs').writeFileSync('argv.json', JSON.stringify(process.argv.slice(1)))",
          '--',
          '{{value}}',
        ],
      },
    },
  });
  assert.equal(app.status, 201, JSON.stringify(app.body));
});
after(async () => {
  await drover?.stop();
});

async function experimentCount(): Promise<number> {
  return (await drover.call('GET', '/api/v1/experiments?limit=200')).body.items.length;
}

function assertProblem(response: { status: number; headers: Headers; body: any }, status: number) {
  assert.equal(response.status, status, JSON.stringify(response.body));
  assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal(response.body.status, status);
  assert.ok(response.body.title && response.body.detail, 'a title and a detail');
}

describe('bad input', () => {
  it('refuses a request without a valid token', async () => {
    assertProblem(await drover.call('GET', '/api/v1/experiments', undefined, null), 401);
    assertProblem(await drover.call('GET', '/api/v1/experiments', undefined, 'drv_not-a-token'), 401);
  });

  it('names an unknown application and creates nothing', async () => {
    const before = await experimentCount();
    const response = await drover.call('POST', '/api/v1/experiments', {
      application: 'no-such-app',
      resource: 'local',
    });
    assertProblem(response, 400);
    assert.deepEqual(
      response.body.errors.map((error: any) => error.field),
      ['application'],
    );
    assert.equal(await experimentCount(), before);
  });

  it('names an unknown resource', async () => {
    const response = await drover.call('POST', '/api/v1/experiments', {
      application: 'pi-monte-carlo',
      resource: 'mars',
    });
    assertProblem(response, 400);
    assert.deepEqual(
      response.body.errors.map((error: any) => error.field),
      ['resource'],
    );
  });

  it('names every input of the wrong type, out of bounds, unknown or missing', async () => {
    const before = await experimentCount();
    const wrongTypes = await drover.call('POST', '/api/v1/experiments', {
      application: 'heat-simulation',
      resource: 'local',
      inputs: { steps: 'many', duration_seconds: -1, boundary: 'sideways', label: 42, colour: 'red' },
    });
    assertProblem(wrongTypes, 400);
    const fields = wrongTypes.body.errors.map((error: any) => error.field).sort();
    assert.deepEqual(fields, [
      'inputs.boundary',
      'inputs.colour',
      'inputs.duration_seconds',
      'inputs.label',
      'inputs.steps',
    ]);
    const steps = wrongTypes.body.errors.find((error: any) => error.field === 'inputs.steps');
    assert.match(steps.message, /^must be an integer, got /);
    const missing = await drover.call('POST', '/api/v1/experiments', {
      application: 'word-count',
      resource: 'local',
      inputs: {},
    });
    assertProblem(missing, 400);
    assert.deepEqual(missing.body.errors, [{ field: 'inputs.text', message: 'is required' }]);
    const notAnUpload = await drover.call('POST', '/api/v1/experiments', {
      application: 'word-count',
      resource: 'local',
      inputs: { text: '../../etc/passwd' },
    });
    assertProblem(notAnUpload, 400);
    assert.equal(notAnUpload.body.errors[0].field, 'inputs.text');
    const someoneElses = await drover.call('POST', '/api/v1/experiments', {
      application: 'word-count',
      resource: 'local',
      inputs: { text: '00000000-0000-4000-8000-000000000000' },
    });
    assertProblem(someoneElses, 400);
    assert.match(someoneElses.body.errors[0].message, /no upload/);
    assert.equal(await experimentCount(), before);
  });

  it('refuses settings outside the queue limits before anything is created', async () => {
    const response = await drover.call('POST', '/api/v1/experiments', {
      application: 'pi-monte-carlo',
      resource: 'local',
      queue: 'short',
      walltimeMinutes: 600,
      coresPerNode: 64,
    });
    assertProblem(response, 400);
    assert.deepEqual(response.body.errors.map((error: any) => error.field).sort(), ['coresPerNode', 'walltimeMinutes']);
    const noQueue = await drover.call('POST', '/api/v1/experiments', {
      application: 'pi-monte-carlo',
      resource: 'local',
      queue: 'gpu',
    });
    assertProblem(noQueue, 400);
    assert.equal(noQueue.body.errors[0].field, 'queue');
  });

  it('rejects bodies that are not JSON objects of the documented shape', async () => {
    assertProblem(await drover.call('POST', '/api/v1/experiments', '{"application": '), 400);
    const extra = await drover.call('POST', '/api/v1/experiments', {
      application: 'pi-monte-carlo',
      resource: 'local',
      priority: 'max',
    });
    assertProblem(extra, 400);
    assert.equal(extra.body.errors[0].field, 'body.priority');
    const wrongType = await drover.call('POST', '/api/v1/experiments', {
      application: 'pi-monte-carlo',
      resource: 'local',
      walltimeMinutes: 'soon',
    });
    assertProblem(wrongType, 400);
    assert.equal(wrongType.body.errors[0].field, 'body.walltimeMinutes');
  });

  it('refuses an oversized body with 413', async () => {
    const before = await experimentCount();
    const response = await drover.call('POST', '/api/v1/experiments', {
      application: 'pi-monte-carlo',
      resource: 'local',
      name: 'x'.repeat(100 * 1024),
    });
    assertProblem(response, 413);
    assert.equal(await experimentCount(), before);
  });

  it('refuses upload file names that would escape their folder', async () => {
    for (const name of ['../evil.txt', '..', 'a/b.txt', 'a\\b.txt', '']) {
      const response = await drover.call(
        'POST',
        `/api/v1/uploads?filename=${encodeURIComponent(name)}`,
        Buffer.from('x'),
      );
      assertProblem(response, 400);
    }
    const ok = await drover.call('POST', '/api/v1/uploads?filename=notes..txt', Buffer.from('x'));
    assert.equal(ok.status, 201);
  });

  it('refuses an output path that escapes the outputs folder', async () => {
    const created = await drover.call('POST', '/api/v1/experiments', {
      application: 'argv-dump',
      resource: 'local',
      inputs: { value: 'x' },
    });
    await waitForState(drover, created.body.id, ['completed']);
    const escape = await drover.call(
      'GET',
      `/api/v1/experiments/${created.body.id}/outputs/..%2F..%2F..%2Fadmin-token`,
    );
    assertProblem(escape, 404);
    assert.ok(!String(escape.body.detail).includes('test-admin-token'));
  });

  it('passes shell metacharacters to the program as the exact string, and nothing else runs', async () => {
    const marker = join(drover.dataDir, 'pwned');
    const value = `$(touch ${marker}); touch ${marker} \`touch ${marker}\` | & > ${marker} 'single' "double" \\ * ~ # !! ;`;
    const created = await drover.call('POST', '/api/v1/experiments', {
      application: 'argv-dump',
      resource: 'local',
      inputs: { value },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const done = await waitForState(drover, created.body.id, ['completed', 'failed']);
    assert.equal(done.state, 'completed', JSON.stringify(done.failure));
    // Served as application/json, so the harness has parsed it.
    const argv = (await drover.call('GET', `/api/v1/experiments/${created.body.id}/outputs/argv.json`)).body;
    assert.deepEqual(argv, [value]);
    assert.equal(existsSync(marker), false, 'the injected command did not run');
  });

  it('answers unknown routes and experiments with problem+json 404', async () => {
    assertProblem(await drover.call('GET', '/api/v1/nothing-here'), 404);
    assertProblem(await drover.call('GET', '/api/v1/experiments/not-a-uuid'), 404);
    assertProblem(await drover.call('GET', '/api/v1/experiments/00000000-0000-4000-8000-000000000000'), 404);
  });
});
