/**
 * The deliverer: sends the outbox's due deliveries (state/notification-outbox.ts). It runs
 * in every controller process, not only the leader: its claims take rows with `FOR UPDATE
 * SKIP LOCKED` under a claim of `sendTimeoutMs` + 5 s, so two deliverers never send one
 * delivery at once, and a delivery whose sender died is claimed again when its claim runs
 * out. Sending comes before recording, so a crash in between sends it again, with the same
 * idempotency key: at least once.
 */
import type { Logger } from 'pino';
import type { NotificationChannel, RetryPolicy } from '../domain/notification.ts';
import type { Store } from '../store/port.ts';
import { claimDeliveries, recordAttempt, type ClaimedDelivery } from '../state/notification-outbox.ts';
import type { NotificationMessage, NotificationSender, SendResult } from './port.ts';
import { decryptWebhookSecret } from './settings.ts';

export interface DelivererOptions extends RetryPolicy {
  store: Store;
  logger: Logger;
  platformKey: Buffer;
  /** The sender of each channel; a channel without one fails its deliveries (no SMTP server configured). */
  senders: Partial<Record<NotificationChannel, NotificationSender>>;
  /** Where the web UI is, for the link to an experiment's page. */
  publicUrl: string;
  /** Time between looks for due deliveries (config `notifications.pollMs`). */
  pollMs: number;
  /** The longest one send may take (config `notifications.sendTimeoutMs`). */
  sendTimeoutMs: number;
  /** Deliveries claimed and sent at once (default 16). */
  batchSize?: number;
}

export class Deliverer {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;

  /** Takes compiled options: the defaults live in config.ts alone. */
  constructor(private readonly options: DelivererOptions) {}

  start(): void {
    const loop = async () => {
      if (this.stopped) return;
      this.running = this.pass().then(
        () => {},
        (error) => this.options.logger.error({ err: error }, 'notification delivery pass failed'),
      );
      await this.running;
      if (!this.stopped) this.timer = setTimeout(loop, this.options.pollMs);
    };
    void loop();
  }

  /** Stops after the sends under way; their deliveries are recorded (or, if cut off, claimed again later). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    for (const sender of Object.values(this.options.senders)) await sender?.close();
  }

  /** Claims and sends due deliveries until none is due. Returns how many it sent (tests). */
  async pass(): Promise<number> {
    const { store, sendTimeoutMs, maxAttempts, batchSize = 16 } = this.options;
    let sent = 0;
    while (!this.stopped) {
      const claimed = await claimDeliveries(store, batchSize, sendTimeoutMs + 5000, maxAttempts);
      if (claimed.length === 0) break;
      await Promise.all(claimed.map((delivery) => this.deliver(delivery)));
      sent += claimed.length;
    }
    return sent;
  }

  private async deliver(delivery: ClaimedDelivery): Promise<void> {
    const { store, logger } = this.options;
    const result = await this.send(delivery);
    const state = await recordAttempt(store, delivery.id, delivery.attempt, result, this.options);
    const log = {
      delivery: delivery.id,
      channel: delivery.channel,
      event: delivery.eventId,
      attempt: delivery.attempt,
    };
    if (state === 'failed') logger.warn({ ...log, error: result.error }, 'notification failed for good');
    else if (state === 'pending') logger.info({ ...log, error: result.error }, 'notification attempt failed; retrying');
  }

  private async send(delivery: ClaimedDelivery): Promise<SendResult> {
    const sender = this.options.senders[delivery.channel];
    if (!sender) {
      return {
        ok: false,
        status: null,
        error: `this Drover sends no ${delivery.channel} (the platform operator has not set it up)`,
        retryable: false,
      };
    }
    let webhookSecret: Buffer | null = null;
    if (delivery.channel === 'webhook' && delivery.webhookSecret) {
      try {
        webhookSecret = decryptWebhookSecret(
          this.options.platformKey,
          delivery.webhookSecret,
          delivery.gatewayId,
          delivery.userId,
        );
      } catch {
        return {
          ok: false,
          status: null,
          error: "the webhook secret cannot be decrypted with this Drover's platform key: rotate it",
          retryable: false,
        };
      }
    }
    const message: NotificationMessage = {
      deliveryId: delivery.id,
      eventId: delivery.eventId,
      channel: delivery.channel,
      target: delivery.target,
      event: delivery.event,
      attempt: delivery.attempt,
      occurredAt: delivery.occurredAt,
      experiment: {
        ...delivery.experiment,
        url: `${this.options.publicUrl.replace(/\/+$/, '')}/experiments/${delivery.experiment.id}`,
      },
      webhookSecret,
    };
    try {
      return await sender.send(message);
    } catch (error) {
      return { ok: false, status: null, error: `sending failed: ${(error as Error).message}`, retryable: true };
    }
  }
}
