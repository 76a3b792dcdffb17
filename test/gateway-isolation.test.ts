/**
 * Isolation between gateways: two gateways, an admin and two users in each. Every route of
 * the OpenAPI document (read at test time, so a new route is covered without editing this
 * file) is called by every principal of one gateway with the other gateway's ids
 * (experiments, uploads, outputs, resources, applications, users, credentials, the gateway
 * itself). A route that names the other's thing must answer 404 (403 for a role check);
 * no answer may carry the other's data; afterwards the other gateway is exactly as before.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestDrover, waitFor, type ApiResponse, type TestDrover } from './harness.ts';

let drover: TestDrover;
before(async () => {
  // Webhooks may reach loopback: each side's user sets one (to a port where nothing listens).
  drover = await startTestDrover({ notifications: { webhook: { allowedNetworks: ['127.0.0.0/8'] } } });
});
after(async () => {
  await drover?.stop();
});

/** One gateway of the test with everything it owns. */
interface Side {
  id: string;
  admin: { name: string; token: string };
  users: Array<{ name: string; token: string; id: string }>;
  application: string;
  resource: string;
  credential: string;
  publicKey: string;
  uploadId: string;
  experimentId: string;
  /** A sweep of users[0]'s (two draft experiments). */
  sweepId: string;
  /** A notification delivery of users[0]'s, in their delivery log. */
  deliveryId: string;
  /** The id of users[0]'s API token. */
  tokenId: string;
  /** Text that only this gateway's own answers may contain (never sent by the other side). */
  secrets: string[];
}

async function ok(response: Promise<ApiResponse>, status = 201): Promise<any> {
  const answer = await response;
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  return answer.body;
}

/** Makes a gateway with an admin, two users, a credential, a cluster resource, an application with a file input, an upload and a draft with an output file. */
async function makeSide(id: string): Promise<Side> {
  const created = await ok(
    drover.call('POST', '/api/v1/gateways', {
      id,
      name: `${id} gateway`,
      theme: { primary: '#123456' },
      admin: `${id}-admin`,
    }),
  );
  const admin = { name: `${id}-admin`, token: created.admin.token as string };
  const users = [];
  for (const name of [`${id}-ann`, `${id}-bob`]) {
    const user = await ok(drover.call('POST', '/api/v1/users', { name }, admin.token));
    users.push({ name, token: user.token as string, id: user.id as string });
  }
  const credential = `${id}-key`;
  const key = await ok(drover.call('POST', '/api/v1/credentials', { name: credential }, admin.token));
  const resource = `${id}-cluster`;
  await ok(
    drover.call(
      'POST',
      '/api/v1/resources',
      {
        name: resource,
        kind: 'slurm',
        config: {
          scratchDir: `/scratch/${id}-secret-scratch`,
          queues: [{ name: 'debug', maxWalltimeMinutes: 30, maxCores: 4 }],
          ssh: {
            host: '127.0.0.1',
            port: 1,
            user: 'hpcuser',
            credential,
            hostKey: key.publicKey.split(' ').slice(0, 2).join(' '),
          },
        },
      },
      admin.token,
    ),
  );
  const application = `${id}-app`;
  await ok(
    drover.call(
      'POST',
      '/api/v1/applications',
      {
        name: application,
        title: `${id} secret application`,
        inputs: [
          { name: 'data', type: 'file', required: true },
          { name: 'copies', type: 'integer', default: 1 },
        ],
        outputs: ['*.txt'],
        deployments: { [resource]: { command: ['cat', '{{data}}'] } },
      },
      admin.token,
    ),
  );
  const upload = await ok(
    drover.call(
      'POST',
      `/api/v1/uploads?filename=${id}-secret-input.txt`,
      Buffer.from(`${id} secret upload\n`),
      users[0].token,
    ),
  );
  const experiment = await ok(
    drover.call(
      'POST',
      '/api/v1/experiments',
      { application, resource, name: `${id}-secret-run`, launch: false, inputs: { data: upload.id } },
      users[0].token,
    ),
  );
  const sweep = await ok(
    drover.call(
      'POST',
      '/api/v1/sweeps',
      {
        application,
        resource,
        name: `${id}-secret-sweep`,
        launch: false,
        inputs: { data: upload.id },
        vary: { copies: { values: [1, 2] } },
      },
      users[0].token,
    ),
  );
  // An output as a finished job leaves it, so the output and log routes have something to guard.
  const outputs = join(drover.dataDir, 'storage', id, 'experiments', experiment.id, 'outputs');
  await mkdir(outputs, { recursive: true });
  await writeFile(join(outputs, 'result.txt'), `${id}-secret-output\n`);
  await writeFile(join(outputs, 'stdout.txt'), `${id}-secret-stdout\n`);
  // Notification settings, a webhook secret, and a delivery in the log (an experiment that
  // never ran has none of its own: the row is written as the outbox would, already failed).
  const settings = await ok(
    drover.call(
      'PATCH',
      '/api/v1/notifications/settings',
      { events: ['failed'], webhookUrl: `http://127.0.0.1:9/${id}-secret-hook` },
      users[0].token,
    ),
    200,
  );
  const [delivery] = await drover.drover.store.query<{ id: string }>(
    `insert into notification_deliveries (gateway_id, user_id, experiment_id, event_seq, event, channel, target, state, occurred_at)
     values ($1, $2, $3, 1, 'failed', 'webhook', $4, 'failed', now()) returning id`,
    [id, users[0].id, experiment.id, `http://127.0.0.1:9/${id}-secret-hook`],
  );
  const tokens = await ok(drover.call('GET', '/api/v1/me/tokens', undefined, users[0].token), 200);
  return {
    id,
    admin,
    users,
    tokenId: tokens.items[0].id,
    application,
    resource,
    credential,
    publicKey: key.publicKey,
    uploadId: upload.id,
    experimentId: experiment.id,
    sweepId: sweep.id,
    deliveryId: delivery.id,
    secrets: [
      settings.webhookSecret,
      `${id}-secret-hook`,
      `${id}-secret-sweep`,
      admin.token,
      ...users.map((user) => user.token),
      ...users.map((user) => user.id),
      key.publicKey.split(' ')[1],
      `${id}-secret-run`,
      `${id}-secret-input.txt`,
      `${id} secret application`,
      `${id}-secret-scratch`,
      `${id}-secret-output`,
      `${id}-secret-stdout`,
      `${id} secret upload`,
    ],
  };
}

/** Everything the other side could change, as its own admin and users see it. */
async function snapshot(side: Side): Promise<unknown> {
  const read = async (path: string, token = side.admin.token) => {
    const answer = await drover.call('GET', path, undefined, token);
    return { status: answer.status, body: answer.body };
  };
  return {
    experiments: await read('/api/v1/experiments'),
    experiment: await read(`/api/v1/experiments/${side.experimentId}`),
    outputs: await read(`/api/v1/experiments/${side.experimentId}/outputs`),
    applications: await read('/api/v1/applications'),
    resources: await read('/api/v1/resources'),
    credentials: await read('/api/v1/credentials'),
    branding: await read(`/api/v1/gateway?gateway=${side.id}`),
    me: await Promise.all([side.admin, ...side.users].map((user) => read('/api/v1/me', user.token))),
    notifications: await read('/api/v1/notifications/settings', side.users[0].token),
    deliveries: await read('/api/v1/notifications/deliveries', side.users[0].token),
  };
}

/** The other side's id for a path parameter; a parameter this does not know fails the test (add it here). */
function targetFor(path: string, parameter: string, target: Side): string {
  if (parameter === 'id' && path.startsWith('/api/v1/experiments/')) return target.experimentId;
  if (parameter === 'id' && path.startsWith('/api/v1/gateways/')) return target.id;
  if (parameter === 'id' && path.startsWith('/api/v1/sweeps/')) return target.sweepId;
  if (parameter === 'id' && path.startsWith('/api/v1/notifications/deliveries/')) return target.deliveryId;
  if (parameter === 'id' && path.startsWith('/api/v1/me/tokens/')) return target.tokenId;
  if (parameter === 'name' && path.startsWith('/api/v1/applications/')) return target.application;
  if (parameter === 'name' && path.startsWith('/api/v1/resources/')) return target.resource;
  if (parameter === 'name' && path.startsWith('/api/v1/credentials/')) return target.credential;
  if (parameter === 'name' && path.startsWith('/api/v1/users/')) return target.users[0].name;
  // The sign-in routes are public: another gateway's id there is its own sign-in (a 404 without a provider).
  if (parameter === 'gateway' && path.startsWith('/auth/')) return target.id;
  if (parameter === 'stream') return 'stdout';
  if (parameter === 'path') return 'result.txt';
  throw new Error(
    `the isolation test has no id of the other gateway for {${parameter}} in ${path}: add one to targetFor`,
  );
}

/** What the attacker sends: query and body per route, referring to the other side where a body can. */
function requestFor(method: string, path: string, attacker: Side, target: Side): { query: string; body?: unknown } {
  switch (`${method} ${path}`) {
    case 'GET /api/v1/gateway':
      return { query: `?gateway=${target.id}` };
    case 'GET /api/v1/experiments':
      return { query: `?owner=${target.users[0].name}&parent=${target.experimentId}` };
    case 'POST /api/v1/experiments':
      return {
        query: '',
        body: {
          application: attacker.application,
          resource: attacker.resource,
          launch: false,
          inputs: { data: target.uploadId },
        },
      };
    case 'POST /api/v1/experiments/{id}/clone':
    case 'POST /api/v1/sweeps/{id}/clone':
      return { query: '', body: { launch: false } };
    case 'POST /api/v1/sweeps':
      return {
        query: '',
        body: {
          application: attacker.application,
          resource: attacker.resource,
          launch: false,
          inputs: { data: target.uploadId },
          vary: { copies: { values: [1, 2] } },
        },
      };
    case 'PATCH /api/v1/experiments/{id}':
      return { query: '', body: { notify: { events: ['started'] } } };
    case 'GET /api/v1/notifications/deliveries':
      return { query: `?experiment=${target.experimentId}` };
    case 'POST /api/v1/applications':
      return {
        query: '',
        body: {
          name: `${attacker.id}-probe`,
          title: 'probe',
          deployments: { [target.resource]: { command: ['true'] } },
        },
      };
    case 'POST /api/v1/resources':
      return {
        query: '',
        body: {
          name: `${attacker.id}-probe`,
          kind: 'slurm',
          config: {
            scratchDir: '/scratch/probe',
            queues: [{ name: 'q', maxWalltimeMinutes: 5, maxCores: 1 }],
            ssh: {
              host: '127.0.0.1',
              user: 'u',
              credential: target.credential,
              hostKey: target.publicKey.split(' ').slice(0, 2).join(' '),
            },
          },
        },
      };
    case 'POST /api/v1/users':
      return { query: '', body: { name: `${attacker.id}-probe-user` } };
    case 'PUT /api/v1/gateways/{id}/limits':
      return { query: '', body: { maxActiveExperiments: 1 } };
    case 'PUT /api/v1/users/{name}/share':
      return { query: '', body: { weight: 2 } };
    case 'POST /api/v1/credentials':
      return { query: '', body: { name: `${attacker.id}-probe-key` } };
    case 'POST /api/v1/gateways':
      return { query: '', body: { id: target.id, name: 'taken over' } };
    case 'POST /api/v1/uploads':
      return { query: '?filename=probe.txt', body: Buffer.from('probe') };
    default:
      return { query: '' };
  }
}

/** Reads an event stream for a while: the stream a principal watches while both sides act. */
async function readChanges(
  attacker: Side,
  token: string,
  target: Side,
): Promise<{ status: number; text: string; sawOwn: boolean }> {
  const controller = new AbortController();
  const response = await fetch(`${drover.url}/api/v1/experiments/changes`, {
    headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
    signal: controller.signal,
  });
  let text = '';
  const reading = (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body as any) text += decoder.decode(chunk, { stream: true });
    } catch {
      // aborted
    }
  })();
  // The other side acts first; then the watcher's own draft proves the stream delivers.
  const theirs = await ok(
    drover.call(
      'POST',
      '/api/v1/experiments',
      {
        application: target.application,
        resource: target.resource,
        name: `${target.id}-secret-run-live`,
        launch: false,
        inputs: { data: target.uploadId },
      },
      target.users[0].token,
    ),
  );
  const own = await ok(
    drover.call(
      'POST',
      '/api/v1/experiments',
      {
        application: attacker.application,
        resource: attacker.resource,
        launch: false,
        inputs: { data: attacker.uploadId },
      },
      attacker.users[0].token,
    ),
  );
  let sawOwn = false;
  try {
    // Admins see their whole gateway; a user sees only their own experiments.
    const visible = token === attacker.users[1].token ? null : own.id;
    if (visible)
      sawOwn = Boolean(
        await waitFor("the watcher's own experiment on the stream", async () => text.includes(visible), 10_000).catch(
          () => false,
        ),
      );
    await new Promise((resolve) => setTimeout(resolve, 600));
  } finally {
    controller.abort();
    await reading;
  }
  for (const [id, who] of [
    [theirs.id, target.users[0].token],
    [own.id, attacker.users[0].token],
  ] as const) {
    assert.equal((await drover.call('DELETE', `/api/v1/experiments/${id}`, undefined, who)).status, 204);
  }
  return { status: response.status, text, sawOwn: sawOwn || token === attacker.users[1].token };
}

it(
  'no principal of one gateway reaches anything of another, on any route of the OpenAPI document',
  { timeout: 600_000 },
  async () => {
    const alpha = await makeSide('alpha');
    const beta = await makeSide('beta');
    const document = (await drover.call('GET', '/api/v1/openapi.json')).body as {
      paths: Record<string, Record<string, any>>;
    };
    const routes = Object.entries(document.paths).flatMap(([path, operations]) =>
      Object.keys(operations)
        .filter((method) => ['get', 'post', 'put', 'patch', 'delete'].includes(method))
        .map((method) => ({ path, method: method.toUpperCase(), operation: operations[method] })),
    );
    assert.ok(routes.length >= 25, `the document lists ${routes.length} routes`);

    const violations: string[] = [];
    let calls = 0;
    for (const [attacker, target] of [
      [alpha, beta],
      [beta, alpha],
    ] as const) {
      const before = await snapshot(target);
      const principals = [
        { role: 'admin', token: attacker.admin.token },
        ...attacker.users.map((user) => ({ role: 'user', token: user.token })),
      ];
      for (const { path, method, operation } of routes) {
        const parameters = [...path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]);
        const concrete = parameters.reduce(
          (built, parameter) => built.replace(`{${parameter}}`, encodeURIComponent(targetFor(path, parameter, target))),
          path,
        );
        const streamOnly =
          operation.responses?.['200']?.content &&
          !operation.responses['200'].content['application/json'] &&
          operation.responses['200'].content['text/event-stream'];
        for (const principal of principals) {
          calls += 1;
          const what = `${principal.role} of ${attacker.id}: ${method} ${concrete}`;
          let status: number;
          let text: string;
          if (streamOnly && parameters.length === 0) {
            const watched = await readChanges(attacker, principal.token, target);
            status = watched.status;
            text = watched.text;
            if (!watched.sawOwn)
              violations.push(
                `${what}: the stream did not deliver the watcher's own experiment (the check would prove nothing)`,
              );
          } else {
            const { query, body } = requestFor(method, path, attacker, target);
            const answer = await drover.call(method, concrete + query, body, principal.token);
            status = answer.status;
            text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
            if (parameters.length > 0) {
              if (status !== 404 && status !== 403)
                violations.push(`${what}: ${status}, expected 404 (or 403 for a role check)`);
              else if (!String(answer.headers.get('content-type')).startsWith('application/problem+json'))
                violations.push(`${what}: ${status} is not problem+json`);
            } else if (status >= 500) {
              violations.push(`${what}: ${status}`);
            }
          }
          for (const secret of target.secrets)
            if (text.includes(secret))
              violations.push(
                `${what}: the answer (${status}) holds ${target.id}'s ${JSON.stringify(secret.slice(0, 24))}`,
              );
        }
      }
      assert.deepEqual(await snapshot(target), before, `${target.id} is unchanged after every call by ${attacker.id}`);
    }
    const report = `isolation: ${routes.length} routes x 6 principals (an admin and two users of each gateway, against the other's ids) = ${calls} calls, ${violations.length} violations`;
    process.stderr.write(report + '\n');
    assert.equal(calls, routes.length * 6);
    assert.deepEqual(violations, [], report);
  },
);
