/**
 * kill -9 of `drover up` while a job runs, then a restart on the same data folder: the
 * experiment completes, the job ran exactly once (its start marker is counted), and the
 * event log has no gap and no duplicate. And the embedded server across such a kill: the
 * restart adopts it (no second server), a second live Drover on the folder is refused.
 * And notifications across a kill -9 in the middle of a delivery: every one arrives, and a
 * resent one carries the same idempotency key.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeCluster } from '../src/store/embedded-server.ts';
import { droverBin } from './drover-bin.ts';
import { adminToken, call, eventsOf, processesInSession, waitFor, waitForState } from './harness.ts';
import { startSmtpSink } from './smtp-sink.ts';
import { signatureIsValid, startWebhookReceiver } from './webhook-receiver.ts';

const children: ChildProcess[] = [];
const folders: string[] = [];
after(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const folder of folders) {
    // A Drover killed by the test leaves its server running (the next start would adopt it).
    for (const pid of postmastersOf(folder)) process.kill(pid, 'SIGINT');
    await waitFor('the left servers to stop', async () => postmastersOf(folder).length === 0);
    removeCluster(folder);
    await rm(folder, { recursive: true, force: true });
  }
});

/** The pids of the postmasters running on the data folder's cluster (the children rename themselves). */
function postmastersOf(dataDir: string): number[] {
  let cluster: string;
  try {
    cluster = realpathSync(join(dataDir, 'postgres'));
  } catch {
    return [];
  }
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        if (!argv[0]!.endsWith('/postgres') || readlinkSync(`/proc/${pid}/cwd`) !== cluster) return false;
        // A backend the postmaster has just forked still shows its command line until it
        // sets its own title (CI once counted one as a second server): a postmaster's parent
        // is not a postgres process.
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const parent = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
        return readFileSync(`/proc/${parent}/comm`, 'utf8').trim() !== 'postgres';
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Runs `drover up` expecting it to fail; resolves with its exit code and what it printed. */
function failingUp(dataDir: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [droverBin, 'up', '--data-dir', dataDir, '--port', '0'], {
    env: { ...process.env, DROVER_ADMIN_TOKEN: adminToken, DATABASE_URL: '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
}

/** Starts `drover up` as a real process; resolves with its API address once it listens. */
async function startUp(
  dataDir: string,
  extra: { args?: string[]; env?: Record<string, string> } = {},
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [droverBin, 'up', '--data-dir', dataDir, '--port', '0', ...(extra.args ?? [])],
    {
      env: {
        ...process.env,
        ...extra.env,
        DROVER_ADMIN_TOKEN: adminToken,
        DROVER_CONTROLLER_POLL_MS: '200',
        DROVER_WORKER_POLL_MS: '200',
        DROVER_LEASE_MS: '3000',
        DROVER_LOG_LEVEL: 'warn',
        DATABASE_URL: '',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  children.push(child);
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    // A first start runs initdb: on a loaded 2-core machine (the quick tier runs two files
    // at once) that alone has taken over 30 s.
    const timer = setTimeout(() => reject(new Error(`drover up did not start:\n${output}`)), 90_000);
    child.stderr!.on('data', (chunk) => {
      output += chunk;
      const match = /API:\s+(http:\/\/\S+)\/api\/v1/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`drover up exited with ${code}:\n${output}`)));
  });
  return { child, url };
}

describe('drover up killed with SIGKILL while a job runs', () => {
  it('re-attaches after a restart: the job runs once and the experiment completes', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'drover-crash-'));
    folders.push(dataDir);
    const marker = join(dataDir, 'starts.log');

    let { child, url } = await startUp(dataDir);
    const api = { call: (method: string, path: string, body?: unknown) => call(url, method, path, body) };
    const app = await api.call('POST', '/api/v1/applications', {
      name: 'marked-sleep',
      title: 'Counts its starts, then sleeps (test fixture)',
      inputs: [
        { name: 'marker', type: 'string', required: true },
        { name: 'seconds', type: 'number', default: 4 },
      ],
      outputs: ['done.txt'],
      deployments: {
        '*': {
          command: [
            'bash',
            '-c',
            'echo started >> "$1"; sleep "$2"; echo finished > done.txt',
            '--',
            '{{marker}}',
            '{{seconds}}',
          ],
        },
      },
    });
    assert.equal(app.status, 201, JSON.stringify(app.body));
    const created = await api.call('POST', '/api/v1/experiments', {
      application: 'marked-sleep',
      resource: 'local',
      inputs: { marker, seconds: 4 },
    });
    assert.equal(created.status, 201);
    const id = created.body.id;
    const running = await waitFor('the job to run', async () => {
      const experiment = (await api.call('GET', `/api/v1/experiments/${id}`)).body;
      return experiment.job?.state === 'running' ? experiment : null;
    });

    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    assert.ok((await processesInSession(running.job.details.pid)).length > 0, 'the job outlives drover');

    ({ child, url } = await startUp(dataDir));
    const done = await waitForState(api, id, ['completed', 'failed', 'canceled'], 60_000);
    assert.equal(done.state, 'completed', JSON.stringify(done.failure));
    assert.equal(done.job.nativeId, running.job.nativeId, 'the same job, re-attached');
    assert.equal(done.job.exitCode, 0);

    const starts = (await readFile(marker, 'utf8')).trim().split('\n');
    assert.deepEqual(starts, ['started'], 'the job started exactly once');
    const outputs = await api.call('GET', `/api/v1/experiments/${id}/outputs/done.txt`);
    assert.equal(outputs.body, 'finished\n');

    const { seqs, moves } = await eventsOf(api, id);
    assert.deepEqual(
      seqs,
      seqs.map((_, index) => index + 1),
      'events are numbered 1..n without gaps',
    );
    // A task that was running when Drover died (the monitor, if the kill came before it
    // detached) goes back to ready at the restart and is claimed again: after its
    // running->ready, that task's ready->running may repeat. Nothing else may.
    const recovered = new Set(
      moves
        .filter((move) => move.endsWith(' running->ready'))
        .map((move) => move.replace(/running->ready$/, 'ready->running')),
    );
    const once = moves.filter((move, index) => !(recovered.has(move) && moves.indexOf(move) < index));
    assert.deepEqual(once, [...new Set(once)], `no transition is recorded twice:\n${moves.join('\n')}`);
    for (const expected of [
      'experiment new->created',
      'experiment queued->executing',
      'experiment executing->completed',
      'task stage-out running->completed',
    ]) {
      assert.ok(moves.includes(expected), `${expected} in\n${moves.join('\n')}`);
    }
    assert.equal(moves.filter((move) => move.startsWith('job ') && move.endsWith('->completed')).length, 1);

    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  });
});

describe('drover up killed with SIGKILL while it sends notifications', () => {
  it('delivers every notification after a restart; one sent again carries the same idempotency key', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'drover-notify-crash-'));
    folders.push(dataDir);
    const smtp = await startSmtpSink();
    const receiver = await startWebhookReceiver();
    try {
      const env = {
        DROVER_SMTP_URL: smtp.url,
        DROVER_WEBHOOK_ALLOWED_NETWORKS: '127.0.0.0/8',
        DROVER_NOTIFICATIONS_POLL_MS: '100',
        // The links in notifications: else the API's address, which changes with --port 0 at the restart.
        DROVER_PUBLIC_URL: 'https://gateway.example.org',
        DROVER_NOTIFICATIONS_RETRY_BASE_MS: '200',
        // Retries at most 2 s apart: a send that times out under load is tried again soon.
        DROVER_NOTIFICATIONS_RETRY_CAP_MS: '2000',
        // A claim lasts the send timeout + 5 s: a delivery cut off by the kill is claimed again 8 s on.
        DROVER_NOTIFICATIONS_SEND_TIMEOUT_MS: '3000',
        // Attempts that time out on a loaded machine must not use up a delivery: this test is
        // about the crash, and a delivery that failed for good would never arrive.
        DROVER_NOTIFICATIONS_MAX_ATTEMPTS: '30',
      };
      let { child, url } = await startUp(dataDir, { env });
      const api = { call: (method: string, path: string, body?: unknown) => call(url, method, path, body) };
      const settings = await api.call('PATCH', '/api/v1/notifications/settings', {
        events: ['started', 'completed'],
        email: 'operator@example.org',
        webhookUrl: `${receiver.url}/crash`,
      });
      assert.equal(settings.status, 200, JSON.stringify(settings.body));
      // The first webhook hangs: the kill comes while it is being sent.
      receiver.hold('/crash');
      const ids: string[] = [];
      for (const name of ['one', 'two', 'three']) {
        const created = await api.call('POST', '/api/v1/experiments', {
          application: 'pi-monte-carlo',
          resource: 'local',
          name,
          inputs: { samples: 1000 },
        });
        assert.equal(created.status, 201);
        ids.push(created.body.id);
      }
      await waitFor('a webhook on its way', async () => receiver.received.length > 0);
      const cutOff = receiver.received[0].headers['idempotency-key'];
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      receiver.release('/crash');

      ({ child, url } = await startUp(dataDir, { env }));
      for (const id of ids) await waitForState(api, id, ['completed'], 60_000);
      let seen: Array<{ channel: string; state: string; attempts?: number }> = [];
      const deliveries = await waitFor(
        'every delivery delivered',
        async () => {
          const page = (await api.call('GET', '/api/v1/notifications/deliveries?limit=200')).body.items;
          seen = page;
          return page.length === 12 && page.every((item: any) => item.state === 'delivered') ? page : null;
        },
        90_000,
      ).catch((error: Error) => {
        const states = seen.map((item) => `${item.channel} ${item.state} ${item.attempts ?? '?'}`).join(', ');
        throw new Error(`${error.message}; deliveries: ${states || 'none'}`);
      });
      const hooks = receiver.received;
      for (const delivery of deliveries) {
        if (delivery.channel === 'webhook') {
          const copies = hooks.filter((hook) => hook.headers['idempotency-key'] === delivery.id);
          assert.ok(copies.length >= 1, `webhook ${delivery.eventId} arrived`);
          assert.equal(new Set(copies.map((hook) => hook.body)).size, 1, 'every copy is the same event');
          assert.ok(copies.every((hook) => signatureIsValid(hook, settings.body.webhookSecret)));
        } else {
          const copies = smtp.messages().filter((mail) => mail.header('x-drover-delivery-id') === delivery.id);
          assert.ok(copies.length >= 1, `email ${delivery.eventId} arrived`);
          assert.equal(new Set(copies.map((mail) => mail.header('message-id'))).size, 1, 'one Message-ID');
        }
      }
      const resent = deliveries.find((item: any) => item.id === cutOff);
      assert.deepEqual(
        resent.attemptLog.map((attempt: any) => attempt.outcome),
        ['interrupted', 'delivered'],
        'the attempt cut off by the kill shows, then the one that went',
      );
      assert.equal(
        hooks.filter((hook) => hook.headers['idempotency-key'] === cutOff).length,
        2,
        'sent again under the same key',
      );
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    } finally {
      await smtp.stop();
      await receiver.stop();
    }
  });
});

describe('the embedded server across a kill -9 of drover up', () => {
  it('a second live Drover is refused; a restart right after the kill adopts the server; a clean stop stops it', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'drover-adopt-'));
    folders.push(dataDir);
    const first = await startUp(dataDir);
    const [server] = postmastersOf(dataDir);
    assert.ok(server, 'drover up started a server');

    const second = await failingUp(dataDir);
    assert.equal(second.code, 1, second.stderr);
    assert.match(
      second.stderr,
      new RegExp(`the data folder .* is in use by drover pid ${first.child.pid}; stop it first`),
    );
    assert.deepEqual(postmastersOf(dataDir), [server], 'the refused Drover leaves the server alone');

    first.child.kill('SIGKILL');
    await new Promise((resolve) => first.child.once('exit', resolve));
    // At once: the killed process's pid may not even be reaped yet.
    const again = await startUp(dataDir);
    assert.deepEqual(postmastersOf(dataDir), [server], 'the running server is adopted, not doubled');
    const me = await call(again.url, 'GET', '/api/v1/me');
    assert.equal(me.status, 200);

    again.child.kill('SIGTERM');
    await new Promise((resolve) => again.child.once('exit', resolve));
    assert.deepEqual(postmastersOf(dataDir), [], 'a clean stop stops the server');
  });
});

describe('drover up --memory killed with -9', () => {
  it('its throwaway server stops and its folder is removed, with no Drover left to adopt them', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'drover-throwaway-'));
    // The throwaway server is made in the temporary folder: a private one, to find it there.
    const temporary = await mkdtemp(join(tmpdir(), 'drover-throwaway-tmp-'));
    folders.push(dataDir, temporary);
    const { child } = await startUp(dataDir, { args: ['--memory'], env: { TMPDIR: temporary } });
    const [serverDir] = readdirSync(temporary).filter((name) => name.startsWith('drover-memory-'));
    assert.ok(serverDir, `a throwaway server folder in ${temporary}`);
    const [server] = postmastersOf(join(temporary, serverDir));
    assert.ok(server, 'drover up --memory started a server');
    // As root the cluster itself may live elsewhere (see embedded-server.ts), behind a symlink.
    const cluster = realpathSync(join(temporary, serverDir, 'postgres'));

    child.kill('SIGKILL');
    try {
      await waitFor('the throwaway server to stop and its folder to go', async () => {
        const alive = readdirSync('/proc').includes(String(server));
        // Only the server's folder: Node.js 22+ keeps its compile cache in the temporary folder too.
        const left = readdirSync(temporary).filter((name) => name.startsWith('drover-memory-'));
        return !alive && left.length === 0 && !existsSync(cluster);
      });
    } finally {
      // Should the watcher fail, the test does not leave the server behind.
      if (readdirSync('/proc').includes(String(server))) process.kill(server, 'SIGQUIT');
      await rm(cluster, { recursive: true, force: true });
    }
  });
});
