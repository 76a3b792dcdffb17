/**
 * Gateways as tenants, through the real API and CLI: the platform operator creates, lists
 * and disables gateways; a gateway admin manages their own catalogue but never the Drover
 * host; SSH keys are stored encrypted and never returned; users' tokens are created once
 * and rotated by their own call.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { droverBin } from './drover-bin.ts';
import { adminToken, runCli, startTestDrover, type CliRun, type TestDrover } from './harness.ts';

let drover: TestDrover;
let workDir: string;
before(async () => {
  drover = await startTestDrover();
  workDir = await mkdtemp(join(tmpdir(), 'drover-gateways-'));
});
after(async () => {
  await drover?.stop();
  await rm(workDir, { recursive: true, force: true });
});

function cli(args: string[], token = adminToken): Promise<CliRun> {
  return runCli(args, { url: drover.url, workDir, token });
}

const clusterResource = (name: string, ssh: Record<string, unknown>) => ({
  name,
  kind: 'slurm',
  config: {
    scratchDir: '/home/hpcuser/drover',
    queues: [{ name: 'debug', maxWalltimeMinutes: 30, maxCores: 4 }],
    ssh: {
      host: '127.0.0.1',
      port: 2222,
      user: 'hpcuser',
      hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL1AtEHaSS8X6T1Ix27b408vb3D3kbgR/Ls/ql2NRe8O',
      ...ssh,
    },
  },
});

describe('gateways (platform operator)', () => {
  let ocean: { id: string; token: string };

  it('the operator creates a gateway with its own admin, name and colours; the admin token is shown once', async () => {
    const created = await drover.call('POST', '/api/v1/gateways', {
      id: 'ocean',
      name: 'Ocean Lab',
      theme: { primary: '#0a7e8c' },
      admin: 'marina',
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.gateway.name, 'Ocean Lab');
    assert.equal(created.body.admin.name, 'marina');
    ocean = { id: 'ocean', token: created.body.admin.token };
    const me = await drover.call('GET', '/api/v1/me', undefined, ocean.token);
    assert.deepEqual(
      { ...me.body.user, id: undefined },
      { id: undefined, name: 'marina', role: 'admin', operator: false },
    );
    assert.deepEqual(me.body.gateway, { id: 'ocean', name: 'Ocean Lab', theme: { primary: '#0a7e8c' } });
    // The sign-in page of that gateway, before anyone signs in.
    assert.equal((await drover.call('GET', '/api/v1/gateway?gateway=ocean', undefined, null)).body.name, 'Ocean Lab');
    assert.equal(
      (await drover.call('GET', '/api/v1/gateway', undefined, null)).body.id,
      'default',
      'without ?gateway=, the bootstrap gateway',
    );
    assert.equal((await drover.call('GET', '/api/v1/gateway?gateway=nowhere', undefined, null)).status, 404);
    // Its catalogue starts empty: the bootstrap gateway's demo applications are not its.
    assert.deepEqual((await drover.call('GET', '/api/v1/applications', undefined, ocean.token)).body.items, []);
    // The operator keeps working as admin of the bootstrap gateway.
    assert.equal((await drover.call('GET', '/api/v1/me')).body.user.operator, true);
    assert.ok((await drover.call('GET', '/api/v1/applications')).body.items.length > 0);
  });

  it('refuses bad and duplicate gateways, naming the field', async () => {
    const taken = await drover.call('POST', '/api/v1/gateways', { id: 'ocean', name: 'Again' });
    assert.equal(taken.status, 409);
    assert.equal(taken.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    const bad = await drover.call('POST', '/api/v1/gateways', { id: 'Bad Id', name: 'x', theme: { primary: 'red;}' } });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body.errors.map((error: any) => error.field).sort(), ['id', 'theme.primary']);
  });

  it('only the operator manages gateways: a gateway admin gets 403', async () => {
    for (const [method, path] of [
      ['GET', '/api/v1/gateways'],
      ['POST', '/api/v1/gateways'],
      ['POST', '/api/v1/gateways/default/disable'],
    ] as const) {
      const answer = await drover.call(
        method,
        path,
        method === 'POST' ? { id: 'sneaky', name: 'x' } : undefined,
        ocean.token,
      );
      assert.equal(answer.status, 403, `${method} ${path}`);
    }
    const adminOfBootstrap = (await drover.call('POST', '/api/v1/users', { name: 'second-admin', role: 'admin' })).body
      .token;
    assert.equal(
      (await drover.call('GET', '/api/v1/gateways', undefined, adminOfBootstrap)).status,
      403,
      'another admin of the bootstrap gateway is not the operator',
    );
  });

  it("a disabled gateway's tokens are refused with a clear problem, and work again once enabled", async () => {
    const disabled = await drover.call('POST', '/api/v1/gateways/ocean/disable');
    assert.equal(disabled.status, 200);
    assert.equal(disabled.body.disabled, true);
    const refused = await drover.call('GET', '/api/v1/me', undefined, ocean.token);
    assert.equal(refused.status, 403);
    assert.equal(refused.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.equal(refused.body.type, 'urn:drover:problem:gateway-disabled');
    assert.match(refused.body.detail, /gateway ocean is disabled/);
    assert.equal(
      (await drover.call('GET', '/api/v1/gateway?gateway=ocean', undefined, null)).status,
      404,
      'its sign-in page is gone too',
    );
    assert.equal(
      (await drover.call('GET', '/api/v1/gateways')).body.items.find((gateway: any) => gateway.id === 'ocean').disabled,
      true,
    );
    assert.equal(
      (await drover.call('POST', '/api/v1/gateways/default/disable')).status,
      400,
      'the bootstrap gateway holds the operator',
    );
    assert.equal((await drover.call('POST', '/api/v1/gateways/ocean/enable')).status, 200);
    assert.equal((await drover.call('GET', '/api/v1/me', undefined, ocean.token)).status, 200);
  });

  it('gateway admins manage their catalogue but never the Drover host: local resources and host paths are 403 naming the field', async () => {
    const local = await drover.call(
      'POST',
      '/api/v1/resources',
      {
        name: 'mine',
        kind: 'local',
        config: { scratchDir: '/tmp/x', queues: [{ name: 'q', maxWalltimeMinutes: 5, maxCores: 1 }] },
      },
      ocean.token,
    );
    assert.equal(local.status, 403);
    assert.deepEqual(
      local.body.errors.map((error: any) => error.field),
      ['kind'],
    );
    const keyPath = await drover.call(
      'POST',
      '/api/v1/resources',
      clusterResource('hpc', { privateKeyPath: '/etc/ssh/ssh_host_ed25519_key' }),
      ocean.token,
    );
    assert.equal(keyPath.status, 403);
    assert.deepEqual(
      keyPath.body.errors.map((error: any) => error.field),
      ['config.ssh.privateKeyPath'],
    );
    const knownHosts = await drover.call(
      'POST',
      '/api/v1/resources',
      clusterResource('hpc', { credential: 'k', hostKey: undefined, knownHostsPath: '/etc/passwd' }),
      ocean.token,
    );
    assert.equal(knownHosts.status, 403);
    assert.deepEqual(
      knownHosts.body.errors.map((error: any) => error.field),
      ['config.ssh.knownHostsPath'],
    );

    // In the bootstrap gateway, an admin who is not the operator cannot use the operator's local resource either.
    const admin = (await drover.call('POST', '/api/v1/users', { name: 'catalogue-admin', role: 'admin' })).body.token;
    const onLocal = await drover.call(
      'POST',
      '/api/v1/applications',
      { name: 'reader', title: 'Reads files', deployments: { local: { command: ['cat', '/etc/passwd'] } } },
      admin,
    );
    assert.equal(onLocal.status, 403);
    assert.deepEqual(
      onLocal.body.errors.map((error: any) => error.field),
      ['deployments.local'],
    );
    const wildcard = await drover.call(
      'POST',
      '/api/v1/applications',
      { name: 'reader', title: 'Reads files', deployments: { '*': { command: ['cat', '/etc/passwd'] } } },
      admin,
    );
    assert.equal(wildcard.status, 201, 'a wildcard deployment is accepted ...');
    const run = await drover.call('POST', '/api/v1/experiments', { application: 'reader', resource: 'local' }, admin);
    assert.equal(run.status, 403, '... but never runs on the host');
    assert.deepEqual(
      run.body.errors.map((error: any) => error.field),
      ['resource'],
    );
    const replace = await drover.call(
      'POST',
      '/api/v1/resources',
      clusterResource('local', { credential: 'none' }),
      admin,
    );
    assert.equal(replace.status, 403, "the operator's local resource cannot be replaced by an admin");
    // Host paths the operator gave are shown to the operator only.
    assert.equal(
      (
        await drover.call(
          'POST',
          '/api/v1/resources',
          clusterResource('operator-hpc', {
            privateKeyPath: '/etc/drover/key',
            hostKey: undefined,
            knownHostsPath: '/etc/drover/known_hosts',
          }),
        )
      ).status,
      201,
    );
    const seenByAdmin = JSON.stringify(
      (await drover.call('GET', '/api/v1/resources/operator-hpc', undefined, admin)).body,
    );
    assert.ok(!seenByAdmin.includes('/etc/drover'), seenByAdmin);
    assert.match(
      JSON.stringify((await drover.call('GET', '/api/v1/resources/operator-hpc')).body),
      /\/etc\/drover\/key/,
    );
    // The operator's own applications still run there.
    assert.equal(
      (
        await drover.call('POST', '/api/v1/experiments', {
          application: 'pi-monte-carlo',
          resource: 'local',
          inputs: { samples: 1000 },
          launch: false,
        })
      ).status,
      201,
    );
  });

  it('stores SSH keys encrypted: generated or uploaded, public key shown, private key never returned', async () => {
    const generated = await drover.call('POST', '/api/v1/credentials', { name: 'cluster-key' }, ocean.token);
    assert.equal(generated.status, 201, JSON.stringify(generated.body));
    assert.match(generated.body.publicKey, /^ssh-ed25519 AAAA[A-Za-z0-9+/=]+ drover:ocean\/cluster-key$/);
    const own = ssh2.utils.generateKeyPairSync('ed25519');
    const uploaded = await drover.call(
      'POST',
      '/api/v1/credentials',
      { name: 'uploaded', privateKey: own.private },
      ocean.token,
    );
    assert.equal(uploaded.status, 201);
    assert.equal(uploaded.body.publicKey.split(' ').slice(0, 2).join(' '), own.public.split(' ').slice(0, 2).join(' '));
    assert.equal((await drover.call('POST', '/api/v1/credentials', { name: 'cluster-key' }, ocean.token)).status, 409);
    const junk = await drover.call(
      'POST',
      '/api/v1/credentials',
      { name: 'junk', privateKey: own.public },
      ocean.token,
    );
    assert.equal(junk.status, 400);
    assert.deepEqual(
      junk.body.errors.map((error: any) => error.field),
      ['privateKey'],
    );

    const listing = await drover.call('GET', '/api/v1/credentials', undefined, ocean.token);
    assert.deepEqual(
      listing.body.items.map((item: any) => item.name),
      ['cluster-key', 'uploaded'],
    );
    assert.ok(!JSON.stringify(listing.body).includes('PRIVATE KEY'));
    assert.ok(!JSON.stringify(listing.body).includes(own.private.split('\n')[1]));
    // At rest: not the key, and it decrypts only under its own gateway and name.
    const rows = await drover.drover.store.query<{ secret: string }>(
      `select secret from credentials where gateway_id = 'ocean'`,
    );
    for (const row of rows)
      assert.ok(!Buffer.from(row.secret, 'base64').toString('latin1').includes('OPENSSH'), 'stored encrypted');

    const user = (await drover.call('POST', '/api/v1/users', { name: 'ocean-user' }, ocean.token)).body.token;
    assert.equal(
      (await drover.call('GET', '/api/v1/credentials', undefined, user)).status,
      403,
      'users do not manage credentials',
    );

    const missing = await drover.call(
      'POST',
      '/api/v1/resources',
      clusterResource('hpc', { credential: 'nope' }),
      ocean.token,
    );
    assert.equal(missing.status, 400);
    assert.deepEqual(
      missing.body.errors.map((error: any) => error.field),
      ['config.ssh.credential'],
    );
    const resource = await drover.call(
      'POST',
      '/api/v1/resources',
      clusterResource('hpc', { credential: 'cluster-key' }),
      ocean.token,
    );
    assert.equal(resource.status, 201, JSON.stringify(resource.body));
    const inUse = await drover.call('DELETE', '/api/v1/credentials/cluster-key', undefined, ocean.token);
    assert.equal(inUse.status, 409);
    assert.match(inUse.body.errors[0].message, /resources hpc log in with it/);
    assert.equal((await drover.call('DELETE', '/api/v1/credentials/uploaded', undefined, ocean.token)).status, 204);
  });

  it('the CLI creates, lists and disables gateways, stores credentials and manages users and tokens', async () => {
    const created = await cli(['gateways', 'create', 'river', '--name', 'River Lab', '--primary', '#2d6a4f']);
    assert.equal(created.code, 0, created.stderr);
    const riverToken = /token \(shown once; store it now\): (\S+)/.exec(created.stdout)?.[1];
    assert.ok(riverToken, created.stdout);
    assert.match(created.stdout, /sign-in page: http:\/\/.*\/\?gateway=river/);
    const listed = await cli(['gateways', 'ls']);
    assert.match(listed.stdout, /^river\s+River Lab\s+enabled/m);
    const denied = await cli(['gateways', 'ls'], riverToken);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /only the platform operator/);

    const key = await cli(['credentials', 'create', 'login'], riverToken);
    assert.equal(key.code, 0, key.stderr);
    assert.match(key.stdout, /^ssh-ed25519 AAAA\S+ drover:river\/login$/m);
    const keyFile = join(workDir, 'id_test');
    await writeFile(keyFile, ssh2.utils.generateKeyPairSync('ed25519').private, { mode: 0o600 });
    const mine = await cli(['credentials', 'create', 'mine', '--private-key-file', keyFile], riverToken);
    assert.equal(mine.code, 0, `${mine.stderr}\n${mine.stdout}`);
    assert.deepEqual(
      JSON.parse((await cli(['credentials', 'ls', '--json'], riverToken)).stdout).items.map((item: any) => item.name),
      ['login', 'mine'],
    );
    assert.equal((await cli(['credentials', 'rm', 'mine'], riverToken)).code, 0);

    const user = await cli(['users', 'create', 'rhea'], riverToken);
    const rheaToken = /token \(shown once; store it now\): (\S+)/.exec(user.stdout)?.[1];
    assert.ok(rheaToken, user.stdout);
    const again = await cli(['users', 'create', 'rhea'], riverToken);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /user "rhea" exists/);
    const rotated = await cli(['users', 'token'], rheaToken);
    const newToken = /token \(shown once; store it now\): (\S+)/.exec(rotated.stdout)?.[1];
    assert.ok(newToken, rotated.stdout + rotated.stderr);
    assert.equal((await drover.call('GET', '/api/v1/me', undefined, rheaToken)).status, 401, 'the old token ends');
    assert.equal((await drover.call('GET', '/api/v1/me', undefined, newToken)).status, 200);

    assert.equal((await cli(['gateways', 'disable', 'river'])).code, 0);
    const refused = await cli(['apps'], newToken);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /gateway river is disabled/);
  });
});

describe('users and tokens', () => {
  it('POST /users on an existing name is a 409 and the old token keeps working', async () => {
    const first = await drover.call('POST', '/api/v1/users', { name: 'ursula' });
    assert.equal(first.status, 201);
    const second = await drover.call('POST', '/api/v1/users', { name: 'ursula', role: 'admin' });
    assert.equal(second.status, 409);
    assert.deepEqual(
      second.body.errors.map((error: any) => error.field),
      ['name'],
    );
    const me = await drover.call('GET', '/api/v1/me', undefined, first.body.token);
    assert.equal(me.status, 200);
    assert.equal(me.body.user.role, 'user', 'not silently promoted');
  });

  it('rotates a token for the user themself and for an admin of the same gateway, never across', async () => {
    const victor = (await drover.call('POST', '/api/v1/users', { name: 'victor' })).body.token;
    const wendy = (await drover.call('POST', '/api/v1/users', { name: 'wendy' })).body.token;
    const own = await drover.call('POST', '/api/v1/users/victor/token', undefined, victor);
    assert.equal(own.status, 201);
    assert.equal((await drover.call('GET', '/api/v1/me', undefined, victor)).status, 401);
    assert.equal((await drover.call('GET', '/api/v1/me', undefined, own.body.token)).body.user.name, 'victor');
    assert.equal(
      (await drover.call('POST', '/api/v1/users/victor/token', undefined, wendy)).status,
      404,
      "a user cannot rotate another's token",
    );
    const byAdmin = await drover.call('POST', '/api/v1/users/victor/token');
    assert.equal(byAdmin.status, 201);
    assert.equal((await drover.call('GET', '/api/v1/me', undefined, own.body.token)).status, 401);
    assert.equal((await drover.call('POST', '/api/v1/users/nobody/token')).status, 404);
    const otherAdmin = (await drover.call('POST', '/api/v1/users', { name: 'other-admin', role: 'admin' })).body.token;
    assert.equal(
      (await drover.call('POST', '/api/v1/users/admin/token', undefined, otherAdmin)).status,
      403,
      "another admin cannot take the operator's token",
    );
    assert.equal((await drover.call('GET', '/api/v1/me')).status, 200, 'the operator token still works');
  });
});

describe('drover up and the admin token', () => {
  async function up(environment: Record<string, string>): Promise<string> {
    const dataDir = await mkdtemp(join(tmpdir(), 'drover-up-'));
    try {
      return await new Promise<string>((resolve, reject) => {
        const child = execFile(process.execPath, [droverBin, 'up', '--memory', '--port', '0', '--catalogue', ''], {
          env: { ...process.env, DROVER_DATA_DIR: dataDir, DROVER_LOG_LEVEL: 'silent', ...environment },
        });
        let stderr = '';
        // 90 s like the other tests' starts: a first start compiles TypeScript, slow on a busy machine.
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`drover up did not start: ${stderr}`));
        }, 90_000);
        child.on('exit', (code, signal) => {
          clearTimeout(timer);
          if (!stderr.includes('  try:')) reject(new Error(`drover up exited with ${code ?? signal}: ${stderr}`));
        });
        child.stderr!.on('data', (chunk) => {
          stderr += chunk;
          if (stderr.includes('  try:')) {
            clearTimeout(timer);
            child.kill('SIGTERM');
            child.on('exit', () => resolve(stderr));
          }
        });
      });
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }

  it('prints the admin token only when Drover generated it', async () => {
    const generated = await up({});
    assert.match(generated, /admin token: {2}drv_\S+/);
    const configured = await up({ DROVER_ADMIN_TOKEN: 'configured-secret-token-0123456789' });
    assert.doesNotMatch(configured, /admin token:/);
    assert.match(configured, /sign in with the admin token from your configuration/);
    assert.ok(!configured.includes('configured-secret-token-0123456789'));
  });
});
