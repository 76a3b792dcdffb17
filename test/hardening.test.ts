/**
 * Hardening, each as a user or an attacker would meet it through the real API: private
 * files, text that cannot be stored, Unicode downloads, security headers, /metrics and
 * access tokens, links a job plants in its folder, and per-user limits.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { buildApi } from '../src/api/server.ts';
import { closedApiSettings } from '../scripts/generate-api-types.ts';
import { createStorage } from '../src/files/storage.ts';
import { createResourceRegistry } from '../src/resources/resource-registry.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config.ts';
import { startDrover } from '../src/main.ts';
import { serverUserName } from '../src/store/embedded-server.ts';
import {
  adminToken,
  call,
  projectRoot,
  startTestDrover,
  waitFor,
  waitForState,
  type ApiResponse,
  type TestDrover,
} from './harness.ts';

function assertProblem(response: ApiResponse, status: number, field?: string) {
  assert.equal(response.status, status, JSON.stringify(response.body));
  assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal(response.body.status, status);
  assert.ok(response.body.title && response.body.detail, 'a title and a detail');
  if (field)
    assert.deepEqual(
      response.body.errors?.map((error: any) => error.field),
      [field],
      JSON.stringify(response.body),
    );
}

/** Sends `path` exactly as written (fetch would re-encode it), with a raw body. */
function rawRequest(
  url: string,
  method: string,
  path: string,
  body?: Buffer,
  token = adminToken,
): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      url + path,
      {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const headers = new Headers(
            Object.entries(response.headers).map(([name, value]): [string, string] => [name, String(value)]),
          );
          resolve({
            status: response.statusCode!,
            headers,
            body: /json/.test(response.headers['content-type'] ?? '') && text ? JSON.parse(text) : text,
          });
        });
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/** Every file and folder below `root` whose mode lets the group or others in. */
async function openToOthers(root: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    const info = await stat(path).catch(() => null);
    if (info && !entry.isSymbolicLink() && (info.mode & 0o077) !== 0)
      found.push(`${path} ${(info.mode & 0o777).toString(8)}`);
  }
  return found;
}

let drover: TestDrover;
before(async () => {
  drover = await startTestDrover();
  const fixtures = [
    {
      name: 'unicode-outputs',
      title: 'Writes outputs with Unicode and quote characters in their names (test fixture)',
      inputs: [],
      outputs: ['*.dat'],
      deployments: {
        '*': {
          command: [
            'node',
            '-e',
            `for (const name of ['résumé 数据 😀.dat', 'a "quoted" name%20.dat', 'plain.dat']) require('fs').writeFileSync(name, 'content of ' + name)`,
          ],
        },
      },
    },
    {
      name: 'link-planter',
      title: 'Replaces its logs and outputs by links out of its folder (test fixture)',
      inputs: [{ name: 'target', type: 'string', required: true }],
      outputs: ['*.dat', 'results/*', 'data/**'],
      deployments: {
        '*': {
          command: [
            'node',
            '-e',
            `const fs = require('fs'); console.log('honest output'); fs.rmSync('stdout.txt'); fs.symlinkSync('/etc/passwd', 'stdout.txt');
             fs.symlinkSync('/etc/passwd', 'leak.dat'); fs.symlinkSync('/etc', 'results'); fs.symlinkSync(process.argv[1], 'data'); fs.writeFileSync('honest.dat', 'mine')`,
            '{{target}}',
          ],
        },
      },
    },
  ];
  for (const fixture of fixtures) {
    const created = await drover.call('POST', '/api/v1/applications', fixture);
    assert.equal(created.status, 201, JSON.stringify(created.body));
  }
});
after(async () => {
  await drover?.stop();
});

describe('the data folder is private', () => {
  it('is 0700 (0710 for the server user, as root) and everything Drover writes in it (database, token, uploads, outputs, scratch) is 0600/0700', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'drover-private-'));
    await chmod(dataDir, 0o755); // as an earlier version, or a careless mkdir, left it
    const config = loadConfig(
      {
        dataDir,
        port: 0,
        logLevel: 'silent',
        memory: false,
        controller: { pollMs: 150 },
        worker: { pollMs: 200 },
      },
      {},
    );
    const running = await startDrover(config, ['api', 'worker', 'controller']);
    let stopped = false;
    try {
      const token = running.adminToken!;
      const upload = await call(
        running.url!,
        'POST',
        '/api/v1/uploads?filename=story.txt',
        Buffer.from('the quick brown fox'),
        token,
      );
      assert.equal(upload.status, 201, JSON.stringify(upload.body));
      const created = await call(
        running.url!,
        'POST',
        '/api/v1/experiments',
        { application: 'word-count', resource: 'local', inputs: { text: upload.body.id } },
        token,
      );
      assert.equal(created.status, 201, JSON.stringify(created.body));
      await waitForState(
        { call: (method, path, body) => call(running.url!, method, path, body, token) },
        created.body.id,
        ['completed'],
        60_000,
      );
      // As root, the embedded server's own user (and group) may pass through to its cluster, no more.
      const asRoot = process.getuid?.() === 0;
      const folder = await stat(dataDir);
      assert.equal(folder.mode & 0o777, asRoot ? 0o710 : 0o700);
      if (asRoot) assert.equal(folder.gid, Number(execFileSync('id', ['-g', serverUserName]).toString()));
      const entries = await readdir(dataDir, { recursive: true });
      for (const expected of ['admin-token', 'postgres-password', 'postgres/PG_VERSION', 'storage', 'scratch'])
        assert.ok(
          entries.some((entry) => entry.startsWith(expected)),
          `${expected} in the data folder`,
        );
      assert.ok(
        entries.some((entry) => entry.includes('outputs/counts.json')),
        'the outputs were brought back',
      );
      assert.deepEqual(await openToOthers(dataDir), []);
      stopped = true;
      await running.stop();
      assert.deepEqual(await openToOthers(dataDir), []);
    } finally {
      if (!stopped) await running.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('text that cannot be stored is a 400 naming the field', () => {
  it('NUL and lone surrogates in path parameters', async () => {
    assertProblem(await rawRequest(drover.url, 'GET', '/api/v1/applications/word%00count'), 400, 'params.name');
    assertProblem(await rawRequest(drover.url, 'GET', '/api/v1/resources/lo%00cal'), 400, 'params.name');
    assertProblem(await rawRequest(drover.url, 'GET', '/api/v1/experiments/%00'), 400, 'params.id');
    assertProblem(await rawRequest(drover.url, 'GET', '/api/v1/experiments/x/outputs/a%00b'), 400, 'params.path');
  });

  it('invalid percent-encoding or UTF-8 in the path', async () => {
    for (const path of [
      '/api/v1/applications/%ZZ',
      '/api/v1/applications/%C0%80',
      '/api/v1/resources/%ED%A0%80',
      '/api/v1/applications/%E2%82',
    ]) {
      assertProblem(await rawRequest(drover.url, 'GET', path), 400, 'path');
    }
  });

  it('NUL, invalid UTF-8 and bad percent-encoding in list filters', async () => {
    assertProblem(await rawRequest(drover.url, 'GET', '/api/v1/experiments?state=%00'), 400, 'querystring.state');
    assertProblem(
      await rawRequest(drover.url, 'GET', '/api/v1/experiments?application=a%00b'),
      400,
      'querystring.application',
    );
    assertProblem(await rawRequest(drover.url, 'GET', '/api/v1/experiments?q=%ED%A0%80'), 400, 'querystring.q');
    assertProblem(await rawRequest(drover.url, 'GET', '/api/v1/experiments?resource=%FF'), 400, 'querystring.resource');
    assertProblem(await rawRequest(drover.url, 'GET', '/api/v1/experiments?owner=%'), 400, 'querystring.owner');
    assertProblem(await rawRequest(drover.url, 'GET', '/api/v1/experiments?q=a=%ZZ'), 400, 'querystring.q');
  });

  it('NUL, lone surrogates and invalid UTF-8 in JSON bodies, values or keys', async () => {
    const count = async () => (await drover.call('GET', '/api/v1/experiments?limit=200')).body.items.length;
    const before = await count();
    const nul = await drover.call('POST', '/api/v1/experiments', {
      application: 'pi-monte-carlo',
      resource: 'local',
      name: 'run\u0000one',
    });
    assertProblem(nul, 400, 'body.name');
    const surrogate = await drover.call(
      'POST',
      '/api/v1/experiments',
      '{"application":"pi-monte-carlo","resource":"local","inputs":{"samples":1000,"seed":"\\ud800"}}',
    );
    assertProblem(surrogate, 400, 'body.inputs.seed');
    const key = await drover.call('POST', '/api/v1/experiments', {
      application: 'pi-monte-carlo',
      resource: 'local',
      inputs: { 'sam\u0000ples': 1 },
    });
    assertProblem(key, 400, 'body.inputs.sam\\u0000ples');
    const bytes = Buffer.concat([
      Buffer.from('{"application":"pi-monte-carlo","resource":"local","name":"'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}'),
    ]);
    assertProblem(await rawRequest(drover.url, 'POST', '/api/v1/experiments', bytes), 400, 'body');
    assertProblem(
      await drover.call('POST', '/api/v1/applications', {
        name: 'bad\u0000name',
        title: 't',
        inputs: [],
        deployments: {},
      }),
      400,
      'body.name',
    );
    assert.equal(await count(), before, 'nothing was created');
  });

  it('an upload file name with a NUL', async () => {
    assertProblem(
      await rawRequest(drover.url, 'POST', '/api/v1/uploads?filename=a%00b.txt'),
      400,
      'querystring.filename',
    );
  });
});

describe('downloads', () => {
  it('an output with any Unicode name downloads under its exact name (RFC 6266 filename*)', async () => {
    const created = await drover.call('POST', '/api/v1/experiments', {
      application: 'unicode-outputs',
      resource: 'local',
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await waitForState(drover, created.body.id, ['completed']);
    const outputs = await drover.call('GET', `/api/v1/experiments/${created.body.id}/outputs`);
    const names = outputs.body.items.map((item: any) => item.path).filter((path: string) => path.endsWith('.dat'));
    assert.deepEqual(names.sort(), ['a "quoted" name%20.dat', 'plain.dat', 'résumé 数据 😀.dat'].sort());
    for (const name of names) {
      const response = await drover.call(
        'GET',
        `/api/v1/experiments/${created.body.id}/outputs/${encodeURIComponent(name)}`,
      );
      assert.equal(response.status, 200, `${name}: ${JSON.stringify(response.body)}`);
      assert.equal(response.body, `content of ${name}`);
      const disposition = response.headers.get('content-disposition') ?? '';
      const encoded = /filename\*=UTF-8''([^;]+)/.exec(disposition)?.[1];
      assert.ok(encoded, disposition);
      assert.equal(decodeURIComponent(encoded), name);
      assert.match(disposition, /^attachment; filename="[\x20-\x7e]+"; /);
    }
  });

  it('never follows a link a job planted out of its folder: logs, outputs and stage-out', async () => {
    const created = await drover.call('POST', '/api/v1/experiments', {
      application: 'link-planter',
      resource: 'local',
      inputs: { target: drover.dataDir },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const finished = await waitForState(drover, created.body.id, ['completed', 'failed']);
    assert.equal(finished.state, 'completed', JSON.stringify(finished));
    const outputs = await drover.call('GET', `/api/v1/experiments/${created.body.id}/outputs`);
    assert.deepEqual(
      outputs.body.items.map((item: any) => item.path),
      ['honest.dat', 'stderr.txt'],
      'only the files the job wrote itself were brought back',
    );
    for (const path of ['leak.dat', 'results/passwd', 'stdout.txt']) {
      assertProblem(await drover.call('GET', `/api/v1/experiments/${created.body.id}/outputs/${path}`), 404);
    }
    const stdout = await drover.call('GET', `/api/v1/experiments/${created.body.id}/logs/stdout`);
    assert.doesNotMatch(String(typeof stdout.body === 'string' ? stdout.body : JSON.stringify(stdout.body)), /root:/);
    assertProblem(stdout, 404);
  });
});

describe('headers, /metrics and tokens in URLs', () => {
  it('sends security headers on the UI and the API', async () => {
    for (const [path, accept] of [
      ['/', 'text/html'],
      ['/experiments/x', 'text/html'],
      ['/api/v1/experiments', 'application/json'],
      ['/api/v1/nowhere', 'application/json'],
    ]) {
      const response = await drover.call('GET', path, undefined, adminToken, { accept });
      const csp = response.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'self'/, path);
      assert.match(csp, /script-src 'self'(;|$)/, path);
      assert.match(csp, /frame-ancestors 'none'/, path);
      assert.match(csp, /object-src 'none'/, path);
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff', path);
      assert.equal(response.headers.get('referrer-policy'), 'no-referrer', path);
      assert.equal(response.headers.get('x-frame-options'), 'DENY', path);
    }
  });

  it("/metrics needs the metrics token (by default the platform operator's token)", async () => {
    assertProblem(await drover.call('GET', '/metrics', undefined, null), 401);
    const user = (await drover.call('POST', '/api/v1/users', { name: 'metrics-reader' })).body.token;
    assertProblem(await drover.call('GET', '/metrics', undefined, user), 401);
    // Another gateway's admin is not the operator.
    const gateway = await drover.call('POST', '/api/v1/gateways', {
      id: 'metrics-other',
      name: 'Other',
      admin: 'other-admin',
    });
    assert.equal(gateway.status, 201);
    assertProblem(await drover.call('GET', '/metrics', undefined, gateway.body.admin.token), 401);
    const metrics = await drover.call('GET', '/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /drover_http_request_duration_seconds/);
  });

  it('/metrics on its own address needs no token there, and a configured token on the API', async () => {
    const metricsToken = 'metrics-token-0123456789abcdef';
    const other = await startTestDrover({ metrics: { token: metricsToken, listen: '127.0.0.1:0' } });
    try {
      assert.ok(other.drover.metricsUrl, 'the metrics address is reported');
      const open = await call(other.drover.metricsUrl!, 'GET', '/metrics', undefined, null);
      assert.equal(open.status, 200);
      assert.match(open.body, /process_cpu_seconds_total/);
      assertProblem(await call(other.drover.metricsUrl!, 'GET', '/api/v1/experiments', undefined, null), 404);
      assertProblem(await other.call('GET', '/metrics'), 401); // the admin token is not the metrics token
      assert.equal((await other.call('GET', '/metrics', undefined, metricsToken)).status, 200);
    } finally {
      await other.stop();
    }
  });

  it('takes ?access_token= only when opening an event stream', async () => {
    assertProblem(
      await drover.call('GET', `/api/v1/experiments?access_token=${adminToken}`, undefined, null),
      400,
      'querystring.access_token',
    );
    assertProblem(
      await drover.call('GET', `/api/v1/me?access_token=${adminToken}`, undefined, null),
      400,
      'querystring.access_token',
    );
    const created = await drover.call('POST', '/api/v1/experiments', {
      application: 'pi-monte-carlo',
      resource: 'local',
      launch: false,
    });
    // The events as JSON are not a stream: a header, please.
    assertProblem(
      await drover.call(
        'GET',
        `/api/v1/experiments/${created.body.id}/events?access_token=${adminToken}`,
        undefined,
        null,
      ),
      400,
      'querystring.access_token',
    );
    for (const path of ['/api/v1/experiments/changes', `/api/v1/experiments/${created.body.id}/events`]) {
      const abort = new AbortController();
      const response = await fetch(`${drover.url}${path}?access_token=${adminToken}`, {
        headers: { accept: 'text/event-stream' },
        signal: abort.signal,
      });
      assert.equal(response.status, 200, path);
      assert.match(response.headers.get('content-type') ?? '', /text\/event-stream/);
      abort.abort();
    }
  });

  it('never writes an access token into a log line', async () => {
    // A second API process on the same store, logging at debug (every request) into `lines`.
    const lines: string[] = [];
    const logger = pino(
      { level: 'debug' },
      new Writable({ write: (chunk, _encoding, done) => (lines.push(String(chunk)), done()) }),
    );
    const api = await buildApi({
      store: drover.drover.store,
      storage: createStorage(join(drover.dataDir, 'storage')),
      resources: createResourceRegistry(),
      logger,
      metrics: new Registry(),
      appsDir: join(projectRoot, 'apps'),
      webDir: join(projectRoot, 'web', 'dist'),
      gatewayId: 'default',
      platformKey: randomBytes(32),
      bodyLimitBytes: 1024 * 1024,
      uploadLimitBytes: 1024 * 1024,
      ...closedApiSettings(randomBytes(32)),
    });
    try {
      const url = await api.listen({ host: '127.0.0.1', port: 0 });
      const userToken = (await drover.call('POST', '/api/v1/users', { name: 'streamer' })).body.token;
      assert.ok(userToken);
      assert.equal(
        (await call(url, 'GET', `/api/v1/experiments?access_token=${userToken}`, undefined, null)).status,
        400,
      );
      const abort = new AbortController();
      const stream = await fetch(
        `${url}/api/v1/experiments/changes?access_token=${encodeURIComponent(userToken)}&x=1`,
        { signal: abort.signal },
      );
      assert.equal(stream.status, 200);
      abort.abort();
      await waitFor(
        'the requests to be logged',
        async () => lines.filter((line) => line.includes('access_token=[redacted]')).length >= 2,
        10_000,
      );
      assert.deepEqual(
        lines.filter((line) => line.includes(userToken)),
        [],
        'no log line holds the token',
      );
    } finally {
      await api.close();
    }
  });
});

describe('per-user limits', () => {
  let limited: TestDrover;
  let alice: string;
  let bob: string;
  let carol: string;
  before(async () => {
    limited = await startTestDrover({
      limits: { writesPerWindow: 4, writeWindowMs: 60_000, eventStreamsPerUser: 2, uploadQuotaBytes: 100 },
    });
    alice = (await limited.call('POST', '/api/v1/users', { name: 'alice' })).body.token;
    bob = (await limited.call('POST', '/api/v1/users', { name: 'bob' })).body.token;
    carol = (await limited.call('POST', '/api/v1/users', { name: 'carol' })).body.token;
    assert.ok(alice && bob && carol);
  });
  after(async () => {
    await limited?.stop();
  });

  it('rate-limits writes per user with 429 and Retry-After; reads and other users go on', async () => {
    const draft = { application: 'pi-monte-carlo', resource: 'local', launch: false };
    for (let n = 0; n < 4; n++)
      assert.equal((await limited.call('POST', '/api/v1/experiments', draft, alice)).status, 201);
    const refused = await limited.call('POST', '/api/v1/experiments', draft, alice);
    assertProblem(refused, 429);
    assert.ok(Number(refused.headers.get('retry-after')) > 0, 'Retry-After in seconds');
    assert.match(refused.body.detail, /at most 4 every 60 s/);
    assert.equal(
      (await limited.call('GET', '/api/v1/experiments', undefined, alice)).body.items.length,
      4,
      'reads still work, and the refused write created nothing',
    );
    assert.equal(
      (await limited.call('POST', '/api/v1/experiments', draft, bob)).status,
      201,
      'another user has their own budget',
    );
  });

  it('caps the event streams one user holds open (429), and frees a slot when one closes', async () => {
    const open = async (token: string) => {
      const abort = new AbortController();
      const response = await fetch(`${limited.url}/api/v1/experiments/changes`, {
        headers: { authorization: `Bearer ${token}` },
        signal: abort.signal,
      });
      return { response, close: () => abort.abort() };
    };
    const first = await open(alice);
    const second = await open(alice);
    assert.equal(first.response.status, 200);
    assert.equal(second.response.status, 200);
    const third = await limited.call('GET', '/api/v1/experiments/changes', undefined, alice, {
      accept: 'text/event-stream',
    });
    assertProblem(third, 429);
    assert.match(third.body.detail, /at most 2/);
    const bobs = await open(bob);
    assert.equal(bobs.response.status, 200, 'another user has their own streams');
    bobs.close();
    first.close();
    const reopened = await waitFor(
      'a slot to free up',
      async () => {
        const attempt = await open(alice);
        if (attempt.response.status === 200) return attempt;
        await attempt.response.body?.cancel();
        return null;
      },
      10_000,
    );
    reopened.close();
    second.close();
  });

  it('refuses an upload past the per-user quota with 413 and keeps the user within it', async () => {
    assert.equal(
      (await limited.call('POST', '/api/v1/uploads?filename=a.txt', Buffer.alloc(60, 'a'), carol)).status,
      201,
    );
    const over = await limited.call('POST', '/api/v1/uploads?filename=b.txt', Buffer.alloc(50, 'b'), carol);
    assertProblem(over, 413, 'body');
    assert.match(over.body.detail, /quota of 100 bytes/);
    assert.equal(
      (await limited.call('POST', '/api/v1/uploads?filename=c.txt', Buffer.alloc(40, 'c'), carol)).status,
      201,
      'what fits still fits',
    );
  });
});
