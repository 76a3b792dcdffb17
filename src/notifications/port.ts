/**
 * The sender port: one adapter per channel sends one attempt of a delivery and says how it
 * went. The deliverer (deliverer.ts) claims, calls the sender of the delivery's channel and
 * records the result; adapters: email-sender.ts (SMTP through nodemailer) and
 * webhook-sender.ts (signed HTTP POST).
 */
import type { NotificationChannel, NotificationEvent } from '../domain/notification.ts';

/** One attempt of one delivery, as a sender gets it. */
export interface NotificationMessage {
  /** The delivery's id: the idempotency key, the same on every attempt. */
  deliveryId: string;
  /** `<experiment id>:<event seq>`: the event it tells of. */
  eventId: string;
  channel: NotificationChannel;
  /** The email address or webhook URL. */
  target: string;
  event: NotificationEvent;
  /** This attempt's number, from 1. */
  attempt: number;
  occurredAt: Date;
  experiment: {
    id: string;
    name: string;
    application: string;
    /** The experiment's state the event moved it to. */
    state: string;
    /** A failed experiment's failure message. */
    failure: string | null;
    /** The experiment's page in the web UI. */
    url: string;
  };
  /** The owner's webhook signing key (webhooks only; null when the owner has none). */
  webhookSecret: Buffer | null;
}

/** How one attempt went. */
export interface SendResult {
  ok: boolean;
  /** The HTTP status, or the SMTP server's reply, when there was one. */
  status: string | null;
  /** Why it failed, in words for the delivery log (never a secret); null when it went. */
  error: string | null;
  /** Worth another attempt later (timeout, refused connection, 5xx, 429) or final (4xx, an address not allowed). */
  retryable: boolean;
}

/** Sends one attempt on one channel. Never throws: a failure is a SendResult. */
export interface NotificationSender {
  send(message: NotificationMessage): Promise<SendResult>;
  /** Releases connections. */
  close(): Promise<void>;
}
