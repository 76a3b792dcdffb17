/**
 * The senders against real servers: the email sender through the test SMTP server process
 * (test/smtp-sink.mjs), the webhook sender to a loopback receiver, under the platform's
 * address policy.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startSmtpSink, type SmtpSink } from '../../test/smtp-sink.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../../test/webhook-receiver.ts';
import { createAddressPolicy } from './address-policy.ts';
import { createEmailSender } from './email-sender.ts';
import type { NotificationMessage } from './port.ts';
import { createWebhookSender } from './webhook-sender.ts';

const message = (overrides: Partial<NotificationMessage> = {}): NotificationMessage => ({
  deliveryId: '1b4e28ba-2fa1-11d2-883f-0016d3cca427',
  eventId: '6ba7b810-9dad-11d1-80b4-00c04fd430c8:7',
  channel: 'email',
  target: 'ada@example.org',
  event: 'completed',
  attempt: 1,
  occurredAt: new Date('2026-12-01T12:00:00Z'),
  experiment: {
    id: '6ba7b810-9dad-11d1-80b4-00c04fd430c8',
    name: 'run',
    application: 'pi-monte-carlo',
    state: 'completed',
    failure: null,
    url: 'https://gateway.example.org/experiments/6ba7b810-9dad-11d1-80b4-00c04fd430c8',
  },
  webhookSecret: Buffer.from('whsec_test'),
  ...overrides,
});

describe('email sender', () => {
  let smtp: SmtpSink;
  before(async () => {
    smtp = await startSmtpSink();
  });
  after(async () => {
    await smtp?.stop();
  });

  it('keeps a name with CR/LF in the subject: it adds no header and no recipient', async () => {
    const sender = createEmailSender({ smtpUrl: smtp.url, from: 'Drover <drover@example.org>', timeoutMs: 5000 });
    const hostile = 'run\r\nBcc: eve@evil.example\r\nX-Injected: yes\r\n\r\nforged body';
    const result = await sender.send(message({ experiment: { ...message().experiment, name: hostile } }));
    await sender.close();
    assert.equal(result.ok, true, result.error ?? '');
    const [mail] = smtp.messages();
    assert.deepEqual(mail.envelope.to, ['ada@example.org'], 'one recipient, the configured one');
    assert.ok(!mail.headerLines.some((line) => /^(bcc|x-injected):/i.test(line)), mail.headerLines.join('\n'));
    assert.equal(
      mail.header('subject'),
      'Experiment "run  Bcc: eve@evil.example  X-Injected: yes    forged body" completed',
    );
    assert.equal(mail.header('message-id'), '<1b4e28ba-2fa1-11d2-883f-0016d3cca427@example.org>');
    assert.equal(mail.header('auto-submitted'), 'auto-generated');
  });

  it('says a 4xx reply is worth retrying and a 5xx is not', async () => {
    for (const [code, retryable] of [
      [451, true],
      [550, false],
    ] as const) {
      const refusing = await startSmtpSink({ refuse: code });
      const sender = createEmailSender({ smtpUrl: refusing.url, from: 'drover@example.org', timeoutMs: 5000 });
      const result = await sender.send(message());
      await sender.close();
      await refusing.stop();
      assert.equal(result.ok, false);
      assert.equal(result.retryable, retryable, `${code}: ${result.error}`);
      assert.match(result.status ?? '', new RegExp(`^${code}`));
    }
  });

  it('says an unreachable server is worth retrying', async () => {
    const sender = createEmailSender({ smtpUrl: 'smtp://127.0.0.1:9', from: 'drover@example.org', timeoutMs: 2000 });
    const result = await sender.send(message());
    assert.deepEqual({ ok: result.ok, retryable: result.retryable }, { ok: false, retryable: true });
    assert.match(result.error ?? '', /could not be reached/);
  });
});

describe('webhook sender', () => {
  let receiver: WebhookReceiver;
  before(async () => {
    receiver = await startWebhookReceiver();
  });
  after(async () => {
    await receiver?.stop();
  });
  const hook = (target: string) => message({ channel: 'webhook', target });

  it('reaches loopback only when the platform allows it, by IP or by a name that resolves to it', async () => {
    const closed = createWebhookSender({
      policy: createAddressPolicy({ allowedNetworks: [], deniedNetworks: [] }),
      timeoutMs: 2000,
    });
    const port = new URL(receiver.url).port;
    for (const target of [`${receiver.url}/x`, `http://localhost:${port}/x`, `http://[::ffff:127.0.0.1]:${port}/x`]) {
      const result = await closed.send(hook(target));
      assert.equal(result.ok, false, target);
      assert.equal(result.retryable, false, `${target}: refused for good`);
      assert.match(result.error ?? '', /not a public address/, target);
    }
    assert.equal(receiver.received.length, 0, 'nothing reached the receiver');

    const open = createWebhookSender({
      policy: createAddressPolicy({ allowedNetworks: ['127.0.0.0/8'], deniedNetworks: [] }),
      timeoutMs: 2000,
    });
    assert.equal((await open.send(hook(`${receiver.url}/x`))).ok, true);
    const denied = createWebhookSender({
      policy: createAddressPolicy({ allowedNetworks: ['127.0.0.0/8'], deniedNetworks: ['127.0.0.1/32'] }),
      timeoutMs: 2000,
    });
    assert.match((await denied.send(hook(`${receiver.url}/x`))).error ?? '', /denies/, 'a denied range wins');
  });

  it('does not follow a redirect, and gives up on a receiver that does not answer in time', async () => {
    const sender = createWebhookSender({
      policy: createAddressPolicy({ allowedNetworks: ['127.0.0.0/8'], deniedNetworks: [] }),
      timeoutMs: 500,
    });
    receiver.script('/moved', [302]);
    const moved = await sender.send(hook(`${receiver.url}/moved`));
    assert.deepEqual([moved.ok, moved.retryable, moved.status], [false, false, '302']);
    assert.match(moved.error ?? '', /redirects/);
    receiver.hold('/slow');
    const slow = await sender.send(hook(`${receiver.url}/slow`));
    receiver.release('/slow');
    assert.deepEqual([slow.ok, slow.retryable], [false, true]);
    assert.match(slow.error ?? '', /no answer within 500 ms/);
  });
});
