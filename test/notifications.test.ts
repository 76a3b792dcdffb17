/**
 * Notifications end to end: a real SMTP server process (test/smtp-sink.mjs) and a real
 * HTTP receiver on loopback, a real Drover whose controller delivers from the outbox. A
 * user sets their defaults through the API; experiments start and end; the test reads the
 * mail the SMTP server received and the webhooks the receiver got (signature checked as a
 * receiver would), and the delivery log the user sees: retries with backoff under one
 * idempotency key, final refusals, an experiment's own choice, bad input, and that no one
 * sees another's settings or deliveries.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exitWithApplication, runCli, startTestDrover, waitFor, waitForState, type TestDrover } from './harness.ts';
import { startSmtpSink, type SmtpSink } from './smtp-sink.ts';
import { signatureIsValid, startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.ts';

let drover: TestDrover;
let smtp: SmtpSink;
let receiver: WebhookReceiver;
let alice: { token: string; id: string };
let bob: { token: string; id: string };

before(async () => {
  smtp = await startSmtpSink();
  receiver = await startWebhookReceiver();
  drover = await startTestDrover({
    notifications: {
      pollMs: 100,
      retryBaseMs: 300,
      retryCapMs: 2000,
      maxAttempts: 3,
      sendTimeoutMs: 3000,
      publicUrl: 'https://gateway.example.org/',
      email: { smtpUrl: smtp.url, from: 'Drover Test <drover@notify.example.org>' },
      // The receiver listens on loopback, which webhooks may not reach by default.
      webhook: { allowedNetworks: ['127.0.0.0/8'] },
    },
  });
  const created = await drover.call('POST', '/api/v1/applications', exitWithApplication);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  for (const name of ['alice', 'bob']) {
    const user = await drover.call('POST', '/api/v1/users', { name });
    assert.equal(user.status, 201, JSON.stringify(user.body));
    if (name === 'alice') alice = { token: user.body.token, id: user.body.id };
    else bob = { token: user.body.token, id: user.body.id };
  }
});
after(async () => {
  await drover?.stop();
  await smtp?.stop();
  await receiver?.stop();
});

const as = (user: { token: string }) => ({
  call: (method: string, path: string, body?: unknown) => drover.call(method, path, body, user.token),
});

async function configure(user: { token: string }, change: Record<string, unknown>) {
  const answer = await as(user).call('PATCH', '/api/v1/notifications/settings', change);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body;
}

async function submit(user: { token: string }, body: Record<string, unknown>) {
  const created = await as(user).call('POST', '/api/v1/experiments', {
    application: 'pi-monte-carlo',
    resource: 'local',
    inputs: { samples: 1000 },
    ...body,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body;
}

/** The user's deliveries of one experiment, once `count` of them are final (delivered or failed). */
async function finalDeliveries(user: { token: string }, experimentId: string, count: number) {
  return waitFor(`${count} final deliveries of ${experimentId}`, async () => {
    const page = await as(user).call('GET', `/api/v1/notifications/deliveries?experiment=${experimentId}`);
    const final = page.body.items.filter((item: any) => item.state === 'delivered' || item.state === 'failed');
    return final.length >= count ? page.body.items : null;
  });
}

describe('notifications', () => {
  let secret: string;

  it('sends an email and a signed webhook when an experiment starts and ends, each once, and logs them', async () => {
    const set = await as(alice).call('PATCH', '/api/v1/notifications/settings', {
      events: ['started', 'completed', 'failed'],
      email: 'alice@example.org',
      webhookUrl: `${receiver.url}/alice`,
    });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.match(set.body.webhookSecret, /^whsec_[A-Za-z0-9_-]{43}$/, 'the new secret is shown once');
    secret = set.body.webhookSecret;
    const read = await as(alice).call('GET', '/api/v1/notifications/settings');
    const { webhookSecret: _shown, ...stored } = set.body;
    assert.deepEqual(read.body, stored);
    assert.equal(read.body.webhookSecretSet, true);
    assert.equal(read.body.emailAvailable, true);
    assert.ok(!JSON.stringify(read.body).includes(secret), 'the secret is never shown again');
    const again = await as(alice).call('PATCH', '/api/v1/notifications/settings', {
      webhookUrl: `${receiver.url}/alice`,
    });
    assert.equal(again.body.webhookSecret, undefined, 'an existing secret is kept, not shown');

    const experiment = await submit(alice, { name: 'first run' });
    await waitForState(as(alice), experiment.id, ['completed'], 60_000, alice.token);
    const deliveries = await finalDeliveries(alice, experiment.id, 4);
    assert.deepEqual(
      deliveries.map((item: any) => `${item.event} ${item.channel} ${item.state} ${item.attempts}`).sort(),
      [
        'completed email delivered 1',
        'completed webhook delivered 1',
        'started email delivered 1',
        'started webhook delivered 1',
      ],
    );
    for (const item of deliveries) {
      assert.equal(item.experimentName, 'first run');
      assert.match(item.eventId, new RegExp(`^${experiment.id}:\\d+$`));
      assert.ok(item.deliveredAt && item.nextAttemptAt === null);
      assert.deepEqual(
        item.attemptLog.map((attempt: any) => attempt.outcome),
        ['delivered'],
      );
    }

    const mails = smtp.messages().filter((mail) => mail.envelope.to.includes('alice@example.org'));
    assert.equal(mails.length, 2, 'one email per event');
    const completedMail = mails.find((mail) => mail.header('subject') === 'Experiment "first run" completed');
    assert.ok(completedMail, mails.map((mail) => mail.header('subject')).join(', '));
    const completedEmail = deliveries.find((item: any) => item.event === 'completed' && item.channel === 'email');
    assert.equal(completedMail.header('message-id'), `<${completedEmail.id}@notify.example.org>`);
    assert.equal(completedMail.header('x-drover-event-id'), completedEmail.eventId);
    assert.equal(completedMail.header('from'), 'Drover Test <drover@notify.example.org>');
    assert.deepEqual(completedMail.envelope.to, ['alice@example.org']);
    assert.match(completedMail.text, new RegExp(`https://gateway\\.example\\.org/experiments/${experiment.id}`));

    const hooks = receiver.received.filter((hook) => hook.path === '/alice');
    assert.equal(hooks.length, 2, 'one webhook per event');
    for (const hook of hooks) {
      assert.ok(signatureIsValid(hook, secret), 'signed with the secret shown once');
      assert.ok(!signatureIsValid(hook, 'whsec_another'), 'and with no other');
      const delivery = deliveries.find((item: any) => item.channel === 'webhook' && item.event === hook.json.event);
      assert.equal(hook.headers['idempotency-key'], delivery.id);
      assert.equal(hook.headers['drover-event-id'], delivery.eventId);
      assert.equal(hook.headers['content-type'], 'application/json');
      assert.deepEqual(hook.json, {
        id: delivery.eventId,
        type: `experiment.${hook.json.event}`,
        event: hook.json.event,
        occurredAt: delivery.occurredAt,
        experiment: {
          id: experiment.id,
          name: 'first run',
          application: 'pi-monte-carlo',
          state: hook.json.event === 'started' ? 'executing' : 'completed',
          failure: null,
          url: `https://gateway.example.org/experiments/${experiment.id}`,
        },
      });
    }
    assert.deepEqual(hooks.map((hook) => hook.json.event).sort(), ['completed', 'started']);

    const rotated = await as(alice).call('POST', '/api/v1/notifications/settings/webhook-secret');
    assert.equal(rotated.status, 201);
    assert.notEqual(rotated.body.webhookSecret, secret);
    secret = rotated.body.webhookSecret;
  });

  it('retries a failing receiver with backoff under one idempotency key; a 4xx fails at once and can be sent again', async () => {
    await configure(alice, {
      events: ['completed'],
      email: null,
      webhookUrl: `${receiver.url}/flaky`,
    });
    receiver.script('/flaky', [503, 500]);
    const flaky = await submit(alice, { name: 'flaky receiver' });
    const [delivery] = await finalDeliveries(alice, flaky.id, 1);
    assert.equal(delivery.state, 'delivered', JSON.stringify(delivery));
    assert.equal(delivery.attempts, 3, JSON.stringify(delivery));
    assert.deepEqual(
      delivery.attemptLog.map((attempt: any) => `${attempt.outcome} ${attempt.status}`),
      ['failed 503', 'failed 500', 'delivered 200'],
    );
    assert.match(delivery.attemptLog[0].error, /answered 503: scripted 503/);
    const hooks = receiver.received.filter((hook) => hook.path === '/flaky');
    assert.equal(hooks.length, 3);
    assert.deepEqual(new Set(hooks.map((hook) => hook.headers['idempotency-key'])), new Set([delivery.id]));
    assert.deepEqual(new Set(hooks.map((hook) => hook.body)).size, 1, 'every attempt sends the same body');
    assert.deepEqual(
      hooks.map((hook) => hook.headers['drover-attempt']),
      ['1', '2', '3'],
    );
    assert.ok(
      hooks.every((hook) => signatureIsValid(hook, secret)),
      'signed with the rotated secret',
    );
    // Backoff: about 300 ms, then about 600 ms (less up to a fifth), after each answer.
    assert.ok(hooks[1].at - hooks[0].at >= 230, `first retry after ${hooks[1].at - hooks[0].at} ms`);
    assert.ok(hooks[2].at - hooks[1].at >= 470, `second retry after ${hooks[2].at - hooks[1].at} ms`);

    await configure(alice, { webhookUrl: `${receiver.url}/gone` });
    receiver.script('/gone', [410, 410]);
    const refused = await submit(alice, { name: 'receiver says gone' });
    const [failed] = await finalDeliveries(alice, refused.id, 1);
    assert.equal(failed.state, 'failed');
    assert.equal(failed.attempts, 1, 'a 4xx is not retried');
    assert.match(failed.lastError, /answered 410/);
    assert.equal(failed.lastStatus, '410');

    const again = await as(alice).call('POST', `/api/v1/notifications/deliveries/${failed.id}/redeliver`);
    assert.equal(again.status, 200, JSON.stringify(again.body));
    const resent = await waitFor('the resent delivery to end', async () => {
      const item = (await as(alice).call('GET', `/api/v1/notifications/deliveries/${failed.id}`)).body;
      return item.attemptLog.length === 2 && item.state === 'failed' ? item : null;
    });
    assert.deepEqual(
      resent.attemptLog.map((attempt: any) => attempt.status),
      ['410', '410'],
    );
    const conflict = await as(alice).call('POST', `/api/v1/notifications/deliveries/${delivery.id}/redeliver`);
    assert.equal(conflict.status, 409, 'a delivered one is not sent again');
  });

  it("follows an experiment's own choice over the defaults, set at creation or later", async () => {
    await configure(alice, {
      events: ['completed', 'failed'],
      email: 'alice@example.org',
      webhookUrl: `${receiver.url}/choice`,
    });
    const own = await submit(alice, { name: 'start only, by email', notify: { events: ['started'], webhook: false } });
    assert.deepEqual(own.notify, { events: ['started'], webhook: false });
    await waitForState(as(alice), own.id, ['completed'], 60_000, alice.token);
    const [started] = await finalDeliveries(alice, own.id, 1);
    assert.equal(`${started.event} ${started.channel} ${started.state}`, 'started email delivered');

    // A failing draft whose notifications are turned off once it exists, then on for failures only by webhook.
    const draft = await submit(alice, { application: 'exit-with', inputs: { code: 3 }, name: 'fails', launch: false });
    const quiet = await as(alice).call('PATCH', `/api/v1/experiments/${draft.id}`, {
      notify: { events: ['failed'], email: false },
    });
    assert.equal(quiet.status, 200, JSON.stringify(quiet.body));
    assert.deepEqual(quiet.body.notify, { events: ['failed'], email: false });
    const byAdmin = await drover.call('PATCH', `/api/v1/experiments/${draft.id}`, { notify: null });
    assert.equal(byAdmin.status, 403, 'an admin sees it but does not choose its owner’s notifications');
    assert.match(byAdmin.body.errors[0].field, /notify/);
    assert.equal((await as(bob).call('PATCH', `/api/v1/experiments/${draft.id}`, { notify: null })).status, 404);
    await as(alice).call('POST', `/api/v1/experiments/${draft.id}/launch`);
    await waitForState(as(alice), draft.id, ['failed'], 60_000, alice.token);
    const [failure] = await finalDeliveries(alice, draft.id, 1);
    assert.equal(`${failure.event} ${failure.channel} ${failure.state}`, 'failed webhook delivered');
    const hook = receiver.received.find((candidate) => candidate.headers['idempotency-key'] === failure.id)!;
    assert.equal(hook.json.experiment.state, 'failed');
    assert.match(hook.json.experiment.failure, /exit/i);
    // Settled: nothing else arrives for either (the deliverer polls every 100 ms).
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (const id of [own.id, draft.id]) {
      const page = await as(alice).call('GET', `/api/v1/notifications/deliveries?experiment=${id}`);
      assert.equal(page.body.items.length, 1);
    }
  });

  it('refuses bad settings with each field named, and webhook addresses the platform does not allow', async () => {
    const refused = async (body: unknown, field: string, pattern: RegExp) => {
      const answer = await as(bob).call('PATCH', '/api/v1/notifications/settings', body);
      assert.equal(answer.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(answer.body)}`);
      assert.match(answer.headers.get('content-type') ?? '', /application\/problem\+json/);
      const problem = answer.body.errors.find((error: any) => error.field.includes(field));
      assert.ok(problem, JSON.stringify(answer.body));
      assert.match(problem.message, pattern);
    };
    await refused({ email: 'bob@example.org, eve@example.org' }, 'email', /one email address/);
    await refused({ email: 'Bob <bob@example.org>' }, 'email', /one email address/);
    await refused({ email: 'bob@example.org\r\nBcc: eve@example.org' }, 'email', /one email address/);
    await refused({ webhookUrl: 'file:///etc/passwd' }, 'webhookUrl', /http/);
    await refused({ webhookUrl: 'gopher://example.org/' }, 'webhookUrl', /http/);
    await refused({ webhookUrl: 'https://bob:hunter2@example.org/hook' }, 'webhookUrl', /user name or password/);
    await refused({ webhookUrl: 'http://169.254.169.254/latest/meta-data/' }, 'webhookUrl', /not a public address/);
    await refused({ webhookUrl: 'http://[::ffff:10.0.0.1]/' }, 'webhookUrl', /not a public address/);
    await refused({ webhookUrl: 'example.org/hook' }, 'webhookUrl', /absolute URL/);
    await refused({ events: ['exploded'] }, 'events', /allowed values|must be equal to one of/);
    const badNotify = await as(bob).call('POST', '/api/v1/experiments', {
      application: 'pi-monte-carlo',
      resource: 'local',
      notify: { events: ['sometimes'] },
    });
    assert.equal(badNotify.status, 400);
    const settings = await as(bob).call('GET', '/api/v1/notifications/settings');
    assert.deepEqual(
      { events: settings.body.events, email: settings.body.email, webhookUrl: settings.body.webhookUrl },
      { events: ['completed', 'failed', 'canceled'], email: null, webhookUrl: null },
      'nothing of a refused change was stored',
    );
  });

  it("shows no one another user's settings or deliveries", async () => {
    const theirs = await as(alice).call('GET', '/api/v1/notifications/deliveries');
    assert.ok(theirs.body.items.length >= 5);
    const mine = await as(bob).call('GET', '/api/v1/notifications/deliveries');
    assert.deepEqual(mine.body, { items: [], nextCursor: null });
    const admin = await drover.call('GET', '/api/v1/notifications/deliveries');
    assert.deepEqual(admin.body.items, [], "an admin's log holds their own deliveries only");
    const one = theirs.body.items[0];
    for (const [method, path] of [
      ['GET', `/api/v1/notifications/deliveries/${one.id}`],
      ['POST', `/api/v1/notifications/deliveries/${one.id}/redeliver`],
    ]) {
      const answer = await as(bob).call(method, path);
      assert.equal(answer.status, 404, `${method} ${path}`);
      assert.ok(!JSON.stringify(answer.body).includes('alice@example.org'));
    }
    const filtered = await as(bob).call('GET', `/api/v1/notifications/deliveries?experiment=${one.experimentId}`);
    assert.deepEqual(filtered.body.items, []);
    const bobSettings = await as(bob).call('GET', '/api/v1/notifications/settings');
    assert.equal(bobSettings.body.email, null);

    // Pages: newest first, the cursor continues without overlap.
    const first = await as(alice).call('GET', '/api/v1/notifications/deliveries?limit=2');
    assert.equal(first.body.items.length, 2);
    const second = await as(alice).call(
      'GET',
      `/api/v1/notifications/deliveries?limit=200&cursor=${first.body.nextCursor}`,
    );
    assert.deepEqual(
      [...first.body.items, ...second.body.items].map((item: any) => item.id),
      theirs.body.items.map((item: any) => item.id),
    );
    const badCursor = await as(alice).call('GET', '/api/v1/notifications/deliveries?cursor=nonsense');
    assert.equal(badCursor.status, 400);
  });

  it('does the same from the CLI: drover notify set, show, experiment, log and submit --notify', async () => {
    const workDir = await mkdtemp(join(tmpdir(), 'drover-notify-cli-'));
    const cli = (...args: string[]) => runCli(args, { url: drover.url, workDir, token: bob.token });
    try {
      const set = await cli('notify', 'set', '--events', 'completed', '--webhook', `${receiver.url}/bob`);
      assert.equal(set.code, 0, set.stderr);
      assert.match(set.stdout, /events: +completed/);
      const secret = /webhook secret \(shown once; store it in your receiver now\): (whsec_\S+)/.exec(set.stdout)?.[1];
      assert.ok(secret, set.stdout);
      const shown = await cli('notify');
      assert.match(shown.stdout, new RegExp(`webhook: +${receiver.url}/bob`));
      assert.ok(!shown.stdout.includes(secret), 'the secret is printed once');

      const bad = await cli('notify', 'set', '--events', 'completed,exploded');
      assert.equal(bad.code, 2, 'a usage error');
      assert.match(bad.stderr, /--events: no event "exploded"\n.*give some of started, completed, failed, canceled/s);
      const refused = await cli('notify', 'set', '--webhook', 'ftp://example.org/');
      assert.equal(refused.code, 1, 'the API refused it');
      assert.match(refused.stderr, /webhookUrl: must be an http:\/\/ or https:\/\/ URL/);

      const submitted = await cli('submit', 'pi-monte-carlo', '-i', 'samples=1000', '--notify', 'started', '--watch');
      assert.equal(submitted.code, 0, submitted.stderr);
      const id = submitted.stdout.split(/\s+/)[0];
      const log = await waitFor('the CLI log to show the delivery', async () => {
        const run = await cli('notify', 'log', '--experiment', id);
        return /started +webhook +delivered +1 +200/.test(run.stdout) ? run.stdout : null;
      });
      assert.doesNotMatch(log, /completed/, '--notify started: the end does not notify');
      const hook = receiver.received.find((candidate) => candidate.path === '/bob')!;
      assert.ok(signatureIsValid(hook, secret));

      const changed = await cli('notify', 'experiment', id, '--events', 'failed', '--no-webhook');
      assert.equal(changed.code, 0, changed.stderr);
      assert.match(changed.stdout, /notifications: failed by email/);
      const back = await cli('notify', 'experiment', id, '--defaults', '--json');
      assert.equal(JSON.parse(back.stdout).notify, null);
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  });
});
