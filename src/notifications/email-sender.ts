/**
 * The email adapter: one message per attempt through the platform's SMTP server
 * (nodemailer). Every attempt of a delivery has the same `Message-ID`, made from the
 * delivery's id (the idempotency key), so a mail client shows a resent copy as the same
 * message; `X-Drover-Event-Id` and `X-Drover-Delivery-Id` carry the ids too. The subject
 * holds the experiment's name, which a user chose: it is made one line (control characters
 * become spaces) before nodemailer encodes it, so no name can add a header.
 */
import nodemailer from 'nodemailer';
import { controlCharacterPattern } from '../domain/application.ts';
import type { NotificationMessage, NotificationSender, SendResult } from './port.ts';

const verbs: Record<NotificationMessage['event'], string> = {
  started: 'started',
  completed: 'completed',
  failed: 'failed',
  canceled: 'was canceled',
};

/** `Experiment "<name>" completed`: one line, whatever the name holds. */
export function emailSubject(message: NotificationMessage): string {
  const name = oneLine(message.experiment.name).slice(0, 150);
  return `Experiment "${name}" ${verbs[message.event]}`;
}

/** The plain-text body: what happened, when, and the link to the experiment's page. */
export function emailText(message: NotificationMessage): string {
  const { experiment } = message;
  return [
    `Your experiment "${oneLine(experiment.name)}" (${experiment.application}) ${verbs[message.event]} at ${message.occurredAt.toISOString()}.`,
    ...(experiment.failure ? ['', `Why it failed: ${oneLine(experiment.failure)}`] : []),
    '',
    `Open it: ${experiment.url}`,
    '',
    `Experiment ${experiment.id}, event ${message.eventId}.`,
    'You get this email because of your notification settings in Drover.',
    '',
  ].join('\n');
}

function oneLine(text: string): string {
  return text.replace(new RegExp(controlCharacterPattern.source, 'gu'), ' ');
}

/** The domain part of a From such as `Drover <drover@example.org>`, for Message-IDs. */
function domainOf(from: string): string {
  return /@([A-Za-z0-9.-]+)>?\s*$/.exec(from)?.[1] ?? 'drover.invalid';
}

/**
 * Sends email through `smtpUrl` (smtp:// or smtps://, user and password in the URL), from
 * `from`, each attempt within `timeoutMs` (connect, greeting, every reply).
 */
export function createEmailSender(options: { smtpUrl: string; from: string; timeoutMs: number }): NotificationSender {
  const url = new URL(options.smtpUrl);
  const transport = nodemailer.createTransport({
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : url.protocol === 'smtps:' ? 465 : 587,
    secure: url.protocol === 'smtps:',
    auth: url.username ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } : undefined,
    connectionTimeout: options.timeoutMs,
    greetingTimeout: options.timeoutMs,
    socketTimeout: options.timeoutMs,
    // No logging of its own: its debug output would show the password.
    logger: false,
  });
  const domain = domainOf(options.from);
  return {
    async send(message): Promise<SendResult> {
      try {
        const info = await transport.sendMail({
          from: options.from,
          // An object, not a string: the address is never parsed as a list.
          to: { name: '', address: message.target },
          subject: emailSubject(message),
          text: emailText(message),
          messageId: `<${message.deliveryId}@${domain}>`,
          headers: {
            'X-Drover-Event-Id': message.eventId,
            'X-Drover-Delivery-Id': message.deliveryId,
            'Auto-Submitted': 'auto-generated',
          },
        });
        return { ok: true, status: String(info.response ?? '').slice(0, 200) || null, error: null, retryable: false };
      } catch (error) {
        const err = error as Error & { responseCode?: number; response?: string; code?: string };
        if (err.responseCode !== undefined) {
          const status = String(err.response ?? err.responseCode).slice(0, 200);
          // 4xx: try again later (greylisting, a full queue); 5xx: the server refused it for good.
          return {
            ok: false,
            status,
            error: `the mail server refused it: ${status}`,
            retryable: err.responseCode < 500,
          };
        }
        return {
          ok: false,
          status: null,
          error: `the mail server could not be reached: ${err.code ?? ''} ${err.message}`.replace(/\s+/g, ' ').trim(),
          retryable: true,
        };
      }
    },
    async close() {
      transport.close();
    },
  };
}
