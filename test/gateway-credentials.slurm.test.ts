/**
 * Stored SSH credentials on the real test cluster, through the real API: a gateway admin
 * (not the platform operator) uploads the cluster account's key as a credential, pins the
 * login node's host key, and their user's experiment runs to completion. A second gateway
 * with a resource and a credential of the same names, but a key the cluster does not know,
 * is refused login; its users see why without any key path or key in the message.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { testClusterSsh } from './test-cluster.ts';
import { startTestDrover, waitFor, waitForState, type TestDrover } from './harness.ts';

let drover: TestDrover;
before(async () => {
  drover = await startTestDrover({ catalogue: '' });
});
after(async () => {
  await drover?.stop();
});

const application = {
  name: 'greet',
  title: 'Print a message',
  inputs: [{ name: 'message', type: 'string', default: 'hello' }],
  outputs: ['out.txt'],
  deployments: {
    hpc: {
      command: ['bash', '-c', 'printf "%s\\n" "$1" | tee out.txt', 'greet', '{{message}}'],
      queue: 'debug',
      walltimeMinutes: 5,
    },
  },
};

/** A gateway with an admin, a user, the named credential (uploaded key or generated), a Slurm resource `hpc` and the application. */
async function gatewayOnCluster(id: string, privateKey: string | undefined) {
  const created = await drover.call('POST', '/api/v1/gateways', { id, name: `${id} lab` });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const admin = created.body.admin.token;
  const credential = await drover.call('POST', '/api/v1/credentials', { name: 'cluster-login', privateKey }, admin);
  assert.equal(credential.status, 201, JSON.stringify(credential.body));
  const [, hostKey] = /^\S+ (\S+ \S+)/.exec(await readFile(testClusterSsh.knownHostsPath, 'utf8'))!;
  const resource = await drover.call(
    'POST',
    '/api/v1/resources',
    {
      name: 'hpc',
      kind: 'slurm',
      config: {
        scratchDir: `/home/hpcuser/scratch/${id}`,
        pollIntervalSeconds: 1,
        ssh: {
          host: testClusterSsh.host,
          port: testClusterSsh.port,
          user: testClusterSsh.user,
          credential: 'cluster-login',
          hostKey,
        },
        queues: [{ name: 'debug', maxWalltimeMinutes: 10, maxCores: 2 }],
      },
    },
    admin,
  );
  assert.equal(resource.status, 201, JSON.stringify(resource.body));
  assert.equal((await drover.call('POST', '/api/v1/applications', application, admin)).status, 201);
  const user = (await drover.call('POST', '/api/v1/users', { name: `${id}-user` }, admin)).body.token;
  return { admin, user, publicKey: credential.body.publicKey as string };
}

it(
  "a gateway admin's stored key runs jobs on the cluster; another gateway's same-named credential is its own",
  { timeout: 300_000 },
  async () => {
    const clusterKey = await readFile(testClusterSsh.privateKeyPath, 'utf8');
    const good = await gatewayOnCluster('good', clusterKey);
    const other = await gatewayOnCluster('other', undefined);

    const run = await drover.call(
      'POST',
      '/api/v1/experiments',
      { application: 'greet', resource: 'hpc', inputs: { message: 'from a stored key' } },
      good.user,
    );
    assert.equal(run.status, 201, JSON.stringify(run.body));
    const refused = await drover.call(
      'POST',
      '/api/v1/experiments',
      { application: 'greet', resource: 'hpc', inputs: { message: 'never runs' } },
      other.user,
    );
    assert.equal(refused.status, 201);

    const done = await waitForState(drover, run.body.id, ['completed', 'failed', 'canceled'], 180_000, good.user);
    assert.equal(done.state, 'completed', JSON.stringify(done.failure ?? done.job));
    assert.equal(
      (await drover.call('GET', `/api/v1/experiments/${run.body.id}/outputs/out.txt`, undefined, good.user)).body,
      'from a stored key\n',
    );

    const blocked = await waitForState(drover, refused.body.id, ['blocked'], 120_000, other.user);
    assert.match(blocked.blockedReason, /could not log in with the credential "cluster-login"/);
    const seen = JSON.stringify(
      await waitFor(
        'the experiment as its user sees it',
        async () => (await drover.call('GET', `/api/v1/experiments/${refused.body.id}`, undefined, other.user)).body,
      ),
    );
    for (const secret of [
      testClusterSsh.privateKeyPath,
      '/var/lib',
      'PRIVATE KEY',
      clusterKey.split('\n')[1],
      other.publicKey.split(' ')[1],
    ]) {
      assert.ok(!seen.includes(secret), `the user's view holds ${JSON.stringify(secret.slice(0, 30))}`);
    }
    assert.equal(
      (await drover.call('POST', `/api/v1/experiments/${refused.body.id}/cancel`, undefined, other.user)).status,
      202,
    );
    await waitForState(drover, refused.body.id, ['canceled'], 60_000, other.user);
  },
);
