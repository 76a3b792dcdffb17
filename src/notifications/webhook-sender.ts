/**
 * The webhook adapter: one signed HTTP POST per attempt, to the address the platform's
 * policy allows (address-policy.ts), pinned for the connection so that no second DNS
 * answer can send it elsewhere; redirects are not followed. Headers:
 *
 * - `Idempotency-Key`: the delivery's id, the same on every attempt (a receiver keeps the
 *   keys it has handled and ignores a repeat);
 * - `Drover-Event-Id` (`<experiment id>:<seq>`), `Drover-Event`, `Drover-Attempt`;
 * - `Drover-Timestamp` (Unix seconds) and `Drover-Signature: sha256=<hex>`, the
 *   HMAC-SHA256 under the owner's webhook secret of `<timestamp>.<body>`.
 */
import { createHmac } from 'node:crypto';
import { lookup as lookupAddresses } from 'node:dns/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { AddressPolicy } from './address-policy.ts';
import type { NotificationMessage, NotificationSender, SendResult } from './port.ts';

/** What a webhook's body holds: the event and the experiment, with a link to its page. */
export interface WebhookBody {
  /** The event id, `<experiment id>:<seq>`: the same for every channel and attempt. */
  id: string;
  /** `experiment.started`, `experiment.completed`, `experiment.failed`, `experiment.canceled`. */
  type: string;
  event: string;
  occurredAt: string;
  experiment: NotificationMessage['experiment'];
}

/** The JSON body of a webhook: the same bytes on every attempt. */
export function webhookBody(message: NotificationMessage): string {
  const body: WebhookBody = {
    id: message.eventId,
    type: `experiment.${message.event}`,
    event: message.event,
    occurredAt: message.occurredAt.toISOString(),
    experiment: message.experiment,
  };
  return JSON.stringify(body);
}

/** `sha256=<hex>`: the HMAC-SHA256 under `secret` of `<timestamp>.<body>`, as the receiver computes it. */
export function webhookSignature(secret: Buffer, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** The most of a receiver's answer read (and kept for the log) per attempt. */
const maxAnswerBytes = 512;

/**
 * Sends webhooks under `policy`, each attempt within `timeoutMs` (connection, answer and all).
 */
export function createWebhookSender(options: { policy: AddressPolicy; timeoutMs: number }): NotificationSender {
  return {
    async send(message) {
      let url: URL;
      try {
        url = new URL(message.target);
      } catch {
        return final(null, 'the webhook URL is not a valid URL');
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') return final(null, 'webhooks go to http(s) URLs only');
      if (!message.webhookSecret)
        return final(null, 'no webhook secret: set one (POST /notifications/settings/webhook-secret)');
      const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
      let address: { address: string; family: number };
      try {
        address = await vettedAddress(host, options.policy);
      } catch (error) {
        const refused = error instanceof RefusedAddress;
        return refused
          ? final(null, error.message)
          : retry(null, `${host} cannot be resolved: ${(error as Error).message}`);
      }
      const body = webhookBody(message);
      const timestamp = String(Math.floor(Date.now() / 1000));
      const pinned: LookupFunction = (_hostname, lookupOptions, callback) => {
        if ((lookupOptions as { all?: boolean }).all) (callback as any)(null, [address]);
        else callback(null, address.address, address.family);
      };
      const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
      try {
        const response = await new Promise<{ status: number; answer: string }>((resolve, reject) => {
          const outgoing = request(
            url,
            {
              method: 'POST',
              lookup: pinned,
              signal: AbortSignal.timeout(options.timeoutMs),
              headers: {
                'content-type': 'application/json',
                'content-length': Buffer.byteLength(body),
                'user-agent': 'Drover-Webhook/1',
                'idempotency-key': message.deliveryId,
                'drover-event-id': message.eventId,
                'drover-event': message.event,
                'drover-attempt': String(message.attempt),
                'drover-timestamp': timestamp,
                'drover-signature': webhookSignature(message.webhookSecret!, timestamp, body),
              },
            },
            (incoming: IncomingMessage) => {
              const chunks: Buffer[] = [];
              let size = 0;
              incoming.on('data', (chunk: Buffer) => {
                if (size < maxAnswerBytes) chunks.push(chunk);
                size += chunk.length;
              });
              incoming.on('end', () =>
                resolve({
                  status: incoming.statusCode ?? 0,
                  answer: Buffer.concat(chunks).toString('utf8').slice(0, maxAnswerBytes),
                }),
              );
              incoming.on('error', reject);
            },
          );
          outgoing.on('error', reject);
          outgoing.end(body);
        });
        const status = String(response.status);
        if (response.status >= 200 && response.status < 300) return { ok: true, status, error: null, retryable: false };
        const said = response.answer.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
        const error = `the receiver answered ${status}${said ? `: ${said.slice(0, 200)}` : ''}`;
        if (response.status >= 300 && response.status < 400)
          return final(status, `${error} (webhooks do not follow redirects)`);
        const retryable = response.status >= 500 || [408, 425, 429].includes(response.status);
        return { ok: false, status, error, retryable };
      } catch (error) {
        const err = error as NodeJS.ErrnoException;
        if (err.name === 'TimeoutError' || err.name === 'AbortError') {
          return retry(null, `no answer within ${options.timeoutMs} ms`);
        }
        return retry(null, `${url.host} could not be reached: ${err.code ?? err.message}`);
      }
    },
    async close() {},
  };
}

class RefusedAddress extends Error {}

/** The address to connect to: the IP literal, or every address the name resolves to, each allowed by `policy`. */
async function vettedAddress(host: string, policy: AddressPolicy): Promise<{ address: string; family: number }> {
  const family = isIP(host);
  const addresses =
    family !== 0 ? [{ address: host, family }] : await lookupAddresses(host, { all: true, verbatim: true });
  if (addresses.length === 0) throw new Error('no address');
  for (const { address } of addresses) {
    const refusal = policy.refusal(address);
    if (refusal) throw new RefusedAddress(`${host === address ? '' : `${host} resolves to `}${refusal}`);
  }
  return addresses[0];
}

const final = (status: string | null, error: string): SendResult => ({ ok: false, status, error, retryable: false });
const retry = (status: string | null, error: string): SendResult => ({ ok: false, status, error, retryable: true });
