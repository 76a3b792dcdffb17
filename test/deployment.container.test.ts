/**
 * Drover as containers (the container tier, `npm run test:container`): the image of
 * ./Dockerfile, built here with podman, and the compose deployment of deploy/compose.yaml
 * (PostgreSQL, RabbitMQ, migrate, the API, two workers and a controller) brought up with
 * podman-compose under a project name of its own, on its own volumes, network and queue prefix.
 * Through its HTTP API, as the platform operator: an experiment runs on the test Slurm cluster
 * over SSH; the controller and a worker are SIGKILLed while experiments are in flight and every
 * one still completes with one cluster job (sacct); a worker stops on SIGTERM, drained and in
 * time. `local` is the single-container deployment (`drover up` in one container), whose demo
 * pi-monte-carlo runs on it. The deployment is taken down at the end, volumes and network too.
 *
 * The test cluster's sshd listens on 127.0.0.1:2222 of this machine, which a container on a
 * bridge network cannot reach (its 127.0.0.1 is its own) and podman-compose 1.0.3 cannot put a
 * service on the host's network (it always adds the project network, which podman refuses
 * beside `network_mode: host`; measured). So the test relays TCP from the compose network's
 * gateway address (on this machine, reachable from its containers only) to 127.0.0.1:2222, and
 * the resource names that address, with the login node's host key pinned.
 *
 * Needs root, podman, podman-compose and the base images (scripts/run-tests.js runs
 * scripts/build-base-images.sh first and passes CONTAINERS_CONF), and the test cluster.
 */
import { after, before, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { call, projectRoot, waitFor, type ApiResponse } from './harness.ts';
import { freePort } from './private-sshd.ts';
import { testClusterSsh } from './test-cluster.ts';

const run = promisify(execFile);
const project = `drover-ct-${randomBytes(3).toString('hex')}`;
const image = 'localhost/drover:container-test';
const queuePrefix = `drover-container-test-${project}`;
const scratchDir = `/home/hpcuser/scratch/${project}`;
const timings: Record<string, number> = {};

let workDir: string;
let apiUrl: string;
let adminToken: string;
let relay: { stop(): Promise<void> } | undefined;
let composeEnvironment: NodeJS.ProcessEnv;
const experimentIds: string[] = [];
/** Set when a test (or the setup) fails: the containers' logs are shown at the end. */
let anyFailed = false;

/** `it`, noting a failure for `after`. */
function step(name: string, body: (t: TestContext) => Promise<void>) {
  it(name, async (t) => {
    try {
      await body(t);
    } catch (error) {
      anyFailed = true;
      throw error;
    }
  });
}

/** A test program on the cluster: sleeps, then writes a message to stdout and out.txt. */
const sleepThenWrite = {
  name: 'sleep-then-write',
  title: 'Sleep, then write a message',
  inputs: [
    { name: 'seconds', type: 'number', minimum: 0, maximum: 600, default: 0 },
    { name: 'message', type: 'string', default: 'hello' },
  ],
  outputs: ['out.txt'],
  deployments: {
    'hpc-slurm': {
      command: [
        'bash',
        '-c',
        'sleep "$1"; printf "%s\\n" "$2" | tee out.txt',
        'sleep-then-write',
        '{{seconds}}',
        '{{message}}',
      ],
      queue: 'debug',
      walltimeMinutes: 5,
    },
  },
};

/** Runs a command; its failure names the command and shows its output. */
async function command(file: string, args: string[], timeoutMs = 300_000, env = composeEnvironment) {
  try {
    return await run(file, args, { cwd: projectRoot, env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  } catch (error: any) {
    const output = `${error.stdout ?? ''}${error.stderr ?? ''}`.split('\n').slice(-40).join('\n');
    throw new Error(`${file} ${args.join(' ')} failed (${error.code ?? error.signal}):\n${output}`, {
      cause: error,
    });
  }
}

const podman = (args: string[], timeoutMs?: number) => command('podman', args, timeoutMs);
const compose = (args: string[], timeoutMs?: number) =>
  command('podman-compose', ['-p', project, '-f', 'deploy/compose.yaml', ...args], timeoutMs);
const container = (service: string) => `${project}_${service}_1`;

async function timed<T>(name: string, action: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await action();
  } finally {
    timings[name] = Math.round(performance.now() - started) / 1000;
  }
}

async function api(method: string, path: string, body?: unknown): Promise<ApiResponse> {
  return call(apiUrl, method, path, body, adminToken);
}

async function submit(inputs: Record<string, unknown>): Promise<string> {
  const created = await api('POST', '/api/v1/experiments', {
    application: sleepThenWrite.name,
    resource: 'hpc-slurm',
    inputs,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  experimentIds.push(created.body.id);
  return created.body.id;
}

/** Waits for an experiment to end; returns it. */
function ended(id: string, timeoutMs: number) {
  return waitFor(
    `experiment ${id} to end`,
    async () => {
      const { body } = await api('GET', `/api/v1/experiments/${id}`);
      return ['completed', 'failed', 'canceled'].includes(body.state) ? body : null;
    },
    timeoutMs,
    500,
  );
}

/** The job-name prefix of an experiment's submission keys (src/experiments/job-spec.ts). */
const jobNamePrefix = (id: string) => `drover-${id.replaceAll('-', '').slice(0, 16)}-`;

/** The cluster's accounting: every job (any state) whose name is one of this experiment's keys. */
async function accountedJobs(id: string): Promise<string[]> {
  const { stdout } = await command('sacct', ['-X', '-P', '-n', '-a', '-S', 'now-7200', '-o', 'JobID,JobName,State']);
  return stdout.split('\n').filter((line) => line.split('|')[1]?.startsWith(jobNamePrefix(id)));
}

/** Asserts the experiment completed, its out.txt holds `message` and the cluster ran one job for it. */
async function assertCompletedOnce(experiment: any, message: string) {
  assert.equal(experiment.state, 'completed', JSON.stringify({ failure: experiment.failure, tasks: experiment.tasks }));
  assert.match(experiment.job.nativeId, /^\d+$/);
  const output = await api('GET', `/api/v1/experiments/${experiment.id}/outputs/out.txt`);
  assert.equal(output.status, 200);
  assert.equal(output.body, `${message}\n`);
  // slurmdbd records a job a moment after it ends: wait for the record first.
  const jobs = await waitFor(
    `the job of ${experiment.id} in the accounting`,
    async () => {
      const found = await accountedJobs(experiment.id);
      return found.length > 0 && found.every((line) => line.endsWith('|COMPLETED')) ? found : null;
    },
    60_000,
    500,
  );
  assert.deepEqual(
    jobs.map((line) => line.split('|')[0]),
    [experiment.job.nativeId],
    `one cluster job for ${experiment.id}, the one Drover recorded`,
  );
}

/**
 * Relays TCP from `host`:<a free port> to the test cluster's sshd; resolves to that port.
 * `relay.stop()` ends it with every connection (a container's may never close by itself).
 */
async function relayToClusterSsh(host: string): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((inbound) => {
    const outbound = connect(testClusterSsh.port, testClusterSsh.host);
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  relay = {
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
  return (server.address() as { port: number }).port;
}

before(async () => {
  try {
    await setUp();
  } catch (error) {
    anyFailed = true;
    throw error;
  }
});

async function setUp() {
  workDir = await mkdtemp(join(tmpdir(), 'drover-container-test-'));
  const secrets = join(workDir, 'secrets');
  const port = await freePort();
  apiUrl = `http://127.0.0.1:${port}`;
  composeEnvironment = {
    ...process.env,
    DROVER_IMAGE: image,
    DROVER_SECRETS_DIR: secrets,
    DROVER_HTTP_PORT: String(port),
    DROVER_RABBITMQ_QUEUE_PREFIX: queuePrefix,
    DROVER_CATALOGUE: ',',
  };
  assert.ok(process.env.CONTAINERS_CONF, 'CONTAINERS_CONF is set (scripts/run-tests.js container)');
  await command('bash', [join(projectRoot, 'deploy', 'make-secrets.sh'), secrets]);
  adminToken = (await readFile(join(secrets, 'admin_token'), 'utf8')).trim();

  await timed('image build', () => podman(['build', '--format', 'docker', '--tag', image, '.'], 600_000));
  await timed('compose up', () => compose(['up', '-d']));
  await timed('API ready', () =>
    waitFor('the API to answer /readyz', async () => (await fetch(`${apiUrl}/readyz`)).ok, 120_000, 250),
  );

  const gateway = (
    await podman(['network', 'inspect', `${project}_default`, '--format', '{{range .Subnets}}{{.Gateway}}{{end}}'])
  ).stdout.trim();
  assert.match(gateway, /^\d+\.\d+\.\d+\.\d+$/, `the compose network's gateway: ${gateway}`);
  const relayPort = await relayToClusterSsh(gateway);

  // The platform operator registers the cluster as an operator would: a stored credential (the
  // cluster account's key, encrypted under the deployment's platform key), the login node
  // with its host key pinned, and an application.
  const clusterKey = await readFile(testClusterSsh.privateKeyPath, 'utf8');
  const credential = await api('POST', '/api/v1/credentials', { name: 'hpc-login', privateKey: clusterKey });
  assert.equal(credential.status, 201, JSON.stringify(credential.body));
  const [, hostKey] = /^\S+ (\S+ \S+)/.exec(await readFile(testClusterSsh.knownHostsPath, 'utf8'))!;
  const resource = await api('POST', '/api/v1/resources', {
    name: 'hpc-slurm',
    kind: 'slurm',
    config: {
      scratchDir,
      pollIntervalSeconds: 1,
      ssh: { host: gateway, port: relayPort, user: testClusterSsh.user, credential: 'hpc-login', hostKey },
      queues: [{ name: 'debug', maxWalltimeMinutes: 10, maxCores: 2 }],
    },
  });
  assert.equal(resource.status, 201, JSON.stringify(resource.body));
  const application = await api('POST', '/api/v1/applications', sleepThenWrite);
  assert.equal(application.status, 201, JSON.stringify(application.body));
}

after(async () => {
  const failures: string[] = [];
  const attempt = async (what: string, action: () => Promise<unknown>) => {
    try {
      await action();
    } catch (error) {
      failures.push(`${what}: ${(error as Error).message}`);
    }
  };
  // Only this run's jobs, should any be left: the cluster is shared with the slurm tier.
  await attempt('cancelling leftover jobs', async () => {
    const prefixes = experimentIds.map(jobNamePrefix);
    const { stdout } = await command('squeue', ['-h', '-u', testClusterSsh.user, '-o', '%i %j']);
    const ours = stdout
      .split('\n')
      .map((line) => line.trim().split(' '))
      .filter(([, name]) => name && prefixes.some((prefix) => name.startsWith(prefix)))
      .map(([jobId]) => jobId!);
    if (ours.length > 0) await command('scancel', ours);
  });
  if (anyFailed || failures.length > 0) {
    await attempt('showing the containers', async () => {
      const { stdout } = await podman(['ps', '-a', '--filter', `label=io.podman.compose.project=${project}`]);
      console.error(stdout);
      for (const service of ['api', 'worker-1', 'worker-2', 'controller']) {
        const logs = await podman(['logs', '--tail', '30', container(service)]);
        console.error(`--- ${service} ---\n${logs.stdout}${logs.stderr}`);
      }
    });
  }
  await attempt('compose down', () => timed('compose down', () => compose(['down', '-v'])));
  // podman-compose 1.0.3 leaves the project network behind.
  await attempt('removing the network', () => podman(['network', 'rm', '-f', `${project}_default`]));
  await attempt('removing the scratch folder', () =>
    command('ssh', [
      '-i',
      testClusterSsh.privateKeyPath,
      '-o',
      `UserKnownHostsFile=${testClusterSsh.knownHostsPath}`,
      '-o',
      'StrictHostKeyChecking=yes',
      '-p',
      String(testClusterSsh.port),
      `${testClusterSsh.user}@${testClusterSsh.host}`,
      `rm -rf '${scratchDir}'`,
    ]),
  );
  await relay?.stop();
  await rm(workDir, { recursive: true, force: true });
  console.error(`container tier timings (s): ${JSON.stringify(timings)}`);
  assert.deepEqual(failures, []);
});

step('builds a slim image that runs as a non-root user, with a health check on /readyz', async (t) => {
  const [inspected] = JSON.parse((await podman(['image', 'inspect', image])).stdout);
  t.diagnostic(`image size ${(inspected.Size / 1e6).toFixed(0)} MB`);
  assert.equal(inspected.Config.User, 'drover');
  assert.match(inspected.Healthcheck.Test.join(' '), /\/readyz/);
  assert.deepEqual(inspected.Config.Entrypoint, ['drover-entrypoint']);
  // Production dependencies and the built UI only: no compiler, bundler or test tool.
  const { stdout } = await podman([
    'run',
    '--rm',
    '--entrypoint',
    'sh',
    image,
    '-c',
    'id -u; test -f web/dist/index.html && test -f dist/drover.js && echo built; ls node_modules/typescript node_modules/vite node_modules/esbuild 2>/dev/null | wc -l',
  ]);
  assert.deepEqual(stdout.trim().split('\n'), ['10001', 'built', '0']);
  // `drover migrate` ran once and exited 0.
  const [migrate] = JSON.parse((await podman(['container', 'inspect', container('migrate')])).stdout);
  assert.deepEqual([migrate.State.Status, migrate.State.ExitCode], ['exited', 0]);
  // The API answers /readyz, and the web UI is served.
  assert.equal((await fetch(`${apiUrl}/readyz`)).status, 200);
  assert.match(await (await fetch(`${apiUrl}/`)).text(), /<div id="root">/);
});

step('runs an experiment submitted through its API on the test Slurm cluster over SSH', async () => {
  const id = await submit({ seconds: 0, message: 'from the containers' });
  const done = await timed('one experiment on Slurm', () => ended(id, 180_000));
  await assertCompletedOnce(done, 'from the containers');
});

step(
  'completes every experiment, with one cluster job each, when the controller and a worker are killed mid-flight',
  async () => {
    const ids = await Promise.all(
      Array.from({ length: 4 }, (_, index) => submit({ seconds: 12, message: `in flight ${index}` })),
    );
    // In flight: a job runs on the cluster while the others are somewhere on their way.
    await waitFor(
      'a job to run on the cluster',
      async () => {
        const experiments = await Promise.all(
          ids.map(async (id) => (await api('GET', `/api/v1/experiments/${id}`)).body),
        );
        return experiments.some((experiment) => experiment.job?.state === 'running');
      },
      120_000,
      250,
    );
    const states = await Promise.all(ids.map(async (id) => (await api('GET', `/api/v1/experiments/${id}`)).body.state));
    assert.ok(
      states.every((state) => !['completed', 'failed', 'canceled'].includes(state)),
      `none has ended before the kill: ${states}`,
    );
    await podman(['kill', '--signal', 'KILL', container('controller'), container('worker-1')]);
    // As an orchestrator would (the restart policy may already have): start them again.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await podman(['start', container('controller'), container('worker-1')]);

    const done = await timed('four experiments through the kills', () =>
      Promise.all(ids.map((id) => ended(id, 300_000))),
    );
    for (const [index, experiment] of done.entries()) await assertCompletedOnce(experiment, `in flight ${index}`);
  },
);

step('stops a worker on SIGTERM within its drain grace, exiting 0', async () => {
  const started = performance.now();
  await podman(['stop', '--time', '30', container('worker-2')]);
  const seconds = (performance.now() - started) / 1000;
  const [inspected] = JSON.parse((await podman(['container', 'inspect', container('worker-2')])).stdout);
  assert.equal(inspected.State.ExitCode, 0, 'Drover exited by itself, not killed after the grace period');
  assert.ok(seconds < 20, `stopped in ${seconds.toFixed(1)} s`);
  const workers = await api('GET', '/api/v1/workers');
  assert.equal(workers.status, 200);
  assert.ok(
    workers.body.items.some((worker: any) => worker.state === 'stopped'),
    `a worker shows stopped: ${JSON.stringify(workers.body.items.map((worker: any) => worker.state))}`,
  );
});

step('runs the demo pi-monte-carlo on `local` in the single-container deployment (drover up)', async () => {
  const port = await freePort();
  const token = randomBytes(24).toString('hex');
  const name = `${project}-single`;
  await podman([
    'run',
    '-d',
    '--rm',
    '--name',
    name,
    '-p',
    `127.0.0.1:${port}:8080`,
    '-e',
    `DROVER_ADMIN_TOKEN=${token}`,
    image,
  ]);
  try {
    const url = `http://127.0.0.1:${port}`;
    await waitFor('drover up to answer /readyz', async () => (await fetch(`${url}/readyz`)).ok, 120_000, 250);
    const created = await call(
      url,
      'POST',
      '/api/v1/experiments',
      {
        application: 'pi-monte-carlo',
        resource: 'local',
        inputs: { samples: 200000, seed: 7 },
      },
      token,
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const done = await waitFor(
      'the experiment on local to end',
      async () => {
        const { body } = await call(url, 'GET', `/api/v1/experiments/${created.body.id}`, undefined, token);
        return ['completed', 'failed', 'canceled'].includes(body.state) ? body : null;
      },
      120_000,
      250,
    );
    assert.equal(done.state, 'completed', JSON.stringify(done.failure));
    const result = (await call(url, 'GET', `/api/v1/experiments/${done.id}/outputs/result.json`, undefined, token))
      .body;
    assert.equal(result.samples, 200000);
    assert.ok(Math.abs(result.estimate - Math.PI) < 0.05, `estimate ${result.estimate}`);
  } finally {
    await podman(['stop', '--time', '30', name]).catch(() => undefined);
  }
});
